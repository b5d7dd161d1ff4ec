"""Cluster operator actions (after Dynamic Cluster): hold, unhold, vacate and delete nodes; resource pools
that can be frozen, drained and restored; auto mode. All state is in the database, so it survives restarts.

Each function works inside the caller's transaction and raises `InvalidTransition` (a 400 in the API) with
the reason when the action is not allowed in the current state.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.autoscale.policy import OPEN_STATES
from app.models import JobExecution, Node, ResourcePool, ScaledNode, Scheduler
from app.services.nodes import node_state, pool_node_ids
from app.states import NODE, RESOURCE_POOL, InvalidTransition

HOLD_REASON = "Held by an operator"


def running_counts(session: Session, node_ids: Iterable[int]) -> dict[int, int]:
    ids = list(node_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(JobExecution.node_id, func.count())
        .where(JobExecution.node_id.in_(ids), JobExecution.status == "RUNNING")
        .group_by(JobExecution.node_id)
    )
    return {node_id: count for node_id, count in rows}


# ---------------------------------------------------------------- nodes


def _operator_state(node: Node) -> str:
    """The node's state as operator actions see it: being online or not changes none of them
    (an offline node may be held; unholding needs a held node, not merely one that offers again)."""
    state = node_state(node).name
    return "READY" if state in ("OFFLINE", "DEGRADED") else state


def hold_node(session: Session, node: Node, reason: str | None = None) -> None:
    """Nothing new starts on the node; its running executions finish."""
    NODE.check(_operator_state(node), "PAUSED", f"{node.id} ({node.hostname})")
    node.is_paused = True
    node.is_paused_errors = False
    node.pause_reason = reason or HOLD_REASON


def unhold_node(session: Session, node: Node) -> None:
    NODE.check(_operator_state(node), "READY", f"{node.id} ({node.hostname})")
    node.is_paused = False
    node.is_paused_errors = False
    node.pause_reason = None


def vacate_node_ids(session: Session, node_ids: Iterable[int]) -> list[int]:
    """Mark the running executions of these nodes to be killed and requeued without spending a try.

    The scheduler kills tasks whose execution has a kill_reason; finishing the TASK_KILLED update
    requeues the job (app.services.executions.finish_execution). Executions already being killed for
    another reason (canceled, timeout) keep that reason. Returns the execution ids marked.
    """
    ids = list(node_ids)
    if not ids:
        return []
    return list(
        session.scalars(
            update(JobExecution)
            .where(JobExecution.node_id.in_(ids), JobExecution.status == "RUNNING", JobExecution.kill_reason.is_(None))
            .values(kill_reason="vacate", last_modified=utcnow())
            .returning(JobExecution.id)
        )
    )


def vacate_node(session: Session, node: Node) -> list[int]:
    return sorted(vacate_node_ids(session, [node.id]))


def delete_node(session: Session, node: Node) -> None:
    """Retire a held, idle node: it is archived and stays out of scheduling even if its agent offers again."""
    NODE.check(_operator_state(node), "DELETED", f"{node.id} ({node.hostname})")
    running = running_counts(session, [node.id]).get(node.id, 0)
    if running:
        raise InvalidTransition(
            f"Node {node.id} ({node.hostname}) still has {running} running job execution(s): wait for them or vacate it first"
        )
    node.is_active = False
    node.archived = utcnow()


def update_node(session: Session, node: Node, changes: dict) -> None:
    """Apply PUT/PATCH fields (already type-checked). Un-pausing clears the reason; any pause change ends an
    automatic (error-rate) pause; is_active=false archives the node. Raises ValueError on a hostname clash."""
    hostname = changes.get("hostname")
    if hostname is not None and hostname != node.hostname:
        clash = session.scalar(select(Node.id).where(Node.hostname == hostname, Node.id != node.id))
        if clash is not None:
            raise ValueError(f"Hostname '{hostname}' is already used by node {clash}")
        node.hostname = hostname
    if changes.get("port") is not None:
        node.port = changes["port"]
    if changes.get("is_paused") is not None:
        node.is_paused = changes["is_paused"]
        node.is_paused_errors = False
    if "pause_reason" in changes:
        node.pause_reason = changes["pause_reason"]
    if not node.is_paused:
        node.pause_reason = None
    if changes.get("is_active") is not None and changes["is_active"] != node.is_active:
        node.is_active = changes["is_active"]
        node.archived = None if node.is_active else utcnow()


# ---------------------------------------------------------------- resource pools

SELECTOR_FIELDS = ("name", "hostname_pattern", "attribute_name", "attribute_value")
SCALING_FIELDS = ("provider", "min_nodes", "max_nodes", "node_cpus", "node_mem", "node_disk")
POOL_FIELDS = SELECTOR_FIELDS + SCALING_FIELDS


def pool_problems(session: Session, fields: dict, pool: ResourcePool | None = None) -> list[str]:
    """What is wrong with a pool's fields (merged over the existing pool for an update)."""
    merged = {name: getattr(pool, name) for name in POOL_FIELDS} if pool is not None else dict.fromkeys(POOL_FIELDS)
    merged.update(fields)
    problems = []
    name = merged["name"]
    if not name:
        problems.append("Field 'name' is required")
    else:
        clash = session.scalar(select(ResourcePool.id).where(ResourcePool.name == name))
        if clash is not None and (pool is None or clash != pool.id):
            problems.append(f"A resource pool named '{name}' already exists (id {clash})")
    if not merged["hostname_pattern"] and not merged["attribute_name"]:
        problems.append("A resource pool needs 'hostname_pattern' and/or 'attribute_name' to select its nodes")
    if merged["attribute_value"] is not None and not merged["attribute_name"]:
        problems.append("Field 'attribute_value' needs 'attribute_name'")
    return problems + _scaling_problems(merged)


