"""Rows for tests, created directly through the models (no API, no cluster).

Every factory adds its row, flushes (so ids exist) and leaves committing to the caller.
Keyword arguments override any column.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    Error,
    Job,
    JobExecution,
    JobType,
    JobTypeRevision,
    Node,
    Recipe,
    RecipeJob,
    RecipeType,
    RecipeTypeRevision,
    ScaleFile,
    SchedulingReason,
    TriggerEvent,
    TriggerRule,
    Workspace,
)

_counter = itertools.count(1)

SIMPLE_INTERFACE: dict[str, Any] = {
    "version": "1.0",
    "command": "echo",
    "command_arguments": "hello",
    "input_data": [],
    "output_data": [],
}

FILE_INTERFACE: dict[str, Any] = {
    "version": "1.0",
    "command": "process",
    "command_arguments": "${input_file} ${param} ${job_output_dir}",
    "input_data": [
        {"name": "input_file", "type": "file", "required": True, "media_types": ["text/plain"]},
        {"name": "param", "type": "property", "required": False},
    ],
    "output_data": [{"name": "output_file", "type": "file", "required": True, "media_type": "text/plain"}],
    "shared_resources": [],
}


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


def _add(session: Session, obj):
    session.add(obj)
    session.flush()
    return obj


def make_job_type(session: Session, interface: dict | None = None, **kw: Any) -> JobType:
    """A job type with its first revision (revision_num 1)."""
    values: dict[str, Any] = dict(
        name=_unique("job-type"),
        version="1.0",
        title="Test job type",
        category="test",
        interface=interface or dict(SIMPLE_INTERFACE),
    )
    values.update(kw)
    job_type = _add(session, JobType(**values))
    _add(
        session,
        JobTypeRevision(job_type_id=job_type.id, revision_num=job_type.revision_num or 1, interface=job_type.interface),
    )
    return job_type


def job_type_revision(session: Session, job_type: JobType) -> JobTypeRevision:
    return session.scalar(
        select(JobTypeRevision).where(
            JobTypeRevision.job_type_id == job_type.id, JobTypeRevision.revision_num == job_type.revision_num
        )
    )


def make_job(session: Session, job_type: JobType, status: str = "PENDING", **kw: Any) -> Job:
    """A job in `status`; the timestamps that status implies are filled in unless given."""
    now = utcnow()
    values: dict[str, Any] = dict(
        job_type_id=job_type.id,
        job_type_rev_id=job_type_revision(session, job_type).id,
        status=status,
        priority=job_type.priority or 100,
        timeout=job_type.timeout or 1800,
        max_tries=job_type.max_tries or 3,
        data={"version": "1.0", "input_data": [], "output_data": []},
        created=now,
        last_status_change=now,
        last_modified=now,
    )
    if status in ("QUEUED", "RUNNING", "FAILED", "COMPLETED"):
        values["queued"] = now
    if status in ("RUNNING", "FAILED", "COMPLETED"):
        values["started"] = now
        values["num_exes"] = 1
    if status in ("FAILED", "COMPLETED", "CANCELED"):
        values["ended"] = now
    if status == "FAILED" and "error_id" not in kw and "error" not in kw:
        values["error_id"] = error_by_name(session, "unknown").id
    values.update(kw)
    return _add(session, Job(**values))


def error_by_name(session: Session, name: str) -> Error:
    """A builtin error (seeded by the migration)."""
    return session.scalar(select(Error).where(Error.name == name))


def make_error(session: Session, **kw: Any) -> Error:
    values: dict[str, Any] = dict(name=_unique("error"), title="Test error", category="ALGORITHM")
    values.update(kw)
    return _add(session, Error(**values))


def make_scheduling_reason(session: Session, job: Job, reason: str, detail: str) -> SchedulingReason:
    """The reason the scheduler's latest pass left `job` queued, as its ReasonBook writes it."""
    now = utcnow()
    session.flush()  # the job's id
    return _add(session, SchedulingReason(job_id=job.id, reason=reason, detail=detail, since=now, updated=now))


def make_node(session: Session, **kw: Any) -> Node:
    values: dict[str, Any] = dict(hostname=_unique("host") + ".test", slave_id=_unique("agent"))
    values.update(kw)
    return _add(session, Node(**values))


