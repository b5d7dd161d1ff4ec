"""Reading why queued jobs wait (written by the scheduler, workers/scheduler/reasons.py).

A stored reason counts only while its job is QUEUED and it was written after the job was queued:
a job requeued since its row was written shows ``not_examined`` until the next explaining pass.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from api.common import iso
from app.models import Job, SchedulingReason
from app.scheduling.reasons import NOT_EXAMINED, not_examined_detail
from app.settings import settings


def _not_examined(job: Job) -> dict:
    detail = not_examined_detail(settings.SCHEDULER_EXPLAIN_JOBS, settings.SCHEDULER_EXPLAIN_INTERVAL)
    return {"reason": NOT_EXAMINED, "detail": detail, "since": iso(job.queued)}


def job_scheduling(session: Session, job: Job, just_queued: bool = False) -> dict | None:
    """The ``scheduling`` block of GET /jobs/<id>/: None unless the job is QUEUED."""
    if job.status != "QUEUED":
        return None
    if just_queued:
        return _not_examined(job)
    row = session.get(SchedulingReason, job.id)
    if row is None or (job.queued is not None and row.updated < job.queued):
        return _not_examined(job)
    return {"reason": row.reason, "detail": row.detail, "since": iso(row.since)}


def queued_by_reason(session: Session) -> dict[str, int]:
    """Queued jobs counted by their current reason (``not_examined`` for those without one)."""
    current = and_(SchedulingReason.job_id.is_not(None), SchedulingReason.updated >= Job.queued)
    reason = case((current, SchedulingReason.reason), else_=NOT_EXAMINED).label("reason")
    rows = session.execute(
        select(reason, func.count(Job.id))
        .select_from(Job)
        .outerjoin(SchedulingReason, SchedulingReason.job_id == Job.id)
        .where(Job.status == "QUEUED")
        .group_by(reason)
    ).all()
    return {r: n for r, n in sorted(rows)}
