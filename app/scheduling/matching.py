"""Pure matching of queued jobs onto offered agent resources.

Nothing here touches the database, Mesos or Celery: the scheduler process turns its
in-memory state into the plain dataclasses below, calls :func:`match`, and acts on the
returned :class:`MatchResult`.

Rules of one matching pass (see docs/design.md and the reference notes, section 1.3):

* Jobs are walked in queue order: priority ascending (lower number first), then
  ``queued`` ascending (FIFO) or descending (LIFO), then ``job_id``.
* Nothing is placed while the scheduler is paused.  Paused or inactive agents take no
  new work and are not used for reservations or for the "does it fit anywhere" check.
* Jobs of an unknown job type, of a paused job type, or of a job type that reached
  ``max_scheduled`` (running executions plus placements made earlier in this pass)
  are skipped.  So are jobs of a type that requires a shared resource with nothing left
  (``shared_left``: its limit minus the running jobs that use it, less this pass's
  placements); a resource missing from ``shared_left`` has no limit.
* A job is placed on the agent whose remaining offered resources fit it with the
  least leftover (best fit): the leftover is measured as the sum over cpus, mem and
  disk of the free amount divided by the largest capacity of that resource in the
  cluster, so the three resources weigh the same.  Ties go to the lowest agent id.
* Reservation (anti-starvation): a job that fits in no agent's remaining offer, but
  does fit in the full capacity of an agent that still has something on offer,
  reserves one such agent for the rest of the pass: nothing later in the queue may
  be placed there.  The agent chosen is, in order of preference, one where the job
  would fit once this framework's own running work there finishes (offered + running),
  then the one with the most free resources now (closest to fitting), then the lowest
  agent id.
* A job larger than the capacity of every usable agent yields one warning per job type
  (``job type X requires more resources than any node offers ...``) and reserves
  nothing, so an unschedulable high-priority job cannot block the queue (Scale #1801).
* The pass stops after ``max_launch`` placements, or as soon as no agent is left with
  free, unreserved resources.
* Reasons (``explain``): the first ``explain`` jobs not placed, in queue order, get the
  reason they were not: the same ``SKIP_*`` names as the counts, and for jobs the pass
  never reached, why it stopped.
* A job_id seen earlier in queue order makes a later job with the same id a duplicate: it
  is left out of the pass and counted, never explained.

Capacity of an agent = ``max(total_x, offered_x + running_x)`` per resource, so an agent
whose watermark (``total_*``) is unknown (0) still counts what it is offering plus what
runs on it.

Performance (the pass must stay under 100 ms for 1,000,000 queued jobs and 10,000 agents;
``bench/scheduling_pass.py`` measures it):

* The cost grows with the number of groups (job type x cpus/mem shape, see
  ``app.scheduling.queue``) and with the jobs the pass acts on, not with the queue's length.
  The groups come from :class:`app.scheduling.queue_state.QueueState`, kept in order
  between passes; sorting a large queue alone costs more than the whole pass.
* The groups' jobs are merged in queue order through a heap of each group's next job.
  Once no reasons are left to record, a group is settled at once, from its next job on:
  when its job type is unknown, paused, at ``max_scheduled`` or waiting on a used-up shared
  resource (none of these ends during a pass), or when even its smallest disk can no
  longer be placed nor reserve an agent and its jobs share one reason (all larger than
  every agent, or none).  A settled group's jobs are counted at the end, those queued after
  the job that stopped the pass (if one did) under the stop's reason.
* Per resource shape ``(cpus, mem)`` the pass remembers the smallest ``disk`` that
  could not be placed, the smallest that could not reserve, and the largest that any
  agent could ever hold.  Free resources only shrink during a pass, so a shape that
  failed keeps failing, and so does every larger disk with the same cpus/mem: those
  jobs are skipped with one lookup and a comparison, without looking at agents.
* Agents with free resources are indexed: per (cpus, mem) shape a heap of the agents
  that can hold it, ordered by best-fit score, so a placement looks at the heap's top
  instead of every agent (see ``_Pool``); a reservation walks a list sorted by score
  from the top.
* Every job that fits nowhere now reserves (removes) an agent, so a saturated
  cluster ends the pass after at most one such job per agent, and the pass stops as
  soon as no agent has free, unreserved resources.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from heapq import heapify, heappop, heappush, heapreplace
from itertools import islice
from operator import attrgetter
from typing import Iterable, Mapping, Sequence

from app.scheduling.queue import (
    QUEUE_MODES,
    GroupedQueue,
    QueuedJob,
    group_queue,
    in_order,
    order_queue,
    queue_sort_key,
)

__all__ = [
    "EPSILON",
    "QUEUE_MODES",
    "SKIP_DOES_NOT_FIT_ANYWHERE",
    "SKIP_DUPLICATE",
    "SKIP_INSUFFICIENT_RESOURCES",
    "SKIP_JOB_TYPE_PAUSED",
    "SKIP_JOB_TYPE_UNKNOWN",
    "SKIP_MAX_LAUNCH",
    "SKIP_MAX_SCHEDULED",
    "SKIP_NO_FREE_RESOURCES",
    "SKIP_RESERVED",
    "SKIP_SCHEDULER_PAUSED",
    "SKIP_SHARED_RESOURCE",
    "AgentResources",
    "Assignment",
    "GroupedQueue",
    "JobTypeLimits",
    "MatchResult",
    "QueuedJob",
    "group_queue",
    "match",
    "order_queue",
    "queue_sort_key",
]

# Tolerance when comparing resource amounts (floating point leftovers such as
# 0.3 - 0.1 < 0.2 must not make a 0.2 job "not fit" on a 0.3 offer).
EPSILON = 1e-6

# Reasons counted in MatchResult.skipped.
SKIP_SCHEDULER_PAUSED = "scheduler_paused"  # the whole queue: the scheduler is paused
SKIP_JOB_TYPE_UNKNOWN = "job_type_unknown"  # job type not (yet) known to the scheduler
SKIP_JOB_TYPE_PAUSED = "job_type_paused"
SKIP_MAX_SCHEDULED = "max_scheduled"  # job type at its max_scheduled limit
SKIP_SHARED_RESOURCE = "shared_resource"  # a shared resource the job type requires is fully used
SKIP_DOES_NOT_FIT_ANYWHERE = "does_not_fit_anywhere"  # larger than every usable agent (warning)
SKIP_RESERVED = "reserved"  # fits nowhere now; reserved an agent and waits for it
SKIP_INSUFFICIENT_RESOURCES = "insufficient_resources"  # fits nowhere now, nothing left to reserve
SKIP_DUPLICATE = "duplicate"  # the same job_id appeared earlier in the queue
SKIP_MAX_LAUNCH = "max_launch"  # not examined: max_launch placements reached
SKIP_NO_FREE_RESOURCES = "no_free_resources"  # not examined: no agent has free, unreserved resources


@dataclass(slots=True)
class JobTypeLimits:
    """Per job type scheduling limits; ``running`` = executions of the type now running."""

    job_type_id: int
    is_paused: bool = False
    max_scheduled: int | None = None
    running: int = 0
    shared_resources: tuple[str, ...] = ()  # names of the shared resources its jobs require


@dataclass(slots=True)
class AgentResources:
    """One agent: what it offers now (sum of its outstanding offers) and its capacity.

    ``total_*`` is the agent's full capacity (watermark) and ``running_*`` what this
    framework's running tasks use on it; both only matter for reservations.
    """

    agent_id: str
    node_id: int | None
    hostname: str
    cpus: float
    mem: float
    disk: float
    is_paused: bool = False
    is_active: bool = True
    total_cpus: float = 0.0
    total_mem: float = 0.0
    total_disk: float = 0.0
    running_cpus: float = 0.0
    running_mem: float = 0.0
    running_disk: float = 0.0


@dataclass(slots=True)
class Assignment:
    job_id: int
    agent_id: str
    cpus: float
    mem: float
    disk: float


@dataclass(slots=True)
class MatchResult:
    """Outcome of one pass: assignments in queue order, agent_id -> job_id reservations,
    reason -> number of jobs not placed, and human-readable warnings."""

    assignments: list[Assignment] = field(default_factory=list)
    reserved_agents: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # (job_id, reason) for the first ``explain`` jobs not placed, in queue order.
    reasons: list[tuple[int, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- agents


def _pareto_max(vectors: Iterable[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """The vectors not dominated by another one (for "fits in some capacity" checks)."""
    front: list[tuple[float, float, float]] = []
    for v in sorted(set(vectors), reverse=True):
        c, m, d = v
        if not any(fc >= c and fm >= m and fd >= d for fc, fm, fd in front):
            front.append(v)
    return front


# Most jobs share a few (cpus, mem) shapes (job types); each gets its own heap of the agents
# that can hold it.  Past this many shapes in one pass, further ones use a walk of the
# agents sorted by free score instead (correct, just slower).
_MAX_SHAPE_HEAPS = 64


class _Pool:
    """The usable agents of one pass, with the ones that have free resources indexed.

    * ``keys``: (free score, agent_id, index) of every agent with free, unreserved
      resources, sorted: the best fit is the lowest score, a reservation walks from the top.
    * ``heaps``: per (cpus, mem), a min-heap of (score, agent_id, index, version) holding
      one current entry for every indexed agent with at least that cpus and mem free.
      An agent's version changes whenever its free resources change or it leaves the
      index, which makes its older entries stale (dropped when they reach the top); after a
      placement the agent gets a fresh entry in every heap whose shape it still holds.
      Free resources only shrink, so an agent that cannot hold a shape never will again.
    """

    __slots__ = (
        "ids",
        "fc",
        "fm",
        "fd",
        "cap",
        "reclaim",
        "cap_front",
        "ic",
        "im",
        "idk",
        "slack",
        "keys",
        "key_of",
        "version",
        "heaps",
        "heap_list",
    )

    def __init__(self, agents: Iterable[AgentResources]):
        usable = [a for a in agents if a.is_active and not a.is_paused]
        usable.sort(key=attrgetter("agent_id"))
        for previous, current in zip(usable, usable[1:]):
            if previous.agent_id == current.agent_id:
                raise ValueError(f"agent {current.agent_id!r} appears more than once")
        self.ids = [a.agent_id for a in usable]
        self.fc = [max(0.0, float(a.cpus)) for a in usable]
        self.fm = [max(0.0, float(a.mem)) for a in usable]
        self.fd = [max(0.0, float(a.disk)) for a in usable]
        self.reclaim = [
            (fc + max(0.0, a.running_cpus), fm + max(0.0, a.running_mem), fd + max(0.0, a.running_disk))
            for a, fc, fm, fd in zip(usable, self.fc, self.fm, self.fd)
        ]
        self.cap = [
            (max(float(a.total_cpus), rc), max(float(a.total_mem), rm), max(float(a.total_disk), rd))
            for a, (rc, rm, rd) in zip(usable, self.reclaim)
        ]
        self.cap_front = _pareto_max(self.cap)
        norm_c = max((c for c, _, _ in self.cap), default=0.0) or 1.0
        norm_m = max((m for _, m, _ in self.cap), default=0.0) or 1.0
        norm_d = max((d for _, _, d in self.cap), default=0.0) or 1.0
        self.ic, self.im, self.idk = 1.0 / norm_c, 1.0 / norm_m, 1.0 / norm_d
        # An agent within EPSILON of a job in every resource still fits it, so its free
        # score may be slightly below the job's: the walk starts that much lower.
        self.slack = 2.0 * EPSILON * (self.ic + self.im + self.idk) + 1e-12
        self.key_of: list[tuple[float, str, int] | None] = [
            self._key(i) if self._has_free(i) else None for i in range(len(usable))
        ]
        self.keys = sorted(key for key in self.key_of if key is not None)
        self.version = [0] * len(usable)
        self.heaps: dict[tuple[float, float], list] = {}
        self.heap_list: list[tuple[float, float, list]] = []

    def _has_free(self, i: int) -> bool:
        return self.fc[i] > EPSILON or self.fm[i] > EPSILON or self.fd[i] > EPSILON

    def _key(self, i: int) -> tuple[float, str, int]:
        return (self.fc[i] * self.ic + self.fm[i] * self.im + self.fd[i] * self.idk, self.ids[i], i)

    def max_capacity_disk(self, cpus: float, mem: float) -> float:
        """Largest disk an agent able to hold (cpus, mem) has; -inf if there is none."""
        best = -math.inf
        for c, m, d in self.cap_front:
            if c + EPSILON >= cpus and m + EPSILON >= mem and d > best:
                best = d
        return best

    def _unindex(self, i: int) -> None:
        """Take agent i out of ``keys`` (its heap entries become stale)."""
        key = self.key_of[i]
        assert key is not None, "agent taken out of the index twice"
        keys = self.keys
        del keys[bisect_left(keys, key)]
        self.key_of[i] = None
        self.version[i] += 1

    def _take(self, i: int, cpus: float, mem: float, disk: float) -> None:
        self._unindex(i)
        fc, fm = self.fc, self.fm
        fc[i] = max(0.0, fc[i] - cpus)
        fm[i] = max(0.0, fm[i] - mem)
        self.fd[i] = max(0.0, self.fd[i] - disk)
        if self._has_free(i):
            key = self.key_of[i] = self._key(i)
            insort(self.keys, key)
            entry = (*key, self.version[i])
            have_c, have_m = fc[i] + EPSILON, fm[i] + EPSILON
            for c, m, heap in self.heap_list:
                if have_c >= c and have_m >= m:
                    heappush(heap, entry)

    def _new_heap(self, cpus: float, mem: float) -> list:
        fc, fm, version = self.fc, self.fm, self.version
        heap = [
            (score, agent_id, i, version[i])
            for score, agent_id, i in self.keys
            if fc[i] + EPSILON >= cpus and fm[i] + EPSILON >= mem
        ]  # already in heap order: keys is sorted
        self.heaps[(cpus, mem)] = heap
        self.heap_list.append((cpus, mem, heap))
        return heap

    def place(self, cpus: float, mem: float, disk: float) -> int:
        """Best-fit agent for the shape; takes its resources. Returns its index or -1."""
        heap = self.heaps.get((cpus, mem))
        if heap is None:
            if len(self.heaps) >= _MAX_SHAPE_HEAPS:
                return self._place_by_walk(cpus, mem, disk)
            heap = self._new_heap(cpus, mem)
        version, fd = self.version, self.fd
        found = -1
        aside = []
        while heap:
            entry = heap[0]
            i = entry[2]
            if entry[3] != version[i]:
                heappop(heap)  # stale
            elif fd[i] + EPSILON >= disk:
                heappop(heap)  # about to change: _take pushes its new entry
                found = i
                break
            else:
                aside.append(heappop(heap))  # enough cpus and mem, too little disk for this job
        for entry in aside:
            heappush(heap, entry)
        if found >= 0:
            self._take(found, cpus, mem, disk)
        return found

    def _place_by_walk(self, cpus: float, mem: float, disk: float) -> int:
        keys = self.keys
        fc, fm, fd = self.fc, self.fm, self.fd
        lowest = cpus * self.ic + mem * self.im + disk * self.idk - self.slack
        for pos in range(bisect_left(keys, (lowest,)), len(keys)):
            i = keys[pos][2]
            if fc[i] + EPSILON >= cpus and fm[i] + EPSILON >= mem and fd[i] + EPSILON >= disk:
                self._take(i, cpus, mem, disk)
                return i
        return -1

    def reserve(self, cpus: float, mem: float, disk: float, prefer_reclaim: bool) -> tuple[int, bool]:
        """Reserve (unindex) the agent with free resources best suited to wait for the shape.

        Returns (agent index or -1, whether a reclaim-fit agent was looked for and none found).
        """
        keys = self.keys
        cap, reclaim = self.cap, self.reclaim
        first_fit = -1
        chosen = -1
        for pos in range(len(keys) - 1, -1, -1):
            i = keys[pos][2]
            c, m, d = cap[i]
            if c + EPSILON >= cpus and m + EPSILON >= mem and d + EPSILON >= disk:
                if not prefer_reclaim:
                    chosen = pos
                    break
                if first_fit < 0:
                    first_fit = pos
                c, m, d = reclaim[i]
                if c + EPSILON >= cpus and m + EPSILON >= mem and d + EPSILON >= disk:
                    chosen = pos
                    break
        no_reclaim_fit = prefer_reclaim and chosen < 0
        if chosen < 0:
            chosen = first_fit
        if chosen < 0:
            return -1, no_reclaim_fit
        # Among agents with the same free score, prefer the lowest agent id.
        need = reclaim if prefer_reclaim and not no_reclaim_fit else cap
        score = keys[chosen][0]
        pos = chosen - 1
        while pos >= 0 and keys[pos][0] == score:
            c, m, d = need[keys[pos][2]]
            if c + EPSILON >= cpus and m + EPSILON >= mem and d + EPSILON >= disk:
                chosen = pos
            pos -= 1
        i = keys[chosen][2]
        self._unindex(i)
        return i, no_reclaim_fit


def _fmt(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- matching

# Per (cpus, mem) state, indexes into a small list:
_NOPLACE = 0  # smallest disk that could not be placed (any disk >= it cannot either)
_NORESERVE = 1  # smallest disk that found nothing to reserve
_CAPACITY = 2  # largest disk any usable agent able to hold (cpus, mem) has, plus EPSILON
_NORECLAIM = 3  # smallest disk for which no agent fits it once our own work there ends

# Reasons a job examined by the pass is not placed (the stop reasons are for jobs it never reached).
_JOB_REASONS = (
    SKIP_JOB_TYPE_UNKNOWN,
    SKIP_JOB_TYPE_PAUSED,
    SKIP_MAX_SCHEDULED,
    SKIP_SHARED_RESOURCE,
    SKIP_DOES_NOT_FIT_ANYWHERE,
    SKIP_RESERVED,
    SKIP_INSUFFICIENT_RESOURCES,
)

_UNLIMITED = 1 << 62
_PAUSED = -1
_SHARED = -2  # a shared resource the type requires is used up
_UNKNOWN = -3  # not in the pass's job types
_HELD_BY_TYPE = {
    0: SKIP_MAX_SCHEDULED,
    _PAUSED: SKIP_JOB_TYPE_PAUSED,
    _SHARED: SKIP_SHARED_RESOURCE,
    _UNKNOWN: SKIP_JOB_TYPE_UNKNOWN,
}


def _type_reason(limits: JobTypeLimits | None, otherwise: str) -> str:
    """A job's own blocker when the pass placed nothing: its job type's state first (it is what an
    operator can change for this job), except that a paused scheduler holds every job."""
    if otherwise == SKIP_SCHEDULER_PAUSED:
        return otherwise
    if limits is None:
        return SKIP_JOB_TYPE_UNKNOWN
    if limits.is_paused:
        return SKIP_JOB_TYPE_PAUSED
    if limits.max_scheduled is not None and limits.running >= limits.max_scheduled:
        return SKIP_MAX_SCHEDULED
    return otherwise


def match(
    queue: Sequence[QueuedJob] | GroupedQueue,
    agents: Iterable[AgentResources],
    job_types: Mapping[int, JobTypeLimits],
    *,
    scheduler_paused: bool,
    queue_mode: str,
    max_launch: int,
    presorted: bool = False,
    explain: int = 0,
    shared_left: Mapping[str, int] | None = None,
) -> MatchResult:
    """Match queued jobs onto agents for one scheduling pass (see the module docstring).

    ``queue`` is a :class:`GroupedQueue` of ``queue_mode`` (``QueueState.grouped``), or plain jobs,
    grouped here: sorted first unless ``presorted`` promises ``order_queue(queue, queue_mode)`` order.
    ``job_types`` maps job_type_id -> limits; jobs of types missing from it are skipped.
    ``explain``: how many of the jobs not placed get their reason in ``result.reasons``
    (the first ones in queue order; duplicates are not explained).
    """
    queue_sort_key(queue_mode)  # validates the mode
    if isinstance(queue, GroupedQueue):
        if queue.queue_mode != queue_mode:
            raise ValueError(f"the queue is grouped for {queue.queue_mode}, not {queue_mode}")
        grouped = queue
    else:
        grouped = group_queue(queue, queue_mode, presorted)
    result = MatchResult()
    if grouped.duplicates:
        result.skipped[SKIP_DUPLICATE] = grouped.duplicates
    total = grouped.size
    if total == 0:
        return result
    whole_queue = None
    if scheduler_paused:
        whole_queue = SKIP_SCHEDULER_PAUSED
    elif max_launch <= 0:
        whole_queue = SKIP_MAX_LAUNCH
    else:
        pool = _Pool(agents)
        if not pool.keys:
            whole_queue = SKIP_NO_FREE_RESOURCES
    if whole_queue is not None:
        result.skipped[whole_queue] = total
        if explain > 0:
            result.reasons = [
                (job.job_id, _type_reason(job_types.get(job.job_type_id), whole_queue)) for job in grouped.head(explain)
            ]
        return result
    _walk(grouped, pool, job_types, max_launch, max(0, explain), shared_left or {}, result)
    return result


def _walk(
    grouped: GroupedQueue,
    pool: _Pool,
    job_types: Mapping[int, JobTypeLimits],
    max_launch: int,
    quota: int,
    shared_left: Mapping[str, int],
    result: MatchResult,
) -> None:
    """The pass proper: the groups' jobs merged in queue order, each group settled once it can be."""
    # Per job type: [slots left, or _PAUSED / _SHARED / _UNKNOWN; warned about a job too big for every agent].
    types_info: dict[int, list] = {}
    for type_id, limits in job_types.items():
        if limits.is_paused:
            left = _PAUSED
        elif limits.max_scheduled is None:
            left = _UNLIMITED
        else:
            left = max(0, limits.max_scheduled - max(0, limits.running))
        types_info[type_id] = [left, False]
    # Shared resources with a limit: slots left, and which types require each.
    shared = dict(shared_left)
    users: dict[str, list[int]] = {}
    type_shared: dict[int, tuple[str, ...]] = {}
    for type_id, limits in job_types.items():
        limited = tuple(n for n in limits.shared_resources if n in shared)
        if limited:
            type_shared[type_id] = limited
            for name in limited:
                users.setdefault(name, []).append(type_id)
            if types_info[type_id][0] > 0 and any(shared[n] <= 0 for n in limited):
                types_info[type_id][0] = _SHARED

    groups = grouped.groups
    shapes: dict[tuple[float, float], list[float]] = {}
    group_state = []  # per group: its shape's state (shared by the groups of one shape)
    for group in groups:
        state = shapes.get((group.cpus, group.mem))
        if state is None:
            capacity = pool.max_capacity_disk(group.cpus, group.mem) + EPSILON
            never = math.nextafter(capacity, math.inf)
            state = shapes[(group.cpus, group.mem)] = [never, never, capacity, math.inf]
        group_state.append(state)
    unknown = [_UNKNOWN, False]
    group_info = [types_info.get(group.job_type_id, unknown) for group in groups]
    position = [0] * len(groups)
    # Groups skipped at once: index -> (first position skipped, reason of every job from there).
    settled: dict[int, tuple[int, str]] = {}
    heap = [(group.keys[0], index) for index, group in enumerate(groups) if group.jobs]
    heapify(heap)

    assignments = result.assignments
    reserved_agents = result.reserved_agents
    warnings = result.warnings
    reasons = result.reasons
    counts = dict.fromkeys(_JOB_REASONS, 0)
    ids = pool.ids
    keys = pool.keys  # shrinks as agents are reserved or run out; never rebound
    place = pool.place
    stop_reason = None
    stop_key: tuple = ()

    while heap:
        key, index = heap[0]
        group = groups[index]
        at = position[index]
        job = group.jobs[at]
        info = group_info[index]
        left = info[0]
        why = _HELD_BY_TYPE[left] if left <= 0 else None
        if why is not None:  # the job type holds every job of the group from here on
            if not quota:
                settled[index] = (at, why)
                heappop(heap)
                continue
        else:
            state = group_state[index]
            cpus, mem, disk = group.cpus, group.mem, job.disk
            i = place(cpus, mem, disk) if disk < state[_NOPLACE] else -1
            if i >= 0:
                assignments.append(Assignment(job.job_id, ids[i], cpus, mem, disk))
                info[0] = left - 1
                if group.job_type_id in type_shared:
                    for name in type_shared[group.job_type_id]:
                        shared[name] -= 1
                        if shared[name] <= 0:  # used up: every type requiring it waits
                            for user in users[name]:
                                if types_info[user][0] > 0:
                                    types_info[user][0] = _SHARED
                if len(assignments) >= max_launch:
                    stop_reason = SKIP_MAX_LAUNCH
                elif not keys:
                    stop_reason = SKIP_NO_FREE_RESOURCES
            else:
                if disk < state[_NOPLACE]:
                    state[_NOPLACE] = disk
                capacity = state[_CAPACITY]
                if disk > capacity:
                    why = SKIP_DOES_NOT_FIT_ANYWHERE
                    if not info[1]:
                        info[1] = True
                        warnings.append(
                            f"job type {group.job_type_id} requires more resources than any node offers "
                            f"(cpus={_fmt(cpus)}, mem={_fmt(mem)}, disk={_fmt(disk)})"
                        )
                else:
                    if disk < state[_NORESERVE]:
                        i, no_reclaim_fit = pool.reserve(cpus, mem, disk, disk < state[_NORECLAIM])
                        if no_reclaim_fit:
                            state[_NORECLAIM] = disk
                        if i < 0:
                            state[_NORESERVE] = disk
                    if i >= 0:
                        reserved_agents[ids[i]] = job.job_id
                        why = SKIP_RESERVED
                        if not keys:
                            stop_reason = SKIP_NO_FREE_RESOURCES
                    else:
                        why = SKIP_INSUFFICIENT_RESOURCES
                if not quota and why != SKIP_RESERVED:
                    # Thresholds only fall during a pass: once the group's smallest disk can neither be
                    # placed nor reserve, none of its jobs can; settle it if they all share one reason.
                    low = group.min_disk
                    if low >= state[_NOPLACE] and low >= state[_NORESERVE]:
                        if low > capacity or group.max_disk <= capacity:
                            settled[index] = (at, why)
                            heappop(heap)
                            continue
        if why is not None:
            counts[why] += 1
            if quota:
                quota -= 1
                reasons.append((job.job_id, why))
        at += 1
        position[index] = at
        if at < len(group.jobs):
            heapreplace(heap, (group.keys[at], index))
        else:
            heappop(heap)
        if stop_reason is not None:
            stop_key = key
            break

    # Settled groups: their jobs before the stop (if any) have the group's reason, later ones the stop's.
    not_reached = 0
    for index, group in enumerate(groups):
        size = len(group.jobs)
        if index in settled:
            start, why = settled[index]
            end = size if stop_reason is None else bisect_right(group.keys, stop_key, start)
            counts[why] += end - start
            not_reached += size - end
        else:
            not_reached += size - position[index]
    skipped = result.skipped
    for why, count in counts.items():
        if count:
            skipped[why] = count
    if stop_reason is not None and not_reached:
        skipped[stop_reason] = not_reached
        if quota:  # with reasons still to give, no group was settled
            rest = islice(in_order(groups, position), quota)
            reasons.extend((job.job_id, stop_reason) for job in rest)