def _scaling_problems(pool: dict) -> list[str]:
    """An autoscaled pool (max_nodes > 0) needs a known provider, a node shape, min <= max, and a
    hostname pattern its new nodes can be named after (only '*' wildcards)."""
    from app.autoscale.providers import PROVIDERS

    problems = []
    min_nodes, max_nodes = pool["min_nodes"] or 0, pool["max_nodes"] or 0
    if min_nodes > max_nodes:
        problems.append(f"Field 'min_nodes' ({min_nodes}) must not exceed 'max_nodes' ({max_nodes})")
    if pool["provider"] is not None and pool["provider"] not in PROVIDERS:
        problems.append(
            f"Field 'provider': no node provider '{pool['provider']}' (known: {', '.join(sorted(PROVIDERS))})"
        )
    if max_nodes > 0:
        if pool["provider"] is None:
            problems.append("An autoscaled pool (max_nodes > 0) needs 'provider'")
        for name in ("node_cpus", "node_mem"):
            if not pool[name]:
                problems.append(
                    f"An autoscaled pool (max_nodes > 0) needs '{name}' greater than 0 (the shape of its nodes)"
                )
        pattern = pool["hostname_pattern"] or ""
        if any(c in pattern for c in "?[]"):
            problems.append(
                "An autoscaled pool's 'hostname_pattern' may only use '*' wildcards (its new nodes are named after it)"
            )
        elif pattern and "*" not in pattern and max_nodes > 1:
            problems.append(
                "An autoscaled pool with max_nodes > 1 needs a '*' in 'hostname_pattern' (one name per node)"
            )
    return problems


def save_pool(session: Session, fields: dict, pool: ResourcePool | None = None) -> tuple[ResourcePool, list[int]]:
    """Create or update a pool (after `pool_problems` found nothing). A draining pool that gains nodes
    vacates them too; returns the pool and the execution ids vacated."""
    if pool is None:
        pool = ResourcePool(state="ACTIVE", created=utcnow())
        session.add(pool)
    for name in POOL_FIELDS:
        if name in fields:
            setattr(pool, name, fields[name])
    pool.last_modified = utcnow()
    session.flush()
    vacated = []
    if pool.state == "DRAINING":
        vacated = sorted(vacate_node_ids(session, pool_node_ids(session, [pool])[pool.id]))
    return pool, vacated


def _change_pool_state(pool: ResourcePool, target: str) -> None:
    now = utcnow()
    RESOURCE_POOL.move(pool, target, now, f"{pool.id} ({pool.name})")
    pool.last_modified = now


def freeze_pool(session: Session, pool: ResourcePool) -> None:
    """Nothing new starts on the pool's nodes; running executions finish."""
    _change_pool_state(pool, "FROZEN")


def restore_pool(session: Session, pool: ResourcePool) -> None:
    """Back to normal. Nodes held one by one stay held: pool and node pauses are kept apart."""
    _change_pool_state(pool, "ACTIVE")


def drain_pool(session: Session, pool: ResourcePool) -> list[int]:
    """Nothing new starts on the pool's nodes and their running executions are vacated (requeued)."""
    _change_pool_state(pool, "DRAINING")
    return sorted(vacate_node_ids(session, pool_node_ids(session, [pool])[pool.id]))


def delete_pool(session: Session, pool: ResourcePool) -> None:
    if pool.state != "ACTIVE":
        raise InvalidTransition(f"Resource pool {pool.id} ({pool.name}) is {pool.state}: restore it before deleting it")
    launched = session.scalar(
        select(func.count()).where(ScaledNode.pool_id == pool.id, ScaledNode.state.in_(OPEN_STATES))
    )
    if launched:
        raise InvalidTransition(
            f"Resource pool {pool.id} ({pool.name}) has {launched} launched node(s) not terminated yet: "
            "drain it first (the autoscaler terminates them when idle)"
        )
    session.delete(pool)


# ---------------------------------------------------------------- auto mode


def scheduler_row(session: Session) -> Scheduler:
    scheduler = session.get(Scheduler, 1)
    if scheduler is None:  # seeded at migration; recreate rather than fail
        scheduler = Scheduler(id=1)
        session.add(scheduler)
        session.flush()
    return scheduler


def set_auto_mode(session: Session, enabled: bool) -> Scheduler:
    scheduler = scheduler_row(session)
    scheduler.auto_mode = enabled
    return scheduler
