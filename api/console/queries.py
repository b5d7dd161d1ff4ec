"""What the console's pages read: plain SQLAlchemy over app.models (services come in through services.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from api.console import services
from app.db import utcnow
from app.models import (
    Ingest,
    Job,
    JobExecution,
    JobType,
    JobTypeRevision,
    Node,
    Recipe,
    RecipeJob,
    RecipeType,
    RecipeTypeRevision,
    ResourcePool,
    ScaleFile,
    Strike,
)
from app.specs.job_data import input_file_ids, property_values

PAGE_SIZE = 25
RECENT = 50


@dataclass
class Page:
    rows: list
    count: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.page_size))


# ---------------------------------------------------------------- dashboard


def system_status(session: Session) -> tuple[dict | None, str | None]:
    """The /v6/status/ document, or why it is unavailable (the scheduler's report is missing or stale)."""
    snap = services.status.snapshot(session)
    if not services.status.is_fresh(snap.scheduler, snap.now):
        return None, services.status.stale_reason(snap.scheduler, snap.now)
    return services.status.status_v6(session, snap), None


def queue_depth(session: Session) -> list:
    """Queued jobs per job type and priority, highest priority (lowest number) first."""
    return session.execute(
        select(
            JobType.id,
            JobType.name,
            JobType.version,
            JobType.is_paused,
            Job.priority,
            func.count(Job.id).label("count"),
            func.min(Job.queued).label("oldest"),
        )
        .join(JobType, JobType.id == Job.job_type_id)
        .where(Job.status == "QUEUED")
        .group_by(JobType.id, JobType.name, JobType.version, JobType.is_paused, Job.priority)
        .order_by(Job.priority, JobType.name)
    ).all()


def job_counts(session: Session) -> dict[str, int]:
    """Jobs per status right now."""
    return dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())


