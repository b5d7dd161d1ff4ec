"""Job data 1.0: the values, files and output workspaces one job runs with, checked against its interface.

Database access is passed in:
- `lookup_files(ids) -> {id: {"media_type": str | None, "file_size": int, "workspace_id": int}}` for files that exist;
- `lookup_workspaces(ids) -> {id: {"is_active": bool}}` for workspaces that exist.
Each lookup is called at most once per validation, with every id it needs.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from app.specs.base import (
    MEDIA_TYPE_WARNING,
    Collector,
    Problem,
    check_unknown_fields,
    check_version,
    describe,
    get_list,
    is_int,
    media_type_accepted,
    root_object,
)

WHAT = "job data"
FILE_TYPES = ("file", "files")

LookupFiles = Callable[[list[int]], Mapping[int, Mapping[str, Any]]]
LookupWorkspaces = Callable[[list[int]], Mapping[int, Mapping[str, Any]]]


def _file_ids_of(entry: Mapping[str, Any], input_type: str, where: str, c: Collector) -> list[int] | None:
    """The file ids an input entry passes, following the documented forms for file and files inputs."""
    has_one, has_many = "file_id" in entry, "file_ids" in entry
    kind = "a single file ('file_id')" if input_type == "file" else "one or more files ('file_ids' or 'file_id')"
    if has_one and has_many:
        c.add("INVALID_TYPE", f"{where}: give either 'file_id' or 'file_ids', not both")
        return None
    if not has_one and not has_many:
        c.add("MISSING_FILE", f"{where}: input '{entry['name']}' is a {input_type} input and needs {kind}")
        return None
    if has_one:
        file_id = entry["file_id"]
        if not is_int(file_id):
            c.add("INVALID_TYPE", f"{where}: 'file_id' must be an integer, got {describe(file_id)}")
            return None
        return [file_id]
    file_ids = entry["file_ids"]
    if not isinstance(file_ids, list) or not all(is_int(f) for f in file_ids):
        c.add("INVALID_TYPE", f"{where}: 'file_ids' must be an array of integers")
        return None
    if not file_ids:
        c.add("MISSING_FILE", f"{where}: input '{entry['name']}' needs at least one file id")
        return None
    if input_type == "file" and len(file_ids) > 1:
        c.add(
            "TOO_MANY_FILES",
            f"{where}: input '{entry['name']}' is a file input and accepts a single file, got {len(file_ids)}",
        )
        return None
    return list(file_ids)


def check_input_data(
    raw_inputs: list,
    specs: Mapping[str, Mapping[str, Any]],
    what: str,
    c: Collector,
    lookup_files: LookupFiles,
    seen_names: set[str] | None = None,
) -> list[dict]:
    """Check `input_data` entries against input specs (`{name: {"type", "required", "media_types"}}`).

    Shared by job data and recipe data. Errors go to `c.problems`; a media type the input does not
    accept is a warning (`media_type`) because the file may still be usable.
    """
    seen = seen_names if seen_names is not None else set()
    normalized: list[dict] = []
    wanted_files: list[tuple[str, int]] = []  # (input name, file id)
    for i, entry in enumerate(raw_inputs):
        where = f"{what}: input_data[{i}]"
        if not isinstance(entry, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(entry)}")
            continue
        check_unknown_fields(entry, ("name", "value", "file_id", "file_ids"), where, c)
        name = entry.get("name")
        if not isinstance(name, str):
            c.add("MISSING_FIELD" if name is None else "INVALID_TYPE", f"{where}: 'name' must be given as a string")
            continue
        if name in seen:
            c.add("DUPLICATE_NAME", f"{where}: '{name}' is given more than once")
            continue
        seen.add(name)
        spec = specs.get(name)
        if spec is None:
            known = ", ".join(specs) or "none"
            c.add("UNKNOWN_INPUT", f"{where}: '{name}' is not an input (inputs: {known})")
            continue
        input_type = spec["type"]
        if input_type == "property":
            value = entry.get("value")
            if "file_id" in entry or "file_ids" in entry or not isinstance(value, str):
                got = "file ids" if ("file_id" in entry or "file_ids" in entry) else describe(value)
                c.add(
                    "INVALID_PROPERTY_VALUE",
                    f"{where}: input '{name}' is a property and needs a string 'value', got {got}",
                )
                continue
            normalized.append({"name": name, "value": value})
            continue
        if "value" in entry:
            c.add("INVALID_TYPE", f"{where}: input '{name}' is a {input_type} input; give file ids, not a 'value'")
            continue
        file_ids = _file_ids_of(entry, input_type, where, c)
        if file_ids is None:
            continue
        if input_type == "file":
            normalized.append({"name": name, "file_id": file_ids[0]})
        else:
            normalized.append({"name": name, "file_ids": file_ids})
        wanted_files.extend((name, f) for f in file_ids)

    given = {entry["name"] for entry in raw_inputs if isinstance(entry, dict) and isinstance(entry.get("name"), str)}
    for name, spec in specs.items():
        if spec.get("required", True) and name not in given:
            c.add("MISSING_REQUIRED_INPUT", f"{what}: required input '{name}' is not given")

    if wanted_files:
        ids = sorted({f for _, f in wanted_files})
        found = lookup_files(ids)
        for name, file_id in wanted_files:
            info = found.get(file_id)
            if info is None:
                c.add("UNKNOWN_FILE", f"{what}: file {file_id} given to input '{name}' does not exist")
                continue
            media_type = info.get("media_type")
            if not media_type_accepted(media_type, specs[name].get("media_types") or []):
                c.warn(MEDIA_TYPE_WARNING, f"Invalid media type for data input: {name} -> {media_type}")
    return normalized


def check_workspaces(
    wanted: list[tuple[str, int]], what: str, c: Collector, lookup_workspaces: LookupWorkspaces
) -> None:
    """Each (label, workspace id) must name an existing, active workspace."""
    if not wanted:
        return
    found = lookup_workspaces(sorted({w for _, w in wanted}))
    for label, workspace_id in wanted:
        info = found.get(workspace_id)
        if info is None:
            c.add("UNKNOWN_WORKSPACE", f"{what}: workspace {workspace_id} for {label} does not exist")
        elif not info.get("is_active", False):
            c.add("INACTIVE_WORKSPACE", f"{what}: workspace {workspace_id} for {label} is not active")


def validate_job_data(
    data: dict | None, interface: dict, *, lookup_files: LookupFiles, lookup_workspaces: LookupWorkspaces
) -> tuple[dict, list[Problem]]:
    """Check job data against a normalized job interface; return (normalized data, warnings) or raise SpecError."""
    c = Collector()
    data = root_object(data, WHAT, c)
    c.raise_if_any()
    version = check_version(data, WHAT, c)
    check_unknown_fields(data, ("version", "input_data", "output_data"), WHAT, c)

    input_specs = {entry["name"]: entry for entry in interface.get("input_data", [])}
    output_specs = {entry["name"]: entry for entry in interface.get("output_data", [])}
    seen: set[str] = set()
    inputs = check_input_data(get_list(data, "input_data", WHAT, c) or [], input_specs, WHAT, c, lookup_files, seen)

    outputs: list[dict] = []
    wanted_workspaces: list[tuple[str, int]] = []
    given_outputs: set[str] = set()
    for i, entry in enumerate(get_list(data, "output_data", WHAT, c) or []):
        where = f"{WHAT}: output_data[{i}]"
        if not isinstance(entry, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(entry)}")
            continue
        check_unknown_fields(entry, ("name", "workspace_id"), where, c)
        name = entry.get("name")
        if not isinstance(name, str):
            c.add("MISSING_FIELD" if name is None else "INVALID_TYPE", f"{where}: 'name' must be given as a string")
            continue
        # "The name of every input and output in the job data must be unique."
        if name in seen:
            c.add("DUPLICATE_NAME", f"{where}: '{name}' is given more than once")
            continue
        seen.add(name)
        given_outputs.add(name)
        if name not in output_specs:
            known = ", ".join(output_specs) or "none"
            c.add("UNKNOWN_OUTPUT", f"{where}: '{name}' is not an output (outputs: {known})")
            continue
        workspace_id = entry.get("workspace_id")
        if workspace_id is None:
            c.add("MISSING_WORKSPACE", f"{where}: output '{name}' needs a 'workspace_id'")
            continue
        if not is_int(workspace_id):
            c.add("INVALID_TYPE", f"{where}: 'workspace_id' must be an integer, got {describe(workspace_id)}")
            continue
        outputs.append({"name": name, "workspace_id": workspace_id})
        wanted_workspaces.append((f"output '{name}'", workspace_id))

    for name, spec in output_specs.items():
        if spec.get("type") in FILE_TYPES and name not in given_outputs:
            c.add(
                "MISSING_WORKSPACE",
                f"{WHAT}: output '{name}' has no output_data entry with the workspace to store it in",
            )

    check_workspaces(wanted_workspaces, WHAT, c, lookup_workspaces)
    c.raise_if_any()
    return {"version": version, "input_data": inputs, "output_data": outputs}, c.warnings


# ---------------------------------------------------------------- helpers on normalized data


def input_file_ids(data: dict) -> dict[str, list[int]]:
    """File ids per file input name (a single `file_id` becomes a one-element list)."""
    result: dict[str, list[int]] = {}
    for entry in (data or {}).get("input_data", []):
        if "file_id" in entry:
            result[entry["name"]] = [entry["file_id"]]
        elif "file_ids" in entry:
            result[entry["name"]] = list(entry["file_ids"])
    return result


def property_values(data: dict) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in (data or {}).get("input_data", []) if "value" in entry}


def output_workspace_ids(data: dict) -> dict[str, int]:
    return {entry["name"]: entry["workspace_id"] for entry in (data or {}).get("output_data", [])}
