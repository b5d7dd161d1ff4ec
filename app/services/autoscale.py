"""Autoscaling: one pass reads the pools, their scaled nodes and the queue, runs the pure policy
(app/autoscale/policy.py), writes its decisions (node holds, new LAUNCHING rows, decisions with their
reasons) in one transaction, then asks the node providers to launch and terminate.

A pass is claimed with a compare-and-set on the scheduler row, so two beat ticks (or two workers) never
run one at the same time and a task delivered twice does nothing the second time. Provider calls
happen after the commit: a node is recorded LAUNCHING before it is asked for, and TERMINATING before
it is stopped; a call that failed is retried by the next pass (termination) or given up after
AUTOSCALE_LAUNCH_TIMEOUT (launch).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from app.autoscale import policy as p
from app.autoscale.providers import NodeSpec, ProviderError, provider
from app.db import iso, utcnow, with_retry
from app.models import AutoscaleDecision, Job, JobType, Node, ResourcePool, ScaledNode, Scheduler
from app.services import operations
from app.settings import settings
from app.states import SCALED_NODE, InvalidTransition

log = logging.getLogger("scale.autoscale")

PAUSE_PREFIX = "autoscale:"
PAUSE_REASON = f"{PAUSE_PREFIX} idle; held before it is terminated"


def is_autoscaled(pool: ResourcePool) -> bool:
    return bool(pool.provider) and pool.max_nodes > 0


def policy_from_settings() -> p.Policy:
    return p.Policy(settings.AUTOSCALE_QUEUE_WAIT, settings.AUTOSCALE_IDLE_TIME, settings.AUTOSCALE_LAUNCH_TIMEOUT)


# ---------------------------------------------------------------- claiming a pass


def claim_pass(session: Session, now: datetime) -> bool:
    """True when this caller owns the pass of this interval (auto mode on, no other pass just ran)."""
    recent = now - timedelta(seconds=settings.AUTOSCALE_INTERVAL / 2)
    claimed = session.execute(
        update(Scheduler)
        .where(
            Scheduler.id == 1,
            Scheduler.auto_mode.is_(True),
            or_(Scheduler.autoscale_ran.is_(None), Scheduler.autoscale_ran <= recent),
        )
        .values(autoscale_ran=now)
    )
    return claimed.rowcount == 1


# ---------------------------------------------------------------- what the policy sees


def _nodes_by_hostname(session: Session, hostnames: list[str]) -> dict[str, Node]:
    if not hostnames:
        return {}
    rows = session.scalars(select(Node).where(Node.hostname.in_(hostnames), Node.is_active.is_(True)))
    return {n.hostname: n for n in rows}


def pool_views(session: Session, now: datetime) -> list[p.PoolView]:
    """The autoscaled pools with their open scaled nodes; registers launched nodes that showed up and
    keeps each node's idle time (written in the caller's transaction)."""
    pools = [pool for pool in session.scalars(select(ResourcePool).order_by(ResourcePool.id)) if is_autoscaled(pool)]
    scaled = session.scalars(
        select(ScaledNode).where(ScaledNode.state.in_(p.LIVE_STATES), ScaledNode.pool_id.in_([x.id for x in pools]))
    ).all()
    nodes = _nodes_by_hostname(session, [s.hostname for s in scaled])
    running = operations.running_counts(session, [n.id for n in nodes.values()])
    views = {
        pool.id: p.PoolView(pool.id, pool.name, pool.state, pool.min_nodes, pool.max_nodes, _shape(pool))
        for pool in pools
    }
    for row in scaled:
        node = nodes.get(row.hostname)
        if row.state == "LAUNCHING" and node is not None:
            SCALED_NODE.move(row, "RUNNING", now)  # its agent registered
        elif row.state == "DRAINING" and node is not None and not node.is_paused:
            SCALED_NODE.move(row, "RUNNING", now)  # an operator unheld it: it serves again
            row.idle_since = None
        busy = running.get(node.id, 0) if node is not None else 0
        if row.state != "LAUNCHING":
            row.idle_since = None if busy else (row.idle_since or now)
        views[row.pool_id].nodes.append(
            p.NodeView(
                scaled_id=row.id,
                hostname=row.hostname,
                state=row.state,
                age=(now - row.state_changed).total_seconds(),
                running=busy,
                idle_for=(now - row.idle_since).total_seconds() if row.idle_since else 0.0,
                held_by_operator=node is not None
                and node.is_paused
                and not (node.pause_reason or "").startswith(PAUSE_PREFIX),
            )
        )
    return list(views.values())


def _shape(pool: ResourcePool) -> tuple[float, float, float]:
    return (pool.node_cpus, pool.node_mem, pool.node_disk)


def waiting_demand(session: Session, now: datetime) -> list[p.Waiting]:
    """Queued jobs that waited AUTOSCALE_QUEUE_WAIT or more, by resource shape (paused job types and a
    paused scheduler ask for nothing: a new node would not run them)."""
    scheduler = session.get(Scheduler, 1)
    if scheduler is not None and scheduler.is_paused:
        return []
    cutoff = now - timedelta(seconds=settings.AUTOSCALE_QUEUE_WAIT)
    disk = Job.disk_in_required + Job.disk_out_required
    rows = session.execute(
        select(Job.cpus_required, Job.mem_required, disk, func.count())
        .join(JobType, JobType.id == Job.job_type_id)
        .where(Job.status == "QUEUED", Job.queued <= cutoff, JobType.is_paused.is_(False))
        .group_by(Job.cpus_required, Job.mem_required, disk)
    )
    return [p.Waiting(c, m, d, n) for c, m, d, n in rows]


# ---------------------------------------------------------------- applying decisions


def scaled_hostname(pool: ResourcePool) -> str:
    """A new hostname the pool's selector matches: the pattern's first '*' (or the pool name) gets a unique part."""
    unique = f"{pool.name.lower().replace('_', '-')}-{secrets.token_hex(3)}"
    if pool.hostname_pattern:
        return pool.hostname_pattern.replace("*", unique, 1).replace("*", "")
    return unique


def _record(
    session: Session, pool: ResourcePool, action: str, hostnames: list[str], reason: str, now: datetime
) -> None:
    log.info("autoscale %s %s %s: %s", pool.name, action, " ".join(hostnames), reason)
    session.add(
        AutoscaleDecision(
            pool_id=pool.id, pool_name=pool.name, action=action, hostnames=hostnames, reason=reason, created=now
        )
    )


def launch_problems(session: Session, pool: ResourcePool, count: int) -> list[str]:
    """Why an operator may not launch `count` nodes into `pool` now (empty: they may)."""
    problems = []
    if not pool.provider:
        problems.append(f"Resource pool {pool.id} ({pool.name}) has no node provider: set 'provider' first")
    if pool.state != "ACTIVE":
        problems.append(f"Resource pool {pool.id} ({pool.name}) is {pool.state}: restore it first")
    live = session.scalar(
        select(func.count()).where(ScaledNode.pool_id == pool.id, ScaledNode.state.in_(p.LIVE_STATES))
    )
    if live + count > pool.max_nodes:
        problems.append(
            f"Resource pool {pool.id} ({pool.name}) has {live} launched node(s) and max_nodes {pool.max_nodes}: "
            f"{count} more would exceed it"
        )
    return problems


def launch_nodes(session: Session, pool: ResourcePool, count: int, reason: str, now: datetime) -> list[ScaledNode]:
    """Record `count` LAUNCHING nodes (the provider is asked after the commit: `perform_launches`)."""
    rows = [
        ScaledNode(
            pool_id=pool.id,
            hostname=scaled_hostname(pool),
            provider=pool.provider,
            state="LAUNCHING",
            launched=now,
            state_changed=now,
        )
        for _ in range(count)
    ]
    session.add_all(rows)
    session.flush()
    _record(session, pool, p.LAUNCH, [r.hostname for r in rows], reason, now)
    return rows


def _apply(session: Session, decision: p.Decision, now: datetime) -> list[int]:
    """Write one decision; the ids of the scaled nodes launched."""
    pool = session.get(ResourcePool, decision.pool_id)
    assert pool is not None
    if decision.action == p.LAUNCH:
        return [r.id for r in launch_nodes(session, pool, decision.count, decision.reason, now)]
    rows = session.scalars(select(ScaledNode).where(ScaledNode.id.in_(decision.scaled_ids))).all()
    nodes = _nodes_by_hostname(session, [r.hostname for r in rows])
    acted = []
    for row in rows:
        node = nodes.get(row.hostname)
        if decision.action == p.HOLD and node is not None:
            operations.hold_node(session, node, PAUSE_REASON)
            SCALED_NODE.move(row, "DRAINING", now)
        elif decision.action == p.UNHOLD and node is not None:
            operations.unhold_node(session, node)
            SCALED_NODE.move(row, "RUNNING", now)
            row.idle_since = None
        elif decision.action == p.TERMINATE:
            if node is not None:
                if operations.running_counts(session, [node.id]).get(node.id):
                    continue  # work started since the pass looked: never terminate a node with work on it
                operations.delete_node(session, node)
            SCALED_NODE.move(row, "TERMINATING", now)
        elif decision.action == p.FAIL:
            SCALED_NODE.move(row, "FAILING", now)
        else:
            continue
        acted.append(row.hostname)
    if acted:
        _record(session, pool, decision.action, acted, decision.reason, now)
    return []


def plan(session: Session, now: datetime) -> list[int]:
    """Claim the pass, decide and write; the ids of the nodes to launch (empty when not claimed)."""
    if not claim_pass(session, now):
        return []
    views = pool_views(session, now)
    decisions = p.decide(views, waiting_demand(session, now), policy_from_settings())
    launched: list[int] = []
    for decision in decisions:
        try:
            with session.begin_nested():  # one decision that cannot apply leaves the others alone
                launched.extend(_apply(session, decision, now))
        except InvalidTransition as exc:
            log.warning("autoscale: %s %s not applied: %s", decision.action, decision.scaled_ids, exc)
    return launched


# ---------------------------------------------------------------- provider calls (after the commit)


def _spec(row: ScaledNode, pool: ResourcePool) -> NodeSpec:
    attributes = {pool.attribute_name: pool.attribute_value or "true"} if pool.attribute_name else {}
    return NodeSpec(row.hostname, pool.node_cpus, pool.node_mem, pool.node_disk, attributes)


def perform_launches(scaled_ids: list[int]) -> None:
    for scaled_id in scaled_ids:
        row, pool = with_retry(lambda s, scaled_id=scaled_id: _row_and_pool(s, scaled_id))
        try:
            provider_id = provider(row.provider).launch(_spec(row, pool))
        except ProviderError as exc:
            _after_call(scaled_id, None, "FAILED", f"launch failed: {exc}")
            continue
        _after_call(scaled_id, provider_id, None, None)


def perform_terminations() -> None:
    """Stop every node recorded TERMINATING or FAILING (again, if an earlier call failed)."""
    rows = with_retry(
        lambda s: [
            (r.id, r.provider, r.provider_id, r.state)
            for r in s.scalars(select(ScaledNode).where(ScaledNode.state.in_(("TERMINATING", "FAILING"))))
        ]
    )
    for scaled_id, name, provider_id, state in rows:
        final = "TERMINATED" if state == "TERMINATING" else "FAILED"
        try:
            if provider_id:
                provider(name).terminate(provider_id)
        except ProviderError as exc:
            log.warning("autoscale: could not terminate %s (retried next pass): %s", provider_id, exc)
            continue
        _after_call(scaled_id, None, final, None)


def _row_and_pool(session: Session, scaled_id: int) -> tuple[ScaledNode, ResourcePool]:
    row = session.get(ScaledNode, scaled_id)
    assert row is not None
    pool = session.get(ResourcePool, row.pool_id)
    assert pool is not None
    session.expunge_all()
    return row, pool


def _after_call(scaled_id: int, provider_id: str | None, state: str | None, failure: str | None) -> None:
    def write(session: Session) -> None:
        row = session.get(ScaledNode, scaled_id)
        if row is None:
            return
        if provider_id is not None:
            row.provider_id = provider_id
        if state is not None and SCALED_NODE.allowed(row.state, state):  # else another pass moved it on
            SCALED_NODE.move(row, state)
        if failure is not None:
            pool = session.get(ResourcePool, row.pool_id)
            if pool is not None:
                _record(session, pool, "LAUNCH_FAILED", [row.hostname], failure, utcnow())

    with_retry(write)


def run_pass(now: datetime | None = None) -> list[int]:
    """One autoscaling pass (beat calls it every AUTOSCALE_INTERVAL); the ids of the nodes launched."""
    launched = with_retry(lambda s: plan(s, now or utcnow()))
    perform_launches(launched)
    perform_terminations()
    return launched


def open_nodes_json(session: Session, pool_ids: list[int]) -> dict[int, list[dict]]:
    """pool id -> its scaled nodes not yet terminated (for the pool's JSON)."""
    out: dict[int, list[dict]] = {i: [] for i in pool_ids}
    if not pool_ids:
        return out
    rows = session.scalars(
        select(ScaledNode)
        .where(ScaledNode.pool_id.in_(pool_ids), ScaledNode.state.in_(p.OPEN_STATES))
        .order_by(ScaledNode.id)
    )
    for r in rows:
        out[r.pool_id].append(
            {
                "hostname": r.hostname,
                "state": r.state,
                "provider_id": r.provider_id,
                "launched": iso(r.launched),
                "idle_since": iso(r.idle_since),
            }
        )
    return out


def recent_decisions(session: Session, limit: int = 20) -> list[dict]:
    rows = session.scalars(select(AutoscaleDecision).order_by(AutoscaleDecision.id.desc()).limit(limit))
    return [
        {
            "pool": r.pool_name,
            "action": r.action,
            "hostnames": r.hostnames,
            "reason": r.reason,
            "created": iso(r.created),
        }
        for r in rows
    ]