def hourly_outcomes(session: Session, hours: int = 6) -> list[dict]:
    """Per hour of the last `hours` (oldest first): jobs that completed and failed in it."""
    now = utcnow()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    rows = session.execute(
        select(Job.status, Job.last_status_change).where(
            Job.status.in_(("COMPLETED", "FAILED")), Job.last_status_change >= start
        )
    ).all()
    buckets = [{"hour": start + timedelta(hours=i), "COMPLETED": 0, "FAILED": 0} for i in range(hours)]
    for status, when in rows:
        index = int((when - start).total_seconds() // 3600)
        if 0 <= index < hours:
            buckets[index][status] += 1
    return buckets


# ---------------------------------------------------------------- jobs


def jobs_page(
    session: Session,
    statuses: Sequence[str],
    job_type_ids: Sequence[int],
    started: datetime | None,
    ended: datetime | None,
    page: int,
) -> Page:
    """Jobs newest first, filtered by status, job type and creation time."""
    stmt = select(Job)
    if statuses:
        stmt = stmt.where(Job.status.in_(list(statuses)))
    if job_type_ids:
        stmt = stmt.where(Job.job_type_id.in_(list(job_type_ids)))
    if started is not None:
        stmt = stmt.where(Job.created >= started)
    if ended is not None:
        stmt = stmt.where(Job.created <= ended)
    count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.options(joinedload(Job.job_type), joinedload(Job.error))
        .order_by(Job.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return Page(list(rows), count, page, PAGE_SIZE)


def job_types(session: Session) -> list[JobType]:
    return list(session.scalars(select(JobType).order_by(JobType.name, JobType.version)))


def job(session: Session, job_id: int) -> Job | None:
    return session.scalar(
        select(Job)
        .options(joinedload(Job.job_type), joinedload(Job.error), joinedload(Job.event))
        .where(Job.id == job_id)
    )


def executions(session: Session, job_id: int) -> list[JobExecution]:
    return list(
        session.scalars(
            select(JobExecution)
            .options(joinedload(JobExecution.node), joinedload(JobExecution.error))
            .where(JobExecution.job_id == job_id)
            .order_by(JobExecution.exe_num, JobExecution.id)
        )
    )


def files_by_id(session: Session, ids) -> dict[int, ScaleFile]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {
        f.id: f
        for f in session.scalars(
            select(ScaleFile).options(joinedload(ScaleFile.workspace)).where(ScaleFile.id.in_(ids))
        )
    }


def job_inputs(session: Session, job: Job) -> tuple[list[tuple[str, list[ScaleFile]]], dict[str, str]]:
    """([(input name, files)], {property name: value}) of a job's data."""
    by_name = input_file_ids(job.data or {})
    files = files_by_id(session, (i for ids in by_name.values() for i in ids))
    return [(name, [files[i] for i in ids if i in files]) for name, ids in by_name.items()], property_values(
        job.data or {}
    )


def job_products(session: Session, job_id: int) -> list[ScaleFile]:
    return list(
        session.scalars(
            select(ScaleFile)
            .options(joinedload(ScaleFile.workspace))
            .where(ScaleFile.job_id == job_id, ScaleFile.file_type == "PRODUCT")
            .order_by(ScaleFile.id)
        )
    )


def recipes_of_job(session: Session, job_id: int) -> list[RecipeJob]:
    return list(
        session.scalars(
            select(RecipeJob)
            .options(joinedload(RecipeJob.recipe).joinedload(Recipe.recipe_type))
            .where(RecipeJob.job_id == job_id)
        )
    )


def read_log_tail(exe: JobExecution, name: str, limit: int = 64 * 1024) -> str:
    """The last `limit` bytes of an execution's log ("" when it does not exist yet), or why it cannot be read."""
    try:
        return services.log_text(exe, name, limit)
    except services.AgentFilesError as exc:
        return f"[the {name} of this execution cannot be read from its agent: {exc}]"


# ---------------------------------------------------------------- recipes and types


def recipes_page(session: Session, recipe_type_ids: Sequence[int], page: int) -> Page:
    stmt = select(Recipe)
    if recipe_type_ids:
        stmt = stmt.where(Recipe.recipe_type_id.in_(list(recipe_type_ids)))
    count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.options(joinedload(Recipe.recipe_type), selectinload(Recipe.recipe_jobs).joinedload(RecipeJob.job))
        .order_by(Recipe.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return Page(list(rows), count, page, PAGE_SIZE)


def recipe(session: Session, recipe_id: int) -> Recipe | None:
    return session.scalar(
        select(Recipe)
        .options(
            joinedload(Recipe.recipe_type),
            joinedload(Recipe.recipe_type_rev),
            selectinload(Recipe.recipe_jobs).joinedload(RecipeJob.job).joinedload(Job.job_type),
        )
        .where(Recipe.id == recipe_id)
    )


def recipe_types(session: Session) -> list[tuple[RecipeType, int]]:
    counts = dict(session.execute(select(Recipe.recipe_type_id, func.count()).group_by(Recipe.recipe_type_id)).all())
    return [
        (rt, counts.get(rt.id, 0))
        for rt in session.scalars(select(RecipeType).order_by(RecipeType.name, RecipeType.version))
    ]


def recipe_type_revisions(session: Session, recipe_type_id: int) -> list[RecipeTypeRevision]:
    return list(
        session.scalars(
            select(RecipeTypeRevision)
            .where(RecipeTypeRevision.recipe_type_id == recipe_type_id)
            .order_by(RecipeTypeRevision.revision_num.desc())
        )
    )


def job_type_counts(session: Session, since: datetime) -> dict[int, dict[str, int]]:
    """Per job type: jobs by status changed since `since`, plus every RUNNING and QUEUED job."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    recent = session.execute(
        select(Job.job_type_id, Job.status, func.count())
        .where(Job.last_status_change >= since)
        .group_by(Job.job_type_id, Job.status)
    ).all()
    current = session.execute(
        select(Job.job_type_id, Job.status, func.count())
        .where(Job.status.in_(("RUNNING", "QUEUED")))
        .group_by(Job.job_type_id, Job.status)
    ).all()
    for type_id, status, count in list(recent) + list(current):
        out[type_id][status] = count
    return out


def job_type_revisions(session: Session, job_type_id: int) -> list[JobTypeRevision]:
    return list(
        session.scalars(
            select(JobTypeRevision)
            .where(JobTypeRevision.job_type_id == job_type_id)
            .order_by(JobTypeRevision.revision_num.desc())
        )
    )


def recipe_types_using(session: Session, job_type: JobType) -> list[RecipeType]:
    return [
        rt
        for rt in session.scalars(select(RecipeType).order_by(RecipeType.name))
        if any(
            (j.get("job_type") or {}) == {"name": job_type.name, "version": job_type.version}
            for j in (rt.definition or {}).get("jobs", [])
        )
    ]


# ---------------------------------------------------------------- ingest


def strikes(session: Session) -> list[tuple[Strike, dict[str, int]]]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for strike_id, status, count in session.execute(
        select(Ingest.strike_id, Ingest.status, func.count()).group_by(Ingest.strike_id, Ingest.status)
    ):
        counts[strike_id][status] = count
    return [(s, counts.get(s.id, {})) for s in session.scalars(select(Strike).order_by(Strike.name))]


def recent_ingests(session: Session, strike_id: int | None = None) -> list[Ingest]:
    stmt = select(Ingest).options(joinedload(Ingest.strike), joinedload(Ingest.source_file))
    if strike_id is not None:
        stmt = stmt.where(Ingest.strike_id == strike_id)
    return list(session.scalars(stmt.order_by(Ingest.last_modified.desc(), Ingest.id.desc()).limit(RECENT)))


def recent_files(session: Session, file_type: str) -> list[ScaleFile]:
    return list(
        session.scalars(
            select(ScaleFile)
            .options(joinedload(ScaleFile.workspace))
            .where(ScaleFile.file_type == file_type)
            .order_by(ScaleFile.id.desc())
            .limit(RECENT)
        )
    )


# ---------------------------------------------------------------- nodes


def nodes(session: Session) -> list[Node]:
    return list(session.scalars(select(Node).where(Node.is_active.is_(True)).order_by(Node.hostname, Node.id)))


def running_by_node(session: Session) -> dict[int, list[JobExecution]]:
    rows = session.scalars(
        select(JobExecution)
        .options(joinedload(JobExecution.job).joinedload(Job.job_type))
        .where(JobExecution.status == "RUNNING")
        .order_by(JobExecution.started, JobExecution.id)
    )
    by_node: dict[int, list[JobExecution]] = defaultdict(list)
    for exe in rows:
        by_node[exe.node_id].append(exe)
    return by_node


def pools(session: Session) -> list[dict]:
    return services.pools_json(session, list(session.scalars(select(ResourcePool).order_by(ResourcePool.name))))


def auto_mode(session: Session) -> bool:
    return services.operations.scheduler_row(session).auto_mode


# ---------------------------------------------------------------- metrics


def metric_choices(session: Session, metric) -> list[Any]:
    return list(session.scalars(services.metrics.choices_query(metric, {})))
