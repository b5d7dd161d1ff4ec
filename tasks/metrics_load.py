"""Job load samples for GET /load/, taken by Celery beat every minute."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from app.db import utcnow, with_retry
from app.models import Job, JobLoad, JobType
from tasks.celery_app import app

LOAD_STATUSES = ("PENDING", "QUEUED", "RUNNING")


def record_job_load(session: Session, now: datetime | None = None) -> int:
    """Insert one JobLoad row per job type for the current minute; returns the rows written.

    Idempotent: a minute that already has samples is left alone, so a duplicated beat changes nothing.
    Every active job type gets a row (zeros included) so the time series has no gaps; archived types
    only while they still have live jobs.
    """
    measured = (now or utcnow()).replace(second=0, microsecond=0)
    if session.scalar(select(JobLoad.id).where(JobLoad.measured == measured).limit(1)) is not None:
        return 0
    counts: dict[int, dict[str, int]] = {}
    for job_type_id, status, count in session.execute(
        select(Job.job_type_id, Job.status, func.count())
        .where(Job.status.in_(LOAD_STATUSES))
        .group_by(Job.job_type_id, Job.status)
    ):
        counts.setdefault(job_type_id, {})[status] = count
    type_ids = session.scalars(
        select(JobType.id).where(or_(JobType.is_active.is_(True), JobType.id.in_(list(counts)))).order_by(JobType.id)
    ).all()
    rows = [
        {
            "job_type_id": tid,
            "measured": measured,
            "pending_count": counts.get(tid, {}).get("PENDING", 0),
            "queued_count": counts.get(tid, {}).get("QUEUED", 0),
            "running_count": counts.get(tid, {}).get("RUNNING", 0),
        }
        for tid in type_ids
    ]
    if rows:
        session.execute(insert(JobLoad), rows)
    return len(rows)


@app.task(name="tasks.metrics_load.sample_job_load")
def sample_job_load() -> dict:
    return {"samples": with_retry(record_job_load)}
