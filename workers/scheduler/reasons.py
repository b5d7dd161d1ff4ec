"""Why queued jobs wait: every SCHEDULER_EXPLAIN_INTERVAL the scheduler's pass explains the first
SCHEDULER_EXPLAIN_JOBS jobs it leaves queued (app/scheduling/matching.py), this book turns the reasons
into sentences (app/scheduling/reasons.py) and writes only what changed since the last write, in one
transaction: a stable queue costs no writes, and no pass writes a row per job.

Rows of jobs no longer explained (launched, canceled, or now behind the first N) are deleted; a row of a
job that left the queue some other way is hidden by the API (it checks the job is still QUEUED and the
row is newer than its queue time) and swept every CLEANUP_EVERY seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping

from sqlalchemy import delete, insert, select

from app.settings import settings
from app.db import utcnow
from app.models import Job, SchedulingReason
from app.scheduling.matching import QueuedJob
from app.scheduling.reasons import ClusterView, JobTypeView, describe

CLEANUP_EVERY = 600.0
_CHUNK = 500  # ids per DELETE ... IN (...): well under every database's parameter limit


@dataclass(frozen=True, slots=True)
class Entry:
    reason: str
    detail: str
    queued: float  # the job's queue time: a requeued job starts a new entry
    since: datetime


class ReasonBook:
    def __init__(self) -> None:
        self.current: dict[int, Entry] = {}
        self.written: dict[int, Entry] = {}
        self.next_due = 0.0
        self.next_cleanup = 0.0

    def due(self, now: float) -> bool:
        return settings.SCHEDULER_EXPLAIN_JOBS > 0 and now >= self.next_due

    def explain(
        self,
        reasons: list[tuple[int, str]],
        lookup: Callable[[int], QueuedJob | None],
        job_types: Mapping[int, JobTypeView],
        cluster: ClusterView,
        now: float,
    ) -> None:
        """Replace the current reasons with a pass's ``(job_id, reason)`` list."""
        self.next_due = now + settings.SCHEDULER_EXPLAIN_INTERVAL
        stamp = utcnow()
        fresh: dict[int, Entry] = {}
        for job_id, code in reasons:
            job = lookup(job_id)
            if job is None:
                continue
            old = self.current.get(job_id)
            since = old.since if old is not None and old.reason == code and old.queued == job.queued else stamp
            fresh[job_id] = Entry(code, describe(code, job, job_types.get(job.job_type_id), cluster), job.queued, since)
        self.current = fresh

    def pending(self) -> bool:
        return self.current != self.written

    def write(self, session, now: float) -> None:
        """Write what changed since the last write (called inside with_retry; ``commit`` follows)."""
        changed = {job_id: e for job_id, e in self.current.items() if self.written.get(job_id) != e}
        stale = [job_id for job_id in self.written if job_id not in self.current]
        ids = [*changed, *stale]
        for start in range(0, len(ids), _CHUNK):
            session.execute(delete(SchedulingReason).where(SchedulingReason.job_id.in_(ids[start : start + _CHUNK])))
        if changed:
            updated = utcnow()
            session.execute(
                insert(SchedulingReason),
                [
                    {"job_id": job_id, "reason": e.reason, "detail": e.detail, "since": e.since, "updated": updated}
                    for job_id, e in changed.items()
                ],
            )
        if now >= self.next_cleanup:
            queued = select(Job.id).where(Job.status == "QUEUED")
            session.execute(delete(SchedulingReason).where(SchedulingReason.job_id.not_in(queued)))

    def written_now(self, now: float) -> None:
        """The write committed: remember it."""
        self.written = dict(self.current)
        if now >= self.next_cleanup:
            self.next_cleanup = now + CLEANUP_EVERY
