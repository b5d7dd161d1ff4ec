"""The autoscaling policy, pure: from what the pools, their nodes and the queue look like now, the
decisions of one pass, each with the reason a person reads. app/services/autoscale.py gathers the
views from the database, applies the decisions and asks the node providers to act.

Rules, per pool with a provider and ``max_nodes > 0`` (evaluated in pool id order):

* Nothing is decided for a FROZEN pool (frozen: no node started or deleted, as Dynamic Cluster's freeze).
* A LAUNCHING node that has not registered within ``launch_timeout`` is given up (FAIL: terminated).
* ACTIVE pool below ``min_nodes``: LAUNCH up to ``min_nodes``.
* ACTIVE pool, demand: queued jobs that waited at least ``queue_wait`` and fit the pool's node shape
  need ``ceil(max over resources of sum(job amounts) / node amount)`` nodes. Nodes still launching or
  registered within ``queue_wait`` (not yet given their share of the queue) are subtracted, then
  nodes this pass drains are taken back (UNHOLD), then new ones launched, never above ``max_nodes``.
  What a pool covers is taken off the demand before the next pool sees it.
* Idle nodes: a RUNNING scaled node with no running execution for ``idle_time``, not held by an
  operator, is held (HOLD, state DRAINING) while the pool stays at or above ``min_nodes`` and has no
  demand; a DRAINING pool holds every idle scaled node, whatever its minimum.
* A DRAINING node (held by the autoscaler) with nothing running is terminated (TERMINATE). A node
  with running work is never held or terminated, and a node an operator held is left alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

LAUNCH, UNHOLD, HOLD, TERMINATE, FAIL = "LAUNCH", "UNHOLD", "HOLD", "TERMINATE", "FAIL"
LIVE_STATES = ("LAUNCHING", "RUNNING", "DRAINING")  # scaled nodes the policy counts
OPEN_STATES = (*LIVE_STATES, "TERMINATING", "FAILING")  # not yet gone at the provider
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Policy:
    queue_wait: float  # seconds a queued job waits before it counts as demand
    idle_time: float  # seconds a node is idle before it is drained
    launch_timeout: float  # seconds a launched node has to register


@dataclass(slots=True)
class NodeView:
    scaled_id: int
    hostname: str
    state: str  # LAUNCHING, RUNNING or DRAINING
    age: float  # seconds since it was launched (or since it registered, once RUNNING)
    running: int = 0  # executions running on it
    idle_for: float = 0.0  # seconds without a running execution (0 while running)
    held_by_operator: bool = False


@dataclass(slots=True)
class PoolView:
    pool_id: int
    name: str
    state: str  # ACTIVE, FROZEN or DRAINING
    min_nodes: int
    max_nodes: int
    shape: tuple[float, float, float]  # cpus, mem, disk of one node
    nodes: list[NodeView] = field(default_factory=list)


@dataclass(slots=True)
class Waiting:
    """Queued jobs of one resource shape that waited at least queue_wait."""

    cpus: float
    mem: float
    disk: float
    count: int


@dataclass(slots=True)
class Decision:
    pool_id: int
    action: str
    reason: str
    count: int = 0  # LAUNCH: how many nodes
    scaled_ids: list[int] = field(default_factory=list)  # UNHOLD, HOLD, TERMINATE, FAIL: which nodes


def _fits(job: Waiting, shape: tuple[float, float, float]) -> bool:
    return job.cpus <= shape[0] + _EPSILON and job.mem <= shape[1] + _EPSILON and job.disk <= shape[2] + _EPSILON


def _nodes_needed(demand: list[Waiting], shape: tuple[float, float, float]) -> tuple[int, int]:
    """(nodes of this shape the fitting demand needs, how many jobs that is)."""
    fitting = [w for w in demand if w.count > 0 and _fits(w, shape)]
    jobs = sum(w.count for w in fitting)
    if not jobs:
        return 0, 0
    needed = 0.0
    for k, amount in enumerate(shape):
        if amount > 0:
            total = sum((w.cpus, w.mem, w.disk)[k] * w.count for w in fitting)
            needed = max(needed, total / amount)
    return max(1, math.ceil(needed - _EPSILON)), jobs


def _take_demand(demand: list[Waiting], shape: tuple[float, float, float], nodes: int) -> None:
    """Take off the demand what `nodes` nodes of `shape` will run (greedy, job shape by job shape)."""
    free = [amount * nodes for amount in shape]
    for w in demand:
        if not _fits(w, shape):
            continue
        while w.count and all(need <= have + _EPSILON for need, have in zip((w.cpus, w.mem, w.disk), free)):
            free = [have - need for need, have in zip((w.cpus, w.mem, w.disk), free)]
            w.count -= 1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def decide(pools: list[PoolView], waiting: list[Waiting], policy: Policy) -> list[Decision]:
    demand = [Waiting(w.cpus, w.mem, w.disk, w.count) for w in waiting]  # consumed pool by pool
    decisions: list[Decision] = []
    for pool in sorted(pools, key=lambda p: p.pool_id):
        if pool.state == "FROZEN" or pool.max_nodes <= 0:
            continue
        decisions.extend(_decide_pool(pool, demand, policy))
    return decisions


def _decide_pool(pool: PoolView, demand: list[Waiting], policy: Policy) -> list[Decision]:
    out: list[Decision] = []
    failed = [n for n in pool.nodes if n.state == "LAUNCHING" and n.age >= policy.launch_timeout]
    if failed:
        out.append(
            Decision(
                pool.pool_id,
                FAIL,
                f"{_plural(len(failed), 'node')} did not register within {policy.launch_timeout:g} s of launch",
                scaled_ids=[n.scaled_id for n in failed],
            )
        )
    live = [n for n in pool.nodes if n.state in LIVE_STATES and n not in failed]
    draining = [n for n in live if n.state == "DRAINING"]
    serving = len(live) - len(draining)  # nodes that are or will be taking work

    if pool.state == "ACTIVE":
        needed, jobs = _nodes_needed(demand, pool.shape)
        young = [n for n in live if n.state == "LAUNCHING" or (n.state == "RUNNING" and n.age < policy.queue_wait)]
        wanted = max(needed - len(young), pool.min_nodes - serving, 0)
        back: list[NodeView] = []
        if wanted and draining:
            back = draining[:wanted]
            out.append(
                Decision(
                    pool.pool_id,
                    UNHOLD,
                    f"{_plural(jobs, 'queued job')} waited {policy.queue_wait:g} s or more: draining nodes take work again"
                    if needed
                    else f"the pool is below its min_nodes {pool.min_nodes}",
                    scaled_ids=[n.scaled_id for n in back],
                )
            )
            draining = draining[len(back) :]
            serving += len(back)
            wanted -= len(back)
        room = pool.max_nodes - (serving + len(draining))
        count = min(wanted, room)
        if count > 0:
            if pool.min_nodes - serving >= count and not needed:
                reason = f"the pool has {serving} of its min_nodes {pool.min_nodes}"
            else:
                reason = (
                    f"{_plural(jobs, 'queued job')} that fit its nodes waited {policy.queue_wait:g} s or more "
                    f"and need {_plural(needed, 'node')}; {len(young)} still starting"
                )
                if count < wanted:
                    reason += f"; limited by max_nodes {pool.max_nodes}"
            out.append(Decision(pool.pool_id, LAUNCH, reason, count=count))
            serving += count
        _take_demand(demand, pool.shape, len(young) + len(back) + max(count, 0))  # what this pool brings
        if needed:
            return out + _terminations(pool, draining)

    # No demand for this pool (or it is draining): hold idle nodes above the minimum, end the held ones.
    floor = 0 if pool.state == "DRAINING" else pool.min_nodes
    idle = [
        n
        for n in live
        if n.state == "RUNNING" and n.running == 0 and n.idle_for >= policy.idle_time and not n.held_by_operator
    ]
    idle.sort(key=lambda n: -n.idle_for)
    hold = idle[: max(0, serving - floor)]
    if hold:
        why = "the pool is draining" if pool.state == "DRAINING" else f"idle for {policy.idle_time:g} s or more"
        out.append(Decision(pool.pool_id, HOLD, why, scaled_ids=[n.scaled_id for n in hold]))
    return out + _terminations(pool, draining)


def _terminations(pool: PoolView, draining: list[NodeView]) -> list[Decision]:
    done = [n for n in draining if n.running == 0 and not n.held_by_operator]
    if not done:
        return []
    return [
        Decision(
            pool.pool_id,
            TERMINATE,
            "held by the autoscaler and idle: nothing runs there",
            scaled_ids=[n.scaled_id for n in done],
        )
    ]
