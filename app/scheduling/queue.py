"""Queued jobs as the matching pass reads them: their order, and their groups.

A queue of a million jobs has a few dozen distinct job types and resource shapes.  The pass
works on groups, one per (job type, cpus, mem), each holding its jobs in queue order: a
group whose job type is paused or at its limit, or whose shape cannot be placed any more, is
settled at once instead of job by job (see ``app.scheduling.matching``).  The order across
groups is recovered by merging them on their sort keys.

Pure: no database, Mesos or Celery.
"""

from __future__ import annotations

from dataclasses import dataclass
from heapq import merge
from itertools import islice
from operator import attrgetter, itemgetter
from typing import Callable, Iterable, Iterator, Sequence

__all__ = [
    "QUEUE_MODES",
    "GroupedQueue",
    "QueueGroup",
    "QueuedJob",
    "group_key",
    "group_queue",
    "in_order",
    "make_group",
    "order_queue",
    "queue_sort_key",
]

QUEUE_MODES = ("FIFO", "LIFO")


@dataclass(slots=True)
class QueuedJob:
    """A queued job as the scheduler sees it; ``disk`` is disk_in + disk_out."""

    job_id: int
    job_type_id: int
    priority: int
    queued: float  # epoch seconds
    cpus: float
    mem: float
    disk: float


_fifo_key = attrgetter("priority", "queued", "job_id")


def _lifo_key(job: QueuedJob) -> tuple:
    return (job.priority, -job.queued, job.job_id)


def queue_sort_key(queue_mode: str) -> Callable[[QueuedJob], tuple]:
    """The sort key of a queue mode: (priority, queued, job_id), queued negated for LIFO."""
    if queue_mode == "FIFO":
        return _fifo_key
    if queue_mode == "LIFO":
        return _lifo_key
    raise ValueError(f"queue_mode must be one of {QUEUE_MODES}, not {queue_mode!r}")


def order_queue(queue: Iterable[QueuedJob], queue_mode: str = "FIFO") -> list[QueuedJob]:
    """A new list of the jobs in scheduling order (priority, then queued FIFO/LIFO, then job_id)."""
    return sorted(queue, key=queue_sort_key(queue_mode))


GroupKey = tuple[int, float, float]  # (job_type_id, cpus, mem)


def group_key(job: QueuedJob) -> GroupKey:
    return (job.job_type_id, job.cpus, job.mem)


@dataclass(frozen=True, slots=True, eq=False)
class QueueGroup:
    """The queued jobs of one job type and (cpus, mem) shape, in queue order.

    ``keys`` holds each job's sort key.  ``min_disk`` and ``max_disk`` bound the jobs' disk (they
    may be looser than the exact smallest and largest, never tighter).  Both sequences are
    never changed once the group is made.
    """

    job_type_id: int
    cpus: float
    mem: float
    jobs: Sequence[QueuedJob]
    keys: Sequence[tuple]
    min_disk: float
    max_disk: float


def make_group(key: GroupKey, jobs: Sequence[QueuedJob], keys: Sequence[tuple]) -> QueueGroup:
    """A group of jobs already in queue order, with their exact disk bounds."""
    disks = [job.disk for job in jobs]
    return QueueGroup(key[0], key[1], key[2], jobs, keys, min(disks), max(disks))


_first = itemgetter(0)


@dataclass(frozen=True, slots=True, eq=False)
class GroupedQueue:
    """A whole queue as groups, for one queue mode; iterating it yields the jobs in queue order.

    ``duplicates``: jobs left out because their job_id came earlier in the queue.
    """

    queue_mode: str
    groups: tuple[QueueGroup, ...]
    size: int
    duplicates: int = 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[QueuedJob]:
        return in_order(self.groups)

    def head(self, count: int) -> list[QueuedJob]:
        """The first ``count`` jobs in queue order."""
        return list(islice(self, max(0, count)))


def in_order(groups: Sequence[QueueGroup], starts: Sequence[int] | None = None) -> Iterator[QueuedJob]:
    """The groups' jobs merged in queue order, each group from its position in ``starts`` (default 0)."""
    pairs = merge(
        *(
            islice(zip(group.keys, group.jobs), starts[index] if starts else 0, None)
            for index, group in enumerate(groups)
        ),
        key=_first,
    )
    return (job for _, job in pairs)


def group_queue(queue: Iterable[QueuedJob], queue_mode: str, presorted: bool = False) -> GroupedQueue:
    """Group a plain queue. ``presorted`` promises it is in ``order_queue(queue, queue_mode)`` order.

    A job_id seen earlier in queue order makes a later job with that id a duplicate, left out.
    """
    key = queue_sort_key(queue_mode)
    jobs = list(queue)
    duplicates = len(jobs) - len({job.job_id for job in jobs})
    if duplicates:  # which copy is first needs the whole queue's order; without any, each group sorts alone
        if not presorted:
            jobs.sort(key=key)
            presorted = True
        seen: set[int] = set()
        first = []
        for job in jobs:
            if job.job_id not in seen:
                seen.add(job.job_id)
                first.append(job)
        jobs = first
    members: dict[GroupKey, list[QueuedJob]] = {}
    for job in jobs:
        gkey = group_key(job)
        bucket = members.get(gkey)
        if bucket is None:
            bucket = members[gkey] = []
        bucket.append(job)
    groups = []
    for gkey, bucket in members.items():
        if not presorted:
            bucket.sort(key=key)
        groups.append(make_group(gkey, bucket, list(map(key, bucket))))
    return GroupedQueue(queue_mode, tuple(groups), len(jobs), duplicates)