def make_execution(
    session: Session, job: Job, status: str = "COMPLETED", node: Node | None = None, **kw: Any
) -> JobExecution:
    """An execution of `job` (exe_num follows the job's existing executions)."""
    now = utcnow()
    previous = (
        session.scalar(
            select(JobExecution.exe_num)
            .where(JobExecution.job_id == job.id)
            .order_by(JobExecution.exe_num.desc())
            .limit(1)
        )
        or 0
    )
    values: dict[str, Any] = dict(
        job_id=job.id,
        exe_num=previous + 1,
        status=status,
        timeout=job.timeout,
        node_id=node.id if node is not None else None,
        command_arguments="hello",
        created=now - timedelta(seconds=10),
        queued=now - timedelta(seconds=10),
        started=now - timedelta(seconds=5),
        job_started=now - timedelta(seconds=5),
    )
    if status in ("FAILED", "COMPLETED", "CANCELED"):
        values.update(ended=now, job_completed=now, job_exit_code=0 if status == "COMPLETED" else 1)
    values.update(kw)
    return _add(session, JobExecution(**values))


def make_workspace(session: Session, **kw: Any) -> Workspace:
    values: dict[str, Any] = dict(
        name=_unique("workspace"),
        title="Test workspace",
        base_url="http://files.test/ws",
        json_config={"version": "1.0", "broker": {"type": "host", "host_path": "/tmp"}},
    )
    values.update(kw)
    return _add(session, Workspace(**values))


def make_file(session: Session, workspace: Workspace, **kw: Any) -> ScaleFile:
    """A source file by default; pass file_type="PRODUCT" with job ids for a product."""
    name = kw.pop("file_name", None) or _unique("file") + ".txt"
    values: dict[str, Any] = dict(
        file_type="SOURCE",
        file_name=name,
        media_type="text/plain",
        file_size=1024,
        file_path=f"data/{name}",
        workspace_id=workspace.id,
    )
    values.update(kw)
    return _add(session, ScaleFile(**values))


def make_trigger_event(
    session: Session, type: str = "PARSE", rule: TriggerRule | None = None, **kw: Any
) -> TriggerEvent:
    values: dict[str, Any] = dict(
        type=type, rule_id=rule.id if rule is not None else None, description={"version": "1.0"}
    )
    values.update(kw)
    return _add(session, TriggerEvent(**values))


def make_trigger_rule(session: Session, type: str = "PARSE", **kw: Any) -> TriggerRule:
    values: dict[str, Any] = dict(type=type, name=_unique("rule"), configuration={"version": "1.0"})
    values.update(kw)
    return _add(session, TriggerRule(**values))


def make_recipe_type(session: Session, definition: dict | None = None, **kw: Any) -> RecipeType:
    """A recipe type with its first revision. The definition is stored as given (not validated)."""
    values: dict[str, Any] = dict(
        name=_unique("recipe-type"),
        version="1.0",
        title="Test recipe type",
        definition=definition or {"version": "1.0", "input_data": [], "jobs": []},
    )
    values.update(kw)
    recipe_type = _add(session, RecipeType(**values))
    _add(
        session,
        RecipeTypeRevision(
            recipe_type_id=recipe_type.id, revision_num=recipe_type.revision_num or 1, definition=recipe_type.definition
        ),
    )
    return recipe_type


def make_recipe(session: Session, recipe_type: RecipeType, jobs: dict[str, Job] | None = None, **kw: Any) -> Recipe:
    """A recipe with its jobs given as {job_name: job}."""
    rev = session.scalar(
        select(RecipeTypeRevision).where(
            RecipeTypeRevision.recipe_type_id == recipe_type.id,
            RecipeTypeRevision.revision_num == recipe_type.revision_num,
        )
    )
    now = utcnow()
    values: dict[str, Any] = dict(
        recipe_type_id=recipe_type.id,
        recipe_type_rev_id=rev.id,
        data={"version": "1.0", "input_data": []},
        created=now,
        last_modified=now,
    )
    values.update(kw)
    recipe = _add(session, Recipe(**values))
    for name, job in (jobs or {}).items():
        _add(session, RecipeJob(recipe_id=recipe.id, job_name=name, job_id=job.id))
    return recipe
