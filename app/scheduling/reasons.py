"""Why a queued job is still queued: the reasons a matching pass reports, as sentences a person reads.

Pure: the scheduler calls :func:`describe` for the jobs :func:`app.scheduling.matching.match`
explained, writes the sentences (workers/scheduler/reasons.py), and ``GET /jobs/<id>/`` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from app.scheduling import matching as m

NOT_EXAMINED = "not_examined"  # no current reason stored: not explained by a pass since it was queued

# Every reason a queued job can show, with what it means (docs/design.md lists the same).
REASONS = {
    m.SKIP_SCHEDULER_PAUSED: "the scheduler is paused",
    m.SKIP_JOB_TYPE_UNKNOWN: "the scheduler has not read the job type yet",
    m.SKIP_JOB_TYPE_PAUSED: "the job type is paused",
    m.SKIP_MAX_SCHEDULED: "the job type runs as many jobs as its max_scheduled allows",
    m.SKIP_SHARED_RESOURCE: "a shared resource the job type requires is fully used (SHARED_RESOURCE_LIMITS)",
    m.SKIP_DOES_NOT_FIT_ANYWHERE: "the job needs more than any usable node has",
    m.SKIP_RESERVED: "no node has room now; one is kept for the job until its running work ends",
    m.SKIP_INSUFFICIENT_RESOURCES: "no node has room for the job now",
    m.SKIP_NO_FREE_RESOURCES: "no usable node had free resources left when the pass reached the job",
    m.SKIP_MAX_LAUNCH: "the pass launched its maximum number of jobs before reaching the job",
    NOT_EXAMINED: "the scheduler has not explained the job since it was queued",
}

_UNITS = (("cpus", "CPUs"), ("mem", "MiB memory"), ("disk", "MiB disk"))


def _fmt(value: float) -> str:
    return f"{value:g}"


def _amounts(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{_fmt(v)} {unit}" for v, (_, unit) in zip(values, _UNITS))


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What a pass saw of the agents offering resources (usable = active and not paused)."""

    usable: int
    paused: int
    largest: tuple[float, float, float]  # largest capacity of a usable agent, per resource
    most_free: tuple[float, float, float]  # most offered by a usable agent now, per resource
    max_launch: int
    probing: int = 0  # agents whose offers went to their shared-storage probe
    shared_limits: tuple[tuple[str, int], ...] = ()  # (name, limit) of the limited shared resources

    @classmethod
    def of(
        cls, agents: Iterable[m.AgentResources], max_launch: int, probing: int = 0, shared_limits: dict | None = None
    ) -> ClusterView:
        everyone = list(agents)
        usable = [a for a in everyone if a.is_active and not a.is_paused]
        largest = [0.0, 0.0, 0.0]
        most_free = [0.0, 0.0, 0.0]
        for a in usable:
            offered = (a.cpus, a.mem, a.disk)
            capacity = (
                max(a.total_cpus, a.cpus + a.running_cpus),
                max(a.total_mem, a.mem + a.running_mem),
                max(a.total_disk, a.disk + a.running_disk),
            )
            for k in range(3):
                largest[k] = max(largest[k], capacity[k])
                most_free[k] = max(most_free[k], offered[k])
        return cls(
            len(usable),
            len(everyone) - len(usable),
            (largest[0], largest[1], largest[2]),
            (most_free[0], most_free[1], most_free[2]),
            max_launch,
            probing,
            tuple(sorted((shared_limits or {}).items())),
        )


@dataclass(frozen=True, slots=True)
class JobTypeView:
    title: str  # "name version"
    max_scheduled: int | None
    running: int
    shared_resources: tuple[str, ...] = ()


def _paused_note(cluster: ClusterView) -> str:
    if not cluster.paused:
        return ""
    nodes = "node is" if cluster.paused == 1 else "nodes are"
    return f" ({cluster.paused} paused {nodes} not counted)"


def not_examined_detail(explain_jobs: int, interval: float) -> str:
    if explain_jobs <= 0:
        return "the scheduler does not record reasons (SCHEDULER_EXPLAIN_JOBS is 0)"
    return (
        f"no reason recorded yet: every {interval:g} s the scheduler explains the first {explain_jobs} "
        "queued jobs it leaves queued (if this lasts, is the scheduler running? see /v6/status/)"
    )


def describe(code: str, job: m.QueuedJob, job_type: JobTypeView | None, cluster: ClusterView) -> str:
    """One sentence saying why ``job`` was left queued for ``code`` (a ``SKIP_*`` name)."""
    needs = (job.cpus, job.mem, job.disk)
    title = job_type.title if job_type else f"{job.job_type_id}"
    if code == m.SKIP_SCHEDULER_PAUSED:
        return "the scheduler is paused: nothing starts until it is resumed (PATCH /scheduler/)"
    if code == m.SKIP_JOB_TYPE_UNKNOWN:
        return f"the scheduler has not read job type {title} yet; it will at its next sync"
    if code == m.SKIP_JOB_TYPE_PAUSED:
        return f"job type {title} is paused"
    if code == m.SKIP_MAX_SCHEDULED:
        limit = job_type.max_scheduled if job_type else None
        return f"job type {title} already runs {limit} jobs, its max_scheduled"
    if code == m.SKIP_SHARED_RESOURCE:
        limits = dict(cluster.shared_limits)
        names = [n for n in (job_type.shared_resources if job_type else ()) if n in limits]
        used = ", ".join(f"{n} (limit {limits[n]})" for n in names) or "a shared resource"
        return f"waiting for shared resource {used}: as many jobs that require it already run"
    if code == m.SKIP_DOES_NOT_FIT_ANYWHERE:
        short = [
            f"needs {_fmt(need)} {unit}; the largest node offers {_fmt(have)}"
            for need, have, (_, unit) in zip(needs, cluster.largest, _UNITS)
            if need > have + m.EPSILON
        ]
        if not short:
            short = [f"needs {_amounts(needs)} together; no single node has all of that"]
        return "; ".join(short) + _paused_note(cluster)
    if code == m.SKIP_RESERVED:
        return (
            f"waiting for resources: needs {_amounts(needs)} and no node has that free now; "
            "a node is kept for this job until work running there ends"
        )
    if code == m.SKIP_INSUFFICIENT_RESOURCES:
        return (
            f"waiting for resources: needs {_amounts(needs)}; the most free on any node now is "
            f"{_amounts(cluster.most_free)}{_paused_note(cluster)}"
        )
    if code == m.SKIP_NO_FREE_RESOURCES:
        if cluster.usable == 0 and cluster.paused:
            return f"every node offering resources is paused ({cluster.paused}): nothing new starts on them"
        if cluster.usable == 0 and cluster.probing:
            return f"waiting for resources: the nodes offering them are being checked for shared storage ({cluster.probing})"
        if cluster.usable == 0:
            return "waiting for resources: no node is offering any (all busy, or none connected)"
        return "waiting behind higher-priority jobs: they took every free resource in the last pass"
    if code == m.SKIP_MAX_LAUNCH:
        return f"waiting behind higher-priority jobs: the last pass launched its maximum of {cluster.max_launch}"
    return REASONS.get(code, code)
