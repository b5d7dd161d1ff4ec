"""The scheduler's in-memory queue: job_id -> QueuedJob plus cached, incrementally kept orderings.

Sorting 100,000 jobs costs more than a whole matching pass, so the scheduler keeps the
queue here and asks for ``ordered(queue_mode)`` before each pass.  The ordering of a
mode is built (sorted) the first time it is asked for, then kept up to date from the
changes (``add``/``remove``) made since the previous call: each changed job is located
by binary search over the cached sort keys and the sorted list is spliced, so a pass that
launched 2,000 jobs and saw 2,000 new ones costs a few milliseconds, not a re-sort.  When
nothing changed, ``ordered`` returns the very same tuple as last time.

Pure: no database, Mesos or Celery.  Jobs are treated as immutable values: to change a
queued job (e.g. a new priority), ``add`` a new ``QueuedJob`` with the same ``job_id``;
never mutate one already added.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Callable, Iterable

from app.scheduling.matching import QueuedJob, queue_sort_key

__all__ = ["QueueState"]

# Up to this many changed jobs are applied one by one (list insert/delete); more are
# applied in one splice of the whole list.
_SPLICE_ABOVE = 16


class _Ordering:
    """The jobs of one queue mode in order, their sort keys, and the changes not applied yet."""

    __slots__ = ("key", "keys", "jobs", "pending", "view")

    def __init__(self, key: Callable[[QueuedJob], tuple], jobs: Iterable[QueuedJob]):
        self.key = key
        self.jobs: list[QueuedJob] = sorted(jobs, key=key)
        self.keys: list[tuple] = list(map(key, self.jobs))
        # job_id -> the job object this ordering holds for that id (None: none) as of the
        # first change since the last apply()
        self.pending: dict[int, QueuedJob | None] = {}
        self.view: tuple[QueuedJob, ...] | None = None

    def apply(self, current: dict[int, QueuedJob]) -> None:
        if not self.pending:
            return
        key, keys, jobs = self.key, self.keys, self.jobs
        gone: list[int] = []  # positions
        new: list[tuple[tuple, QueuedJob]] = []
        for job_id, old in self.pending.items():
            now = current.get(job_id)
            if now is old:
                continue
            if old is not None:
                pos = bisect_left(keys, key(old))
                if pos >= len(jobs) or jobs[pos] is not old:  # pragma: no cover - invariant
                    raise RuntimeError(f"queue ordering lost job {job_id}")
                gone.append(pos)
            if now is not None:
                new.append((key(now), now))
        self.pending.clear()
        if not gone and not new:
            return
        self.view = None
        gone.sort()
        new.sort(key=_first)
        if len(gone) + len(new) <= _SPLICE_ABOVE:
            for pos in reversed(gone):
                del keys[pos]
                del jobs[pos]
            for k, job in new:
                pos = bisect_left(keys, k)
                keys.insert(pos, k)
                jobs.insert(pos, job)
            return
        # Splice: copy the runs between changed positions (C-level slices), dropping the
        # gone positions and inserting the new jobs where they belong in the old list.
        out_keys: list[tuple] = []
        out_jobs: list[QueuedJob] = []
        start = 0
        g = 0
        n_gone = len(gone)
        for k, job in new:
            at = bisect_left(keys, k)
            while g < n_gone and gone[g] < at:
                out_keys += keys[start : gone[g]]
                out_jobs += jobs[start : gone[g]]
                start = gone[g] + 1
                g += 1
            if at > start:
                out_keys += keys[start:at]
                out_jobs += jobs[start:at]
                start = at
            out_keys.append(k)
            out_jobs.append(job)
        while g < n_gone:
            out_keys += keys[start : gone[g]]
            out_jobs += jobs[start : gone[g]]
            start = gone[g] + 1
            g += 1
        out_keys += keys[start:]
        out_jobs += jobs[start:]
        self.keys = out_keys
        self.jobs = out_jobs


def _first(pair: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
    return pair[0]


class QueueState:
    """In-memory queue: ``add(jobs)``, ``remove(job_ids)``, ``ordered(queue_mode)``, ``len()``."""

    __slots__ = ("_jobs", "_orderings")

    def __init__(self, jobs: Iterable[QueuedJob] = ()):
        self._jobs: dict[int, QueuedJob] = {}
        self._orderings: dict[str, _Ordering] = {}
        self.add(jobs)

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: int) -> QueuedJob | None:
        return self._jobs.get(job_id)

    def add(self, jobs: Iterable[QueuedJob]) -> int:
        """Add jobs, or replace queued jobs with the same job_id. Returns how many were new or changed."""
        current = self._jobs
        pendings = [ordering.pending for ordering in self._orderings.values()]
        changed = 0
        for job in jobs:
            job_id = job.job_id
            old = current.get(job_id)
            if old is not None and (old is job or old == job):
                continue
            for pending in pendings:
                if job_id not in pending:
                    pending[job_id] = old
            current[job_id] = job
            changed += 1
        return changed

    def remove(self, job_ids: Iterable[int]) -> int:
        """Remove jobs by id (unknown ids are ignored). Returns how many were removed."""
        current = self._jobs
        pendings = [ordering.pending for ordering in self._orderings.values()]
        removed = 0
        for job_id in job_ids:
            old = current.pop(job_id, None)
            if old is None:
                continue
            for pending in pendings:
                if job_id not in pending:
                    pending[job_id] = old
            removed += 1
        return removed

    def replace_all(self, jobs: Iterable[QueuedJob]) -> tuple[int, int]:
        """Make the queue exactly ``jobs`` (a full reload), changing only what differs.

        Returns (number added or changed, number removed).
        """
        jobs = list(jobs)
        keep = {job.job_id for job in jobs}
        removed = self.remove([job_id for job_id in self._jobs if job_id not in keep])
        return self.add(jobs), removed

    def ordered(self, queue_mode: str) -> tuple[QueuedJob, ...]:
        """All queued jobs in scheduling order for the mode (the order of ``order_queue``).

        The same tuple object is returned until the queue changes, so it can be passed to
        ``match(..., presorted=True)`` every pass at no cost.
        """
        key = queue_sort_key(queue_mode)  # validates the mode
        ordering = self._orderings.get(queue_mode)
        if ordering is None:
            ordering = self._orderings[queue_mode] = _Ordering(key, self._jobs.values())
        else:
            ordering.apply(self._jobs)
        if ordering.view is None:
            ordering.view = tuple(ordering.jobs)
        return ordering.view
