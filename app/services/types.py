"""Errors, job types, recipe types and workspaces: checking, creating and editing them (with their
revisions and trigger rules), and exporting/importing their configuration.

Every function works inside the caller's transaction. Bad input raises SpecError listing every
problem (the API answers 400); nothing is written before all checks of a record passed, and an
import is only complete when the caller commits (any SpecError means: roll back).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import and_, case, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Error, Job, JobType, JobTypeRevision, RecipeType, RecipeTypeRevision, TriggerRule, Workspace
from app.services.lookups import lookup_workspaces_by_name
from app.specs.base import (
    STABLE_NAME,
    STABLE_NAME_RULE,
    Collector,
    Problem,
    SpecError,
    check_unknown_fields,
    describe,
    is_int,
    is_number,
)
from app.specs.error_interface import error_names as mapping_error_names, validate_error_mapping
from app.specs.job_interface import validate_job_interface
from app.specs.port_config import normalize_import_configuration
from app.specs.recipe_definition import JobTypeKey, validate_recipe_definition
from app.specs.trigger_config import check_trigger_against_inputs, validate_ingest_trigger, validate_parse_trigger
from app.specs.workspace_config import validate_workspace_configuration

CONFIGURATION_VERSION = "1.0"
USER_ERROR_CATEGORIES = ("ALGORITHM", "DATA")
USER_TRIGGER_TYPES = ("INGEST", "PARSE")
TRIGGER_RULE_FIELDS = ("type", "name", "is_active", "configuration")


# ---------------------------------------------------------------- field checks


@dataclass(frozen=True)
class FieldRule:
    kind: str  # "str", "bool", "int" or "number"
    minimum: float | None = None
    exclusive: bool = False  # the minimum itself is refused
    nullable: bool = True
    maximum: float | None = None  # numbers must also be finite


# Resources no node can ever offer would leave the job queued forever.
MAX_CPUS = 1024
MAX_MIB = 2**31 - 1


_STR = FieldRule("str")
_BOOL = FieldRule("bool", nullable=False)

JOB_TYPE_FIELDS: dict[str, FieldRule] = {
    "title": _STR,
    "description": _STR,
    "category": _STR,
    "author_name": _STR,
    "author_url": _STR,
    "icon_code": _STR,
    "docker_image": _STR,
    "is_long_running": _BOOL,
    "is_operational": _BOOL,
    "is_paused": _BOOL,
    "docker_privileged": _BOOL,
    "priority": FieldRule("int", 0, nullable=False),
    "timeout": FieldRule("int", 0, nullable=False),
    "max_scheduled": FieldRule("int", 1),
    "max_tries": FieldRule("int", 0, nullable=False),
    "cpus_required": FieldRule("number", 0, exclusive=True, nullable=False, maximum=MAX_CPUS),
    "mem_required": FieldRule("number", 0, exclusive=True, nullable=False, maximum=MAX_MIB),
    "disk_out_const_required": FieldRule("number", 0, nullable=False, maximum=MAX_MIB),
    "disk_out_mult_required": FieldRule("number", 0, nullable=False, maximum=MAX_MIB),
}
JOB_TYPE_DOCUMENTS = ("interface", "error_mapping", "trigger_rule")
RECIPE_TYPE_FIELDS: dict[str, FieldRule] = {"title": _STR, "description": _STR}
RECIPE_TYPE_DOCUMENTS = ("definition", "trigger_rule")
ERROR_FIELDS: dict[str, FieldRule] = {"title": _STR, "description": _STR, "category": FieldRule("str", nullable=False)}
WORKSPACE_FIELDS: dict[str, FieldRule] = {"title": _STR, "description": _STR, "base_url": _STR, "is_active": _BOOL}

# What an export writes for a job type (besides its documents); an import reads the same fields.
JOB_TYPE_EXPORT_FIELDS = (
    "name",
    "version",
    "title",
    "description",
    "category",
    "author_name",
    "author_url",
    "is_system",
    "is_long_running",
    "is_operational",
    "icon_code",
    "uses_docker",
    "docker_privileged",
    "docker_image",
    "priority",
    "timeout",
    "max_scheduled",
    "max_tries",
    "cpus_required",
    "mem_required",
    "disk_out_const_required",
    "disk_out_mult_required",
)


def _max_length(model: type, name: str) -> int | None:
    column = model.__table__.columns.get(name)
    return getattr(column.type, "length", None) if column is not None else None


def _check_fields(
    doc: Mapping[str, Any], rules: Mapping[str, FieldRule], model: type, where: str, c: Collector
) -> dict[str, Any]:
    """The given fields that pass their rule (the others are recorded as problems)."""
    values: dict[str, Any] = {}
    for name, rule in rules.items():
        if name not in doc:
            continue
        value = doc[name]
        if value is None:
            if rule.nullable:
                values[name] = None
            else:
                c.add("INVALID_TYPE", f"{where}: '{name}' must not be null")
            continue
        if rule.kind == "str":
            if not isinstance(value, str):
                c.add("INVALID_TYPE", f"{where}: '{name}' must be a string, got {describe(value)}")
                continue
            limit = _max_length(model, name)
            if limit is not None and len(value) > limit:
                c.add("INVALID_VALUE", f"{where}: '{name}' must be at most {limit} characters long")
                continue
        elif rule.kind == "bool":
            if not isinstance(value, bool):
                c.add("INVALID_TYPE", f"{where}: '{name}' must be true or false, got {describe(value)}")
                continue
        elif rule.kind == "int":
            if not is_int(value):
                c.add("INVALID_TYPE", f"{where}: '{name}' must be an integer, got {describe(value)}")
                continue
        elif rule.kind == "number":
            if not is_number(value):
                c.add("INVALID_TYPE", f"{where}: '{name}' must be a number, got {describe(value)}")
                continue
            value = float(value)
            if not math.isfinite(value):
                c.add("INVALID_VALUE", f"{where}: '{name}' must be a finite number, got {value}")
                continue
        if rule.maximum is not None and value > rule.maximum:
            c.add("INVALID_VALUE", f"{where}: '{name}' must be at most {rule.maximum:g}, got {value}")
            continue
        if rule.minimum is not None and (value <= rule.minimum if rule.exclusive else value < rule.minimum):
            bound = f"greater than {rule.minimum:g}" if rule.exclusive else f"at least {rule.minimum:g}"
            c.add("INVALID_VALUE", f"{where}: '{name}' must be {bound}, got {value}")
            continue
        values[name] = value
    return values


def _check_stable_name(
    doc: Mapping[str, Any], key: str, model: type, where: str, c: Collector, pattern: re.Pattern | None = STABLE_NAME
) -> str | None:
    value = doc.get(key)
    if value is None:
        c.add("MISSING_FIELD", f"{where}: '{key}' is required")
        return None
    if not isinstance(value, str):
        c.add("INVALID_TYPE", f"{where}: '{key}' must be a string, got {describe(value)}")
        return None
    limit = _max_length(model, key)
    if not value.strip():
        c.add("BLANK_VALUE", f"{where}: '{key}' must not be blank")
    elif limit is not None and len(value) > limit:
        c.add("INVALID_VALUE", f"{where}: '{key}' must be at most {limit} characters long")
    elif pattern is not None and not pattern.match(value):
        c.add("INVALID_NAME", f"{where}: {key} '{value}' {STABLE_NAME_RULE}")
    else:
        return value
    return None


def _require_object(doc: Any, what: str) -> dict:
    if not isinstance(doc, dict):
        raise SpecError(Problem("INVALID_DOCUMENT", f"{what} must be a JSON object, got {describe(doc)}"))
    return doc


def _flush(session: Session, duplicate_message: str) -> None:
    """Flush; a unique constraint hit by a concurrent writer becomes a problem instead of a 500."""
    try:
        session.flush()
    except IntegrityError:
        raise SpecError(Problem("DUPLICATE_NAME", duplicate_message)) from None


# ---------------------------------------------------------------- lookups


def lookup_job_type_interfaces(session: Session, overrides: Mapping[JobTypeKey, dict] | None = None):
    """The `lookup_job_types` callable of app.specs.recipe_definition: (name, version) -> interface."""

    def lookup(keys: list[JobTypeKey]) -> dict[JobTypeKey, dict]:
        keys = list(keys)
        found: dict[JobTypeKey, dict] = {}
        if keys:
            rows = session.execute(
                select(JobType.name, JobType.version, JobType.interface).where(
                    tuple_(JobType.name, JobType.version).in_(keys)
                )
            )
            found = {(r.name, r.version): r.interface for r in rows}
        for key in keys:
            if overrides and key in overrides:
                found[key] = overrides[key]
        return found

    return lookup


def job_types_of_definition(session: Session, definition: dict | None) -> list[JobType]:
    """The job types a recipe definition uses, in the definition's order."""
    keys: list[JobTypeKey] = []
    for job in (definition or {}).get("jobs") or []:
        job_type = job.get("job_type") if isinstance(job, dict) else None
        if isinstance(job_type, dict):
            key = (job_type.get("name"), job_type.get("version"))
            if key not in keys:
                keys.append(key)
    if not keys:
        return []
    rows = {
        (jt.name, jt.version): jt
        for jt in session.scalars(select(JobType).where(tuple_(JobType.name, JobType.version).in_(keys)))
    }
    return [rows[k] for k in keys if k in rows]


