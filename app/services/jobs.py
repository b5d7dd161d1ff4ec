"""Creating, queueing, canceling and requeueing jobs. Every function works inside the caller's transaction."""

from __future__ import annotations

import math
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Job, JobExecution, JobType, JobTypeRevision, RecipeJob, TriggerEvent
from app.services.lookups import lookup_files, lookup_workspaces, lookup_workspaces_by_name  # noqa: F401
from app.services.queued_executions import first_execution, queue_executions
from app.services.recipe_graphs import blocked_or_pending
from app.specs.base import Problem, SpecError
from app.specs.job_data import input_file_ids, validate_job_data
from app.states import EXECUTION, JOB, InvalidTransition

MIB = 1024 * 1024


def current_revision(session: Session, job_type: JobType) -> JobTypeRevision:
    rev = session.scalar(
        select(JobTypeRevision).where(
            JobTypeRevision.job_type_id == job_type.id, JobTypeRevision.revision_num == job_type.revision_num
        )
    )
    if rev is None:  # a job type always has its revisions; repair rather than fail
        rev = JobTypeRevision(job_type_id=job_type.id, revision_num=job_type.revision_num, interface=job_type.interface)
        session.add(rev)
        session.flush()
    return rev


def disk_required(job_type: JobType, input_bytes: int) -> tuple[float, float]:
    """(disk_in, disk_out) in MiB: inputs rounded up; outputs = const + mult x inputs."""
    disk_in = float(math.ceil(input_bytes / MIB)) if input_bytes else 0.0
    disk_out = float(math.ceil(job_type.disk_out_mult_required * disk_in + job_type.disk_out_const_required))
    return disk_in, disk_out


def create_job(
    session: Session,
    job_type: JobType,
    data: dict | None,
    *,
    event: TriggerEvent | None = None,
    priority: int | None = None,
    validated: bool = False,
    revision: JobTypeRevision | None = None,
    flush: bool = True,
    queued: bool = False,
    input_bytes: int | None = None,
) -> tuple[Job, list]:
    """A PENDING job of `job_type` with validated data (QUEUED when `queued`: inserted so, without a
    second UPDATE). Returns (job, warnings).

    Callers creating many jobs at once (recipes, trigger rules) pass the job type's current `revision`
    and `flush=False`, so the jobs (and a queued job's first execution) are inserted together at their
    next flush; one that has the input files in hand passes their total size (`input_bytes`).
    """
    if job_type.is_system:
        raise SpecError(
            Problem(
                "SYSTEM_JOB_TYPE",
                f"job type {job_type.name} {job_type.version} is a system job type: its own process runs it",
            )
        )
    rev = revision or current_revision(session, job_type)
    warnings: list = []
    if not validated:
        data, warnings = validate_job_data(
            data or {}, rev.interface, lookup_files=lookup_files(session), lookup_workspaces=lookup_workspaces(session)
        )
    if input_bytes is None:
        file_ids = [fid for ids in input_file_ids(data).values() for fid in ids]
        input_bytes = sum(f["file_size"] for f in lookup_files(session)(file_ids).values())
    disk_in, disk_out = disk_required(job_type, input_bytes)
    now = utcnow()
    job = Job(
        job_type_id=job_type.id,
        job_type_rev_id=rev.id,
        event=event,  # flushed with the row (a new event needs no flush of its own)
        status="PENDING",
        priority=job_type.priority if priority is None else priority,
        num_exes=0,
        timeout=job_type.timeout,
        max_tries=job_type.max_tries,
        cpus_required=job_type.cpus_required,
        mem_required=job_type.mem_required,
        disk_in_required=disk_in,
        disk_out_required=disk_out,
        data=data,
        created=now,
        last_status_change=now,
        last_modified=now,
    )
    session.add(job)
    if queued:
        JOB.move(job, "QUEUED", now, ident="(new)")
        session.add(first_execution(job, now))  # inserted with the job, at the same flush
    if flush:
        session.flush()
    return job, warnings


def user_event(session: Session, user: str) -> TriggerEvent:
    """The event of jobs and recipes a user queued through the API (type USER, no rule), as the original."""
    event = TriggerEvent(type="USER", rule_id=None, description={"user": user}, occurred=utcnow())
    session.add(event)
    return event


def queue_jobs(session: Session, job_ids: Iterable[int], priority: int | None = None) -> list[int]:
    """Queue the given jobs where their state allows it; returns the ids queued."""
    ids = list(job_ids)
    if not ids:
        return []
    values: dict = {"error_id": None}
    if priority is not None:
        values["priority"] = priority
    result = JOB.compare_and_set(session, Job, [Job.id.in_(ids)], "QUEUED", returning=Job.id, **values)
    queued = [r[0] for r in result]
    queue_executions(session, queued)
    return queued


def cancel_job(session: Session, job: Job) -> None:
    """Cancel one job; a COMPLETED or CANCELED job is refused (InvalidTransition)."""
    JOB.check(job.status, "CANCELED", job.id)
    now = utcnow()
    for exe in session.scalars(
        select(JobExecution).where(JobExecution.job_id == job.id, JobExecution.status.in_(("QUEUED", "RUNNING")))
    ):
        EXECUTION.move(exe, "CANCELED", now)
        exe.kill_reason = "canceled"
    JOB.move(job, "CANCELED", now)


def cancel_jobs(session: Session, job_ids: Iterable[int]) -> list[int]:
    """Cancel every given job that may be canceled; the others are left alone."""
    canceled = []
    for job in session.scalars(select(Job).where(Job.id.in_(list(job_ids)))):
        try:
            cancel_job(session, job)
        except InvalidTransition:
            continue
        canceled.append(job.id)
    return canceled


def requeue_jobs(session: Session, job_ids: Iterable[int], priority: int | None = None) -> list[int]:
    """Requeue FAILED/CANCELED jobs. Each gets the job type's max_tries more attempts.

    A recipe job whose parents are not all COMPLETED goes back to PENDING (or BLOCKED) instead
    of QUEUED; the recipe update queues it when its parents complete.
    """
    requeued = []
    now = utcnow()
    jobs = session.scalars(
        select(Job)
        .join(JobType, JobType.id == Job.job_type_id)
        .where(Job.id.in_(list(job_ids)), Job.status.in_(("FAILED", "CANCELED")), JobType.is_system.is_(False))
    ).all()  # a system job is started again by its process, never queued
    for job in jobs:
        job.max_tries = job.num_exes + job.job_type.max_tries
        job.error_id = None
        job.ended = None
        if priority is not None:
            job.priority = priority
        waiting = blocked_or_pending(session, job)
        JOB.move(job, waiting or "QUEUED", now)
        requeued.append(job.id)
    queue_executions(session, requeued)  # those waiting on their parents get theirs when they are queued
    return requeued


def recipe_ids_for_jobs(session: Session, job_ids: Iterable[int]) -> list[int]:
    ids = list(job_ids)
    if not ids:
        return []
    return sorted(set(session.scalars(select(RecipeJob.recipe_id).where(RecipeJob.job_id.in_(ids)))))
