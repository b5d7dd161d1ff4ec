"""Executions exist from queue time: every move of a job to QUEUED (queued, retried, requeued, vacated)
gives it a QUEUED execution, one row per try, which the scheduler later launches. `num_exes` counts them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import Row, insert, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Job, JobExecution


def queue_executions(session: Session, job_ids: Iterable[int]) -> dict[int, int]:
    """A QUEUED execution for each given job that is QUEUED and has none yet; job id -> execution id."""
    ids = list(job_ids)
    if not ids:
        return {}
    session.flush()  # the jobs' moves to QUEUED are in the database before it is asked
    has_one = select(JobExecution.job_id).where(JobExecution.job_id.in_(ids), JobExecution.status == "QUEUED")
    jobs = session.execute(
        select(Job.id, Job.num_exes, Job.timeout, Job.queued).where(
            Job.id.in_(ids), Job.status == "QUEUED", Job.id.not_in(has_one)
        )
    ).all()
    return add_executions(session, jobs)


def _execution_values(job: Row | Job, now: datetime) -> dict:
    """The QUEUED execution of a job's next try (its number: one past `num_exes`)."""
    return dict(
        exe_num=job.num_exes + 1,
        status="QUEUED",
        timeout=job.timeout,
        queued=job.queued or now,
        created=now,
        last_modified=now,
        environment={},
        requires_cleanup=False,
    )


def first_execution(job: Job, now: datetime) -> JobExecution:
    """The QUEUED execution of a job created QUEUED, inserted with it at the same flush."""
    exe = JobExecution(job=job, **_execution_values(job, now))
    job.num_exes += 1
    return exe


def add_executions(session: Session, jobs: Sequence[Row | Job], now: datetime | None = None) -> dict[int, int]:
    """Insert a QUEUED execution per job (`id`, `num_exes`, `timeout`, `queued`) and count it in num_exes."""
    if not jobs:
        return {}
    now = now or utcnow()
    rows = [dict(job_id=j.id, **_execution_values(j, now)) for j in jobs]
    exe_ids = session.scalars(insert(JobExecution).returning(JobExecution.id, sort_by_parameter_order=True), rows).all()
    session.execute(update(Job).where(Job.id.in_([j.id for j in jobs])).values(num_exes=Job.num_exes + 1))
    return {j.id: exe_id for j, exe_id in zip(jobs, exe_ids)}


def queued_execution_ids(session: Session, job_ids: Iterable[int]) -> dict[int, int]:
    """The QUEUED execution of each given job that has one; job id -> execution id."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(JobExecution.job_id, JobExecution.id)
        .where(JobExecution.job_id.in_(ids), JobExecution.status == "QUEUED")
        .order_by(JobExecution.id)
    )
    return {job_id: exe_id for job_id, exe_id in rows}