def _recipe_types_using(session: Session, job_type: JobType) -> list[RecipeType]:
    key = {"name": job_type.name, "version": job_type.version}
    return [
        rt
        for rt in session.scalars(select(RecipeType).where(RecipeType.archived.is_(None)).order_by(RecipeType.id))
        if any(isinstance(j, dict) and j.get("job_type") == key for j in (rt.definition or {}).get("jobs") or [])
    ]


def _normalized_or_none(validate, doc):
    try:
        return validate(doc)
    except SpecError:
        return None


# ---------------------------------------------------------------- trigger rules


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
    if name is not None and (not isinstance(name, str) or len(name) > _max_length(TriggerRule, "name")):
        c.add(
            "INVALID_TYPE", f"{where}: 'name' must be a string of at most {_max_length(TriggerRule, 'name')} characters"
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


def _check_linked_rule(
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


def _link_trigger_rule(session: Session, owner: JobType | RecipeType, new: dict | None) -> None:
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


# ---------------------------------------------------------------- errors


def validate_error(session: Session, doc: Any, *, error: Error | None = None) -> dict[str, Any]:
    """Checked fields of a new error (error=None) or of an edit of `error`."""
    doc = _require_object(doc, "error")
    c = Collector()
    name = error.name if error is not None else doc.get("name")
    where = f"error '{name}'" if isinstance(name, str) else "error"
    allowed = list(ERROR_FIELDS) + (["name"] if error is None else [])
    check_unknown_fields(doc, allowed, where, c)
    values = _check_fields(doc, ERROR_FIELDS, Error, where, c)
    if error is None:
        name = _check_stable_name(doc, "name", Error, where, c)
        if name is not None:
            values["name"] = name
            if session.scalar(select(Error.id).where(Error.name == name)) is not None:
                c.add("DUPLICATE_NAME", f"{where}: an error named '{name}' already exists")
        if doc.get("category") is None:
            c.add("MISSING_FIELD", f"{where}: 'category' is required (one of {', '.join(USER_ERROR_CATEGORIES)})")
    elif error.category == "SYSTEM":
        c.add("SYSTEM_ERROR", f"{where} is a SYSTEM error and cannot be edited")
    category = values.get("category")
    if category == "SYSTEM":
        c.add("INVALID_CATEGORY", f"{where}: category cannot be set to SYSTEM (SYSTEM errors are built in)")
    elif category is not None and category not in USER_ERROR_CATEGORIES:
        c.add("INVALID_CATEGORY", f"{where}: category {category!r} is not one of {', '.join(USER_ERROR_CATEGORIES)}")
    c.raise_if_any()
    return values


def create_error(session: Session, doc: Any) -> Error:
    values = validate_error(session, doc)
    now = utcnow()
    error = Error(is_builtin=False, created=now, last_modified=now, **values)
    session.add(error)
    _flush(session, f"an error named '{values['name']}' already exists")
    return error


def edit_error(session: Session, error: Error, doc: Any) -> None:
    for key, value in validate_error(session, doc, error=error).items():
        setattr(error, key, value)
    session.flush()


# ---------------------------------------------------------------- job types


def _check_mapped_errors(
    session: Session, wanted: set[str], where: str, c: Collector, also_known: Iterable[str] = ()
) -> None:
    """Every error an error mapping names must exist (or be in `also_known`)."""
    wanted = set(wanted) - set(also_known)
    known = set(session.scalars(select(Error.name).where(Error.name.in_(sorted(wanted))))) if wanted else set()
    for missing in sorted(wanted - known):
        c.add("UNKNOWN_ERROR", f"{where}: error mapping refers to error '{missing}', which does not exist")


def _check_type_fields(
    session: Session, doc: Any, model, kind: str, fields, documents, document: str, existing
) -> tuple[dict, Collector, str, dict]:
    """The checks a job type and a recipe type share: a JSON object, no unknown fields, valid simple fields,
    and for a new type its name, version and `document`. Returns (doc, collector, how to name it, values)."""
    doc = _require_object(doc, kind)
    c = Collector()
    where = kind if existing is None else f"{kind} {existing.name} {existing.version}"
    allowed = list(fields) + list(documents) + (["name", "version"] if existing is None else [])
    check_unknown_fields(doc, allowed, where, c)
    values = _check_fields(doc, fields, model, where, c)
    if existing is None:
        where = _check_new_name_version(session, doc, model, kind, document, values, c)
    return doc, c, where, values


def _check_new_name_version(
    session: Session, doc: dict, model, kind: str, document: str, values: dict, c: Collector
) -> str:
    """Name, version (unique together) and the required document of a new job or recipe type.

    Adds name and version to `values`; returns how later problems should name the type.
    """
    where = kind
    name = _check_stable_name(doc, "name", model, where, c)
    version = _check_stable_name(doc, "version", model, where, c)
    if name is not None and version is not None:
        values.update(name=name, version=version)
        where = f"{kind} {name} {version}"
        if session.scalar(select(model.id).where(model.name == name, model.version == version)) is not None:
            c.add("DUPLICATE_NAME", f"{where} already exists")
    if doc.get(document) is None:
        c.add("MISSING_FIELD", f"{where}: '{document}' is required")
    return where


def validate_job_type(session: Session, doc: Any, *, job_type: JobType | None = None) -> tuple[dict, list[Problem]]:
    """Checked values of a new job type (job_type=None) or of an edit of `job_type`.

    Documents come back normalized. An interface change is checked against the job type's trigger
    rule and against every recipe type that uses the job type.
    """
    doc, c, where, values = _check_type_fields(
        session, doc, JobType, "job type", JOB_TYPE_FIELDS, JOB_TYPE_DOCUMENTS, "interface", job_type
    )
    if job_type is not None and job_type.is_system and any(k in doc for k in JOB_TYPE_DOCUMENTS):
        c.add(
            "SYSTEM_JOB_TYPE",
            f"{where} is a system job type: its interface, error mapping and trigger rule cannot be changed",
        )

    interface = None
    if doc.get("interface") is not None:
        try:
            interface = validate_job_interface(doc["interface"])
            values["interface"] = interface
        except SpecError as exc:
            c.absorb(exc, where)
    elif "interface" in doc and job_type is not None:
        c.add("INVALID_TYPE", f"{where}: 'interface' must not be null")

    if "error_mapping" in doc:
        try:
            mapping = validate_error_mapping(doc["error_mapping"])
            _check_mapped_errors(session, mapping_error_names(mapping), where, c)
            values["error_mapping"] = mapping
        except SpecError as exc:
            c.absorb(exc, where)

    interface_changed = False
    if job_type is not None and interface is not None:
        current = _normalized_or_none(validate_job_interface, job_type.interface)
        interface_changed = interface != current
    _check_linked_rule(session, doc, "interface", interface, job_type, interface_changed, where, c, values)

    if interface_changed:
        override = {(job_type.name, job_type.version): interface}
        for rt in _recipe_types_using(session, job_type):
            try:
                validate_recipe_definition(
                    rt.definition, lookup_job_types=lookup_job_type_interfaces(session, override)
                )
            except SpecError as exc:
                c.absorb(exc, f"{where}: the new interface breaks recipe type {rt.name} {rt.version}")
    c.raise_if_any()
    values["_interface_changed"] = interface_changed
    return values, c.warnings


def _apply_job_type_fields(job_type: JobType, values: dict, now: datetime) -> None:
    for key, value in values.items():
        if key in JOB_TYPE_FIELDS or key in ("interface", "error_mapping", "name", "version"):
            setattr(job_type, key, value)
    if "docker_image" in values:
        job_type.uses_docker = values["docker_image"] is not None
    if "is_paused" in values:
        if values["is_paused"] and job_type.paused is None:
            job_type.paused = now
        elif not values["is_paused"]:
            job_type.paused = None


def create_job_type(session: Session, doc: Any) -> tuple[JobType, list[Problem]]:
    """A new job type with revision 1 (and its trigger rule); returns (job type, warnings)."""
    values, warnings = validate_job_type(session, doc)
    now = utcnow()
    job_type = JobType(
        revision_num=1,
        is_system=False,
        is_active=True,
        uses_docker=False,
        error_mapping={"version": "1.0", "exit_codes": {}},
        created=now,
        last_modified=now,
    )
    _apply_job_type_fields(job_type, values, now)
    session.add(job_type)
    _flush(session, f"job type {values['name']} {values['version']} already exists")
    session.add(JobTypeRevision(job_type_id=job_type.id, revision_num=1, interface=job_type.interface, created=now))
    if values.get("trigger_rule") is not None:
        _link_trigger_rule(session, job_type, values["trigger_rule"])
    session.flush()
    return job_type, warnings


def edit_job_type(session: Session, job_type: JobType, doc: Any) -> list[Problem]:
    """Edit a job type. A new interface makes a new revision (jobs keep the revision they were created
    with); is_paused sets or clears `paused`; a changed trigger rule archives the old one."""
    values, warnings = validate_job_type(session, doc, job_type=job_type)
    now = utcnow()
    _apply_job_type_fields(job_type, values, now)
    if values["_interface_changed"]:
        job_type.revision_num = (job_type.revision_num or 1) + 1
        session.add(
            JobTypeRevision(
                job_type_id=job_type.id, revision_num=job_type.revision_num, interface=values["interface"], created=now
            )
        )
    if "trigger_rule" in values:
        _link_trigger_rule(session, job_type, values["trigger_rule"])
    job_type.last_modified = now
    session.flush()
    return warnings


# ---------------------------------------------------------------- recipe types


def recipe_definition_from_body(doc: dict) -> dict:
    """The documentation's validation example puts input_data/jobs at the top level instead of under
    `definition`; accept that form too."""
    if "definition" not in doc and "jobs" in doc:
        doc = dict(doc)
        doc["definition"] = {k: doc.pop(k) for k in ("input_data", "jobs") if k in doc}
    return doc


def validate_recipe_type(
    session: Session, doc: Any, *, recipe_type: RecipeType | None = None
) -> tuple[dict, list[Problem]]:
    """Checked values of a new recipe type (recipe_type=None) or of an edit of `recipe_type`."""
    doc, c, where, values = _check_type_fields(
        session, doc, RecipeType, "recipe type", RECIPE_TYPE_FIELDS, RECIPE_TYPE_DOCUMENTS, "definition", recipe_type
    )

    definition = None
    if doc.get("definition") is not None:
        try:
            definition, warnings = validate_recipe_definition(
                doc["definition"], lookup_job_types=lookup_job_type_interfaces(session)
            )
            c.absorb_warnings(warnings, where)
            values["definition"] = definition
        except SpecError as exc:
            c.absorb(exc, where)
    elif "definition" in doc and recipe_type is not None:
        c.add("INVALID_TYPE", f"{where}: 'definition' must not be null")

    definition_changed = False
    if recipe_type is not None and definition is not None:
        current = _normalized_or_none(
            lambda d: validate_recipe_definition(d, lookup_job_types=lookup_job_type_interfaces(session))[0],
            recipe_type.definition,
        )
        definition_changed = definition != current
    _check_linked_rule(session, doc, "definition", definition, recipe_type, definition_changed, where, c, values)
    c.raise_if_any()
    values["_definition_changed"] = definition_changed
    return values, c.warnings


def _apply_recipe_type_fields(recipe_type: RecipeType, values: dict) -> None:
    for key, value in values.items():
        if key in RECIPE_TYPE_FIELDS or key in ("definition", "name", "version"):
            setattr(recipe_type, key, value)


def create_recipe_type(session: Session, doc: Any) -> tuple[RecipeType, list[Problem]]:
    """A new recipe type with revision 1 (and its trigger rule); returns (recipe type, warnings)."""
    values, warnings = validate_recipe_type(session, recipe_definition_from_body(_require_object(doc, "recipe type")))
    now = utcnow()
    recipe_type = RecipeType(revision_num=1, is_active=True, created=now, last_modified=now)
    _apply_recipe_type_fields(recipe_type, values)
    session.add(recipe_type)
    _flush(session, f"recipe type {values['name']} {values['version']} already exists")
    session.add(
        RecipeTypeRevision(
            recipe_type_id=recipe_type.id, revision_num=1, definition=recipe_type.definition, created=now
        )
    )
    if values.get("trigger_rule") is not None:
        _link_trigger_rule(session, recipe_type, values["trigger_rule"])
    session.flush()
    return recipe_type, warnings


def edit_recipe_type(session: Session, recipe_type: RecipeType, doc: Any) -> list[Problem]:
    """Edit a recipe type; a changed definition makes a new revision (recipes keep theirs)."""
    values, warnings = validate_recipe_type(session, doc, recipe_type=recipe_type)
    now = utcnow()
    _apply_recipe_type_fields(recipe_type, values)
    if values["_definition_changed"]:
        recipe_type.revision_num = (recipe_type.revision_num or 1) + 1
        session.add(
            RecipeTypeRevision(
                recipe_type_id=recipe_type.id,
                revision_num=recipe_type.revision_num,
                definition=values["definition"],
                created=now,
            )
        )
    if "trigger_rule" in values:
        _link_trigger_rule(session, recipe_type, values["trigger_rule"])
    recipe_type.last_modified = now
    session.flush()
    return warnings


# ---------------------------------------------------------------- workspaces


def validate_workspace(session: Session, doc: Any, *, workspace: Workspace | None = None) -> dict[str, Any]:
    """Checked values of a new workspace (workspace=None) or of an edit of `workspace`."""
    doc = _require_object(doc, "workspace")
    c = Collector()
    creating = workspace is None
    where = "workspace" if creating else f"workspace '{workspace.name}'"
    check_unknown_fields(doc, list(WORKSPACE_FIELDS) + ["json_config"] + (["name"] if creating else []), where, c)
    values = _check_fields(doc, WORKSPACE_FIELDS, Workspace, where, c)
    if creating:
        name = _check_stable_name(doc, "name", Workspace, where, c)
        if name is not None:
            values["name"] = name
            where = f"workspace '{name}'"
            if session.scalar(select(Workspace.id).where(Workspace.name == name)) is not None:
                c.add("DUPLICATE_NAME", f"{where} already exists")
        if doc.get("json_config") is None:
            c.add("MISSING_FIELD", f"{where}: 'json_config' is required")
    if doc.get("json_config") is not None or "json_config" in doc and not creating:
        try:
            values["json_config"] = validate_workspace_configuration(doc["json_config"])
        except SpecError as exc:
            c.absorb(exc, where)
    c.raise_if_any()
    return values


def refresh_workspace_sizes(workspace: Workspace) -> None:
    """used_size/total_size from the broker; unknown (unchanged) when the storage cannot be read."""
    from app.services.workspaces import broker_for

    try:
        workspace.used_size, workspace.total_size = broker_for(workspace.json_config).sizes()
    except (OSError, ValueError, KeyError):
        pass


def _apply_workspace_fields(workspace: Workspace, values: dict, now: datetime) -> None:
    for key, value in values.items():
        setattr(workspace, key, value)
    if "is_active" in values:
        if not values["is_active"] and workspace.archived is None:
            workspace.archived = now
        elif values["is_active"]:
            workspace.archived = None


def create_workspace(session: Session, doc: Any) -> Workspace:
    values = validate_workspace(session, doc)
    now = utcnow()
    workspace = Workspace(is_active=True, created=now, last_modified=now)
    _apply_workspace_fields(workspace, values, now)
    refresh_workspace_sizes(workspace)
    session.add(workspace)
    _flush(session, f"workspace '{values['name']}' already exists")
    return workspace


def edit_workspace(session: Session, workspace: Workspace, doc: Any) -> None:
    values = validate_workspace(session, doc, workspace=workspace)
    now = utcnow()
    _apply_workspace_fields(workspace, values, now)
    if "json_config" in values:
        refresh_workspace_sizes(workspace)
    workspace.last_modified = now
    session.flush()


# ---------------------------------------------------------------- job counts


def job_counts_by_status(
    session: Session,
    job_type_ids: Sequence[int],
    started: datetime | None,
    ended: datetime | None = None,
    include_running: bool = False,
) -> dict[int, list[dict]]:
    """Per job type: jobs grouped by status (FAILED split by error category) whose last status change
    falls in [started, ended]; RUNNING jobs count regardless of time when `include_running`.

    Each count is `{"status", "count", "most_recent", "category"}` (most_recent is a datetime).
    """
    ids = list(job_type_ids)
    if not ids:
        return {}
    category = case((Job.status == "FAILED", Error.category), else_=None)
    stmt = (
        select(
            Job.job_type_id,
            Job.status,
            category.label("category"),
            func.count().label("count"),
            func.max(Job.last_status_change).label("most_recent"),
        )
        .outerjoin(Error, Job.error_id == Error.id)
        .where(Job.job_type_id.in_(ids))
        .group_by(Job.job_type_id, Job.status, category)
        .order_by(Job.job_type_id, Job.status, category)
    )
    in_range = [Job.last_status_change >= started] if started is not None else []
    in_range += [Job.last_status_change <= ended] if ended is not None else []
    if in_range:
        stmt = stmt.where(or_(and_(*in_range), Job.status == "RUNNING") if include_running else and_(*in_range))
    result: dict[int, list[dict]] = {i: [] for i in ids}
    for row in session.execute(stmt):
        result[row.job_type_id].append(
            {"status": row.status, "count": row.count, "most_recent": row.most_recent, "category": row.category}
        )
    return result


# ---------------------------------------------------------------- import / export


EXPORT_INCLUDES = ("recipe_types", "job_types", "errors")


def _job_type_document(jt: JobType) -> dict:
    out = {name: getattr(jt, name) for name in JOB_TYPE_EXPORT_FIELDS}
    out["interface"] = jt.interface
    out["error_mapping"] = jt.error_mapping or {"version": "1.0", "exit_codes": {}}
    out["trigger_rule"] = trigger_rule_document(jt.trigger_rule)
    return out


def _recipe_type_document(rt: RecipeType) -> dict:
    return {
        "name": rt.name,
        "version": rt.version,
        "title": rt.title,
        "description": rt.description,
        "definition": rt.definition,
        "trigger_rule": trigger_rule_document(rt.trigger_rule),
    }


def _error_document(e: Error) -> dict:
    return {"name": e.name, "title": e.title, "description": e.description, "category": e.category}


def _filter(stmt, column, values: Sequence) -> Any:
    return stmt.where(column.in_(list(values))) if values else stmt


def export_configuration(
    session: Session,
    *,
    include: Sequence[str] = (),
    recipe_type_ids: Sequence[int] = (),
    recipe_type_names: Sequence[str] = (),
    job_type_ids: Sequence[int] = (),
    job_type_names: Sequence[str] = (),
    job_type_categories: Sequence[str] = (),
    error_ids: Sequence[int] = (),
    error_names: Sequence[str] = (),
) -> dict:
    """The import/export document: user errors (not builtin), non-system job types, recipe types."""
    include = set(include or EXPORT_INCLUDES)
    doc: dict[str, Any] = {"version": CONFIGURATION_VERSION}
    if "recipe_types" in include:
        stmt = select(RecipeType).where(RecipeType.archived.is_(None))
        stmt = _filter(_filter(stmt, RecipeType.id, recipe_type_ids), RecipeType.name, recipe_type_names)
        doc["recipe_types"] = [
            _recipe_type_document(rt) for rt in session.scalars(stmt.order_by(RecipeType.name, RecipeType.version))
        ]
    if "job_types" in include:
        stmt = select(JobType).where(JobType.is_system.is_(False), JobType.archived.is_(None))
        stmt = _filter(
            _filter(_filter(stmt, JobType.id, job_type_ids), JobType.name, job_type_names),
            JobType.category,
            job_type_categories,
        )
        doc["job_types"] = [
            _job_type_document(jt) for jt in session.scalars(stmt.order_by(JobType.name, JobType.version))
        ]
    if "errors" in include:
        stmt = select(Error).where(Error.is_builtin.is_(False))
        stmt = _filter(_filter(stmt, Error.id, error_ids), Error.name, error_names)
        doc["errors"] = [_error_document(e) for e in session.scalars(stmt.order_by(Error.name))]
    return doc


def _pick(item: Mapping[str, Any], keys: Iterable[str]) -> dict:
    """Exported documents carry read-only fields (ids, timestamps); an import takes what it can set."""
    picked = {k: item[k] for k in keys if k in item}
    if isinstance(picked.get("trigger_rule"), dict):
        picked["trigger_rule"] = {k: v for k, v in picked["trigger_rule"].items() if k in TRIGGER_RULE_FIELDS}
    return picked


def _items(doc: Any, key: str) -> list[dict]:
    items = doc.get(key) if isinstance(doc, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _check_import_error_names(session: Session, doc: Any, c: Collector) -> None:
    """Error names that the job types of a (possibly malformed) import document map to but that neither
    the document nor the installation defines."""
    defined = {e.get("name") for e in _items(doc, "errors")}
    for item in _items(doc, "job_types"):
        mapping = item.get("error_mapping")
        exit_codes = mapping.get("exit_codes") if isinstance(mapping, dict) else None
        if isinstance(exit_codes, dict):
            wanted = {v for v in exit_codes.values() if isinstance(v, str)}
            where = f"import configuration: job type {item.get('name')} {item.get('version')}"
            _check_mapped_errors(session, wanted, where, c, also_known=defined)


def _import_type(session: Session, model, fields: dict, create, edit, c: Collector) -> None:
    """Create the job or recipe type an import names, or edit the one of that name and version."""
    existing = session.scalar(select(model).where(model.name == fields["name"], model.version == fields["version"]))
    try:
        if existing is None:
            c.absorb_warnings(create(session, fields)[1], "import configuration")
        else:
            del fields["name"], fields["version"]
            c.absorb_warnings(edit(session, existing, fields), "import configuration")
    except SpecError as exc:
        c.absorb(exc, "import configuration")


def import_configuration(session: Session, doc: Any) -> list[Problem]:
    """Create or edit the errors (by name), job types and recipe types (by name and version) of an
    import document, in that order. Returns warnings; raises SpecError listing every problem, after
    which the caller must roll back (nothing of a failed import may stay)."""
    try:
        normalize_import_configuration(
            doc,
            lookup_job_types=lookup_job_type_interfaces(session),
            lookup_workspaces_by_name=lookup_workspaces_by_name(session),
        )
    except SpecError as exc:
        # The document check cannot know the installation's errors: add those problems too, so one
        # answer lists everything.
        c = Collector()
        c.absorb(exc)
        _check_import_error_names(session, doc, c)
        c.raise_if_any()
    c = Collector()
    for item in doc.get("errors") or []:
        fields = _pick(item, ("name",) + tuple(ERROR_FIELDS))
        existing = session.scalar(select(Error).where(Error.name == fields["name"]))
        try:
            if existing is None:
                create_error(session, fields)
            else:
                fields.pop("name")
                edit_error(session, existing, fields)
        except SpecError as exc:
            c.absorb(exc, "import configuration")

    for item in doc.get("job_types") or []:
        fields = _pick(item, JOB_TYPE_EXPORT_FIELDS + JOB_TYPE_DOCUMENTS)
        where = f"import configuration: job type {fields['name']} {fields['version']}"
        fields.pop("uses_docker", None)  # follows docker_image
        if fields.pop("is_system", False):
            c.add("SYSTEM_JOB_TYPE", f"{where}: system job types cannot be imported")
            continue
        _import_type(session, JobType, fields, create_job_type, edit_job_type, c)

    for item in doc.get("recipe_types") or []:
        fields = _pick(item, ("name", "version") + tuple(RECIPE_TYPE_FIELDS) + RECIPE_TYPE_DOCUMENTS)
        _import_type(session, RecipeType, fields, create_recipe_type, edit_recipe_type, c)
    c.raise_if_any()
    return c.warnings
