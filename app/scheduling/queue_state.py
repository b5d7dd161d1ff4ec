"""The scheduler's in-memory queue: job_id -> QueuedJob plus its groups, kept in order incrementally.

Sorting a large queue costs more than a whole matching pass, so the scheduler keeps the
queue here and asks for ``grouped(queue_mode)`` before each pass: the jobs of each group
(job type and cpus/mem shape, see ``app.scheduling.queue``) in queue order.  A mode's groups
are built (sorted) the first time they are asked for, then kept up to date from the changes
(``add``/``remove``) made since the previous call: only the groups that changed are
spliced, each changed job located by binary search over the group's sort keys.  When
nothing changed, ``grouped`` returns the very same object as last time.

Pure: no database, Mesos or Celery.  Jobs are treated as immutable values: to change a
queued job (e.g. a new priority), ``add`` a new ``QueuedJob`` with the same ``job_id``;
never mutate one already added.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Callable, Iterable, Sequence

from app.scheduling.queue import (
    GroupedQueue,
    GroupKey,
    QueueGroup,
    QueuedJob,
    group_key,
    group_queue,
    make_group,
    queue_sort_key,
)

__all__ = ["QueueState"]


class _Group:
    """One group's jobs in one mode's order, their sort keys, and the changes not applied yet.

    ``jobs`` and ``keys`` are replaced, never changed in place, so a :class:`QueueGroup` made
    from them stays as it was.
    """

    __slots__ = ("gkey", "keys", "jobs", "pending", "view", "removed")

    def __init__(self, gkey: GroupKey, view: QueueGroup | None = None):
        self.gkey = gkey
        self.jobs: Sequence[QueuedJob] = view.jobs if view is not None else []
        self.keys: Sequence[tuple] = view.keys if view is not None else []
        # job_id -> the job object this group holds for that id (None: none) as of the first
        # change since the last apply()
        self.pending: dict[int, QueuedJob | None] = {}
        self.view = view
        self.removed = 0  # jobs removed since the disk bounds were last made exact

    def apply(self, key: Callable[[QueuedJob], tuple], current: dict[int, QueuedJob]) -> None:
        gone: list[int] = []  # positions
        new: list[tuple[tuple, QueuedJob]] = []
        keys, jobs = self.keys, self.jobs
        for job_id, old in self.pending.items():
            now = current.get(job_id)
            if now is not None and group_key(now) != self.gkey:
                now = None  # moved to another group
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
        gone.sort()
        new.sort(key=_first)
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
        self.keys, self.jobs = out_keys, out_jobs
        self.removed += n_gone
        old_view = self.view
        if not out_jobs:
            self.view = None
        elif old_view is None or self.removed > len(out_jobs):
            # Removals leave the old bounds true but loose; remake them exactly now and then.
            self.view = make_group(self.gkey, out_jobs, out_keys)
            self.removed = 0
        else:
            disks = [job.disk for _, job in new]
            low = min(old_view.min_disk, *disks) if disks else old_view.min_disk
            high = max(old_view.max_disk, *disks) if disks else old_view.max_disk
            self.view = QueueGroup(self.gkey[0], self.gkey[1], self.gkey[2], out_jobs, out_keys, low, high)


def _first(pair: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
    return pair[0]


class _Ordering:
    """The groups of one queue mode, the ones with changes not applied yet, and the last snapshot."""

    __slots__ = ("key", "mode", "groups", "dirty", "view")

    def __init__(self, mode: str, jobs: Iterable[QueuedJob]):
        self.mode = mode
        self.key = queue_sort_key(mode)
        self.groups: dict[GroupKey, _Group] = {}
        for view in group_queue(jobs, mode).groups:
            gkey = group_key(view.jobs[0])
            self.groups[gkey] = _Group(gkey, view)
        self.dirty: set[GroupKey] = set()
        self.view: GroupedQueue | None = None

    def note(self, job_id: int, old: QueuedJob | None, new: QueuedJob | None) -> None:
        """Record that the job with ``job_id`` changed from ``old`` to ``new`` (either may be None)."""
        for job, held in ((old, old), (new, None)):
            if job is None:
                continue
            gkey = group_key(job)
            group = self.groups.get(gkey)
            if group is None:
                group = self.groups[gkey] = _Group(gkey)
            if job_id not in group.pending:
                group.pending[job_id] = held  # a new job's group held nothing for it (else it is pending)
            self.dirty.add(gkey)

    def snapshot(self, current: dict[int, QueuedJob]) -> GroupedQueue:
        if self.dirty:
            for gkey in self.dirty:
                group = self.groups[gkey]
                group.apply(self.key, current)
                if not group.jobs:
                    del self.groups[gkey]
            self.dirty.clear()
            self.view = None
        if self.view is None:
            views = tuple(group.view for group in self.groups.values() if group.view is not None)
            self.view = GroupedQueue(self.mode, views, len(current))
        return self.view


class QueueState:
    """In-memory queue: ``add(jobs)``, ``remove(job_ids)``, ``grouped(queue_mode)``, ``len()``."""

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
        orderings = list(self._orderings.values())
        changed = 0
        for job in jobs:
            job_id = job.job_id
            old = current.get(job_id)
            if old is not None and (old is job or old == job):
                continue
            for ordering in orderings:
                ordering.note(job_id, old, job)
            current[job_id] = job
            changed += 1
        return changed

    def remove(self, job_ids: Iterable[int]) -> int:
        """Remove jobs by id (unknown ids are ignored). Returns how many were removed."""
        current = self._jobs
        orderings = list(self._orderings.values())
        removed = 0
        for job_id in job_ids:
            old = current.pop(job_id, None)
            if old is None:
                continue
            for ordering in orderings:
                ordering.note(job_id, old, None)
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

    def grouped(self, queue_mode: str) -> GroupedQueue:
        """All queued jobs, grouped, for ``match(...)``; iterating it gives them in scheduling order.

        The same object is returned until the queue changes, so a pass can tell that nothing did.
        """
        queue_sort_key(queue_mode)  # validates the mode
        ordering = self._orderings.get(queue_mode)
        if ordering is None:
            ordering = self._orderings[queue_mode] = _Ordering(queue_mode, self._jobs.values())
        return ordering.snapshot(self._jobs)
