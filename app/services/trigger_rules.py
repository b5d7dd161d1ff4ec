"""Trigger rules linked to job types and recipe types: checking one against the inputs it feeds,
linking it (a changed rule archives the old one), and its document form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import JobType, RecipeType, TriggerRule
from app.services.fields import max_length
from app.services.lookups import lookup_workspaces_by_name
from app.specs.base import Collector, SpecError, check_unknown_fields, describe
from app.specs.trigger_config import check_trigger_against_inputs, validate_ingest_trigger, validate_parse_trigger

USER_TRIGGER_TYPES = ("INGEST", "PARSE")
TRIGGER_RULE_FIELDS = ("type", "name", "is_active", "configuration")


def _input_types(inputs: Iterable[dict]) -> dict[str, tuple[str, list[str]]]:
    return {e["name"]: (e.get("type"), e.get("media_types") or []) for e in inputs if e.get("name") is not None}


def check_trigger_rule(session: Session, raw: Any, inputs: list[dict] | None, where: str, c: Collector) -> dict | None:
    """Normalize a linked trigger rule `{type, name, is_active, configuration}` (INGEST or PARSE).

    The workspace it names must exist; with `inputs` (the target's input_data) the input it feeds must
    take files. Problems and warnings go to `c`.
    """
    where = f"{where}: trigger_rule"
    if not isinstance(raw, dict):
        c.add("INVALID_TYPE", f"{where} must be an object or null, got {describe(raw)}")
        return None
    before = len(c.problems)
    check_unknown_fields(raw, TRIGGER_RULE_FIELDS, where, c)
    rule_type = raw.get("type")
    if rule_type is None:
        c.add("MISSING_FIELD", f"{where}: 'type' is required")
    elif rule_type not in USER_TRIGGER_TYPES:
        c.add("INVALID_VALUE", f"{where}: type {rule_type!r} is not one of {', '.join(USER_TRIGGER_TYPES)}")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > max_length(TriggerRule, "name")):
        c.add(
            "INVALID_TYPE", f"{where}: 'name' must be a string of at most {max_length(TriggerRule, 'name')} characters"
        )
    is_active = raw.get("is_active", True)
    if is_active is None:
        is_active = True
    if not isinstance(is_active, bool):
        c.add("INVALID_TYPE", f"{where}: 'is_active' must be true or false, got {describe(is_active)}")
    if raw.get("configuration") is None:
        c.add("MISSING_FIELD", f"{where}: 'configuration' is required")
    if len(c.problems) > before:
        return None
    validate = validate_ingest_trigger if rule_type == "INGEST" else validate_parse_trigger
    try:
        configuration = validate(raw["configuration"], lookup_workspaces_by_name=lookup_workspaces_by_name(session))
        if inputs is not None:
            c.absorb_warnings(check_trigger_against_inputs(configuration, _input_types(inputs)), where)
    except SpecError as exc:
        c.absorb(exc, where)
        return None
    return {"type": rule_type, "name": name, "is_active": is_active, "configuration": configuration}


def check_linked_rule(
    session: Session,
    doc: dict,
    document_key: str,
    new_document: dict | None,
    owner: JobType | RecipeType | None,
    document_changed: bool,
    where: str,
    c: Collector,
    values: dict,
) -> None:
    """The trigger_rule of a job type / recipe type body (null removes it on an edit) into `values`.

    A rule feeds one of the inputs of the owner's document (interface or definition): the new one's,
    else the current one's. A kept rule must still fit a changed document.
    """
    if new_document is not None:
        target_inputs = new_document["input_data"]
    elif owner is not None and document_key not in doc:
        target_inputs = (getattr(owner, document_key) or {}).get("input_data") or []
    else:
        target_inputs = None  # the given document is invalid and its problems are reported already

    if doc.get("trigger_rule") is not None:
        rule = check_trigger_rule(session, doc["trigger_rule"], target_inputs, where, c)
        if rule is not None:
            values["trigger_rule"] = rule
    elif "trigger_rule" in doc and owner is not None:
        values["trigger_rule"] = None
    elif document_changed and owner.trigger_rule is not None:
        try:
            c.absorb_warnings(
                check_trigger_against_inputs(owner.trigger_rule.configuration, _input_types(target_inputs)),
                f"{where}: trigger_rule",
            )
        except SpecError as exc:
            c.absorb(exc, f"{where}: the current trigger rule does not fit the new {document_key}")


def _same_rule(rule: TriggerRule | None, new: dict) -> bool:
    return (
        rule is not None
        and rule.type == new["type"]
        and rule.configuration == new["configuration"]
        and rule.name == new["name"]
    )


def _archive_rule(rule: TriggerRule, now: datetime) -> None:
    rule.is_active = False
    rule.archived = now


def link_trigger_rule(session: Session, owner: JobType | RecipeType, new: dict | None) -> None:
    """Give `owner` the rule `new` (None removes it). A changed rule archives the old one so that events
    it created keep pointing at the configuration that created them; only is_active changes in place."""
    now = utcnow()
    current = owner.trigger_rule
    if new is not None and _same_rule(current, new):
        current.is_active = new["is_active"]
        return
    if current is not None:
        _archive_rule(current, now)
    if new is None:
        owner.trigger_rule = None
        return
    rule = TriggerRule(
        type=new["type"],
        name=new["name"],
        configuration=new["configuration"],
        is_active=new["is_active"],
        created=now,
        last_modified=now,
    )
    session.add(rule)
    owner.trigger_rule = rule


def trigger_rule_document(rule: TriggerRule | None) -> dict | None:
    """A linked rule as a job type / recipe type document carries it (export, import)."""
    if rule is None:
        return None
    return {"type": rule.type, "name": rule.name, "is_active": rule.is_active, "configuration": rule.configuration}
