"""Job types: checking, creating and editing them (a new interface makes a new revision), the
interface lookup recipe definitions are checked with, and job counts per type and status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import and_, case, func, or_, select, tuple_
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Error, Job, JobType, JobTypeRevision, RecipeType
from app.services.errors import check_mapped_errors
from app.services.fields import (
    BOOLEAN,
    MAX_CPUS,
    MAX_MIB,
    STRING,
    FieldRule,
    check_type_fields,
    flush_unique,
    normalized_or_none,
)
from app.services.trigger_rules import check_linked_rule, link_trigger_rule
from app.specs.base import Problem, SpecError
from app.specs.error_interface import error_names as mapping_error_names, validate_error_mapping
from app.specs.job_interface import validate_job_interface
from app.specs.recipe_definition import JobTypeKey, validate_recipe_definition

JOB_TYPE_FIELDS: dict[str, FieldRule] = {
    "title": STRING,
    "description": STRING,
    "category": STRING,
    "author_name": STRING,
    "author_url": STRING,
    "icon_code": STRING,
    "docker_image": STRING,
    "is_long_running": BOOLEAN,
    "is_operational": BOOLEAN,
    "is_paused": BOOLEAN,
    "docker_privileged": BOOLEAN,
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


def _recipe_types_using(session: Session, job_type: JobType) -> list[RecipeType]:
    key = {"name": job_type.name, "version": job_type.version}
    return [
        rt
        for rt in session.scalars(select(RecipeType).where(RecipeType.archived.is_(None)).order_by(RecipeType.id))
        if any(isinstance(j, dict) and j.get("job_type") == key for j in (rt.definition or {}).get("jobs") or [])
    ]


def validate_job_type(session: Session, doc: Any, *, job_type: JobType | None = None) -> tuple[dict, list[Problem]]:
    """Checked values of a new job type (job_type=None) or of an edit of `job_type`.

    Documents come back normalized. An interface change is checked against the job type's trigger
    rule and against every recipe type that uses the job type.
    """
    doc, c, where, values = check_type_fields(
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
            check_mapped_errors(session, mapping_error_names(mapping), where, c)
            values["error_mapping"] = mapping
        except SpecError as exc:
            c.absorb(exc, where)

    interface_changed = False
    if job_type is not None and interface is not None:
        current = normalized_or_none(validate_job_interface, job_type.interface)
        interface_changed = interface != current
    check_linked_rule(session, doc, "interface", interface, job_type, interface_changed, where, c, values)

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
    flush_unique(session, f"job type {values['name']} {values['version']} already exists")
    session.add(JobTypeRevision(job_type_id=job_type.id, revision_num=1, interface=job_type.interface, created=now))
    if values.get("trigger_rule") is not None:
        link_trigger_rule(session, job_type, values["trigger_rule"])
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
        link_trigger_rule(session, job_type, values["trigger_rule"])
    job_type.last_modified = now
    session.flush()
    return warnings


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
