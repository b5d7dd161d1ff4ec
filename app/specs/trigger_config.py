"""Trigger rule configurations 1.0: ingest and parse rules (same shape) and clock rules."""

from __future__ import annotations

import re
from typing import Any, Mapping

from app.specs.base import (
    MEDIA_TYPE_WARNING,
    Collector,
    Problem,
    check_unknown_fields,
    check_version,
    get_object,
    get_str,
    get_str_list,
    root_object,
)
from app.specs.strike_config import LookupWorkspacesByName, check_workspace_names

FILE_TYPES = ("file", "files")
# Hours, minutes and seconds only: the clock does not support days (nor years, months, weeks).
_DURATION = re.compile(r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$")
MIN_SCHEDULE_SECONDS = 60  # the clock ticks once a minute


def _validate_file_trigger(
    doc: dict | None, what: str, lookup_workspaces_by_name: LookupWorkspacesByName | None
) -> dict:
    c = Collector()
    doc = root_object(doc, what, c, allow_none=False)
    c.raise_if_any()
    version = check_version(doc, what, c)
    check_unknown_fields(doc, ("version", "condition", "data"), what, c)

    # No condition means the rule fires for every file.
    condition = get_object(doc, "condition", what, c) or {}
    cwhere = f"{what}: condition"
    check_unknown_fields(condition, ("media_type", "data_types"), cwhere, c)
    media_type = get_str(condition, "media_type", cwhere, c) or ""
    data_types = get_str_list(condition, "data_types", cwhere, c)

    data = get_object(doc, "data", what, c, required=True)
    dwhere = f"{what}: data"
    if data is not None:
        check_unknown_fields(data, ("input_data_name", "workspace_name"), dwhere, c)
        input_name = get_str(data, "input_data_name", dwhere, c, required=True, non_blank=True)
        workspace_name = get_str(data, "workspace_name", dwhere, c, required=True, non_blank=True)
    else:
        input_name = workspace_name = None
    if workspace_name is not None:
        check_workspace_names([(dwhere, workspace_name)], c, lookup_workspaces_by_name)

    c.raise_if_any()
    return {
        "version": version,
        "condition": {"media_type": media_type, "data_types": data_types},
        "data": {"input_data_name": input_name, "workspace_name": workspace_name},
    }


def validate_ingest_trigger(
    doc: dict | None, *, lookup_workspaces_by_name: LookupWorkspacesByName | None = None
) -> dict:
    """Normalize an ingest trigger configuration; the workspace must exist and be active when a lookup is given."""
    return _validate_file_trigger(doc, "ingest trigger configuration", lookup_workspaces_by_name)


def validate_parse_trigger(
    doc: dict | None, *, lookup_workspaces_by_name: LookupWorkspacesByName | None = None
) -> dict:
    """Normalize a parse trigger configuration (same shape and rules as an ingest trigger)."""
    return _validate_file_trigger(doc, "parse trigger configuration", lookup_workspaces_by_name)


def parse_schedule(text: str) -> int:
    """Seconds in an ISO-8601 duration of hours/minutes/seconds, e.g. "PT1H0M0S" -> 3600.

    Raises ValueError with the reason when the text is not a supported schedule.
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"'{text}' is not an ISO-8601 duration of hours, minutes and seconds such as PT1H0M0S")
    if match.group("days") is not None:
        raise ValueError(f"'{text}' has a days part, which the clock does not support; use hours (e.g. PT24H)")
    seconds = (
        int(match.group("hours") or 0) * 3600 + int(match.group("minutes") or 0) * 60 + int(match.group("seconds") or 0)
    )
    if seconds < MIN_SCHEDULE_SECONDS:
        raise ValueError(f"'{text}' is shorter than one minute, the smallest interval the clock can run")
    return seconds


def validate_clock_trigger(doc: dict | None) -> dict:
    """Normalize a clock trigger configuration: `{version, event_type, schedule, schedule_seconds}`.

    `schedule_seconds` is derived from `schedule`; a stored configuration carrying it validates again
    (it is recomputed, never trusted).
    """
    what = "clock trigger configuration"
    c = Collector()
    doc = root_object(doc, what, c, allow_none=False)
    c.raise_if_any()
    version = check_version(doc, what, c)
    check_unknown_fields(doc, ("version", "event_type", "schedule", "schedule_seconds"), what, c)
    event_type = get_str(doc, "event_type", what, c, required=True, non_blank=True)
    schedule = get_str(doc, "schedule", what, c, required=True, non_blank=True)
    seconds = None
    if schedule is not None:
        try:
            seconds = parse_schedule(schedule)
        except ValueError as exc:
            c.add("INVALID_SCHEDULE", f"{what}: schedule {exc}")
    c.raise_if_any()
    assert schedule is not None  # required: the collector raised otherwise
    return {"version": version, "event_type": event_type, "schedule": schedule.strip(), "schedule_seconds": seconds}


def check_trigger_against_inputs(config: dict, input_types: Mapping[str, tuple[str, list[str]]]) -> list[Problem]:
    """Check a normalized ingest/parse trigger against the inputs of the job type or recipe type it starts.

    `input_types` maps input name -> (type, accepted media types). The named input must exist and take
    files (SpecError otherwise); a condition media type the input does not accept is only a warning.
    """
    c = Collector()
    name = (config.get("data") or {}).get("input_data_name")
    media_type = (config.get("condition") or {}).get("media_type") or ""
    entry: tuple[str, list[str]] | Any = input_types.get(name) if name is not None else None
    if entry is None:
        known = ", ".join(input_types) or "none"
        c.add(
            "UNKNOWN_INPUT", f"trigger rule: input_data_name '{name}' is not an input of the target (inputs: {known})"
        )
    else:
        input_type, accepted = entry
        if input_type not in FILE_TYPES:
            c.add("TYPE_MISMATCH", f"trigger rule: input '{name}' is a {input_type} input and cannot receive a file")
        elif media_type and accepted and media_type not in accepted:
            c.warn(MEDIA_TYPE_WARNING, f"Invalid media type for data input: {name} -> {media_type}")
    c.raise_if_any()
    return c.warnings
