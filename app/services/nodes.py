"""Nodes: agents that send offers, their pause state, and what the scheduler may use."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Node, ResourcePool
from app.settings import settings

# Resource pool states in which nothing new may start on the pool's nodes.
BLOCKING_POOL_STATES = ("FROZEN", "DRAINING")


@dataclass(frozen=True)
class NodeState:
    name: str
    title: str
    description: str

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description}


NODE_STATES = {
    "READY": NodeState("READY", "Ready", "Node is ready to run new jobs."),
    "PAUSED": NodeState(
        "PAUSED", "Paused", "Node is paused, so no new jobs will be scheduled. Existing jobs will continue to run."
    ),
    "DEGRADED": NodeState("DEGRADED", "Degraded", "Node reports errors; it still runs jobs."),
    "OFFLINE": NodeState("OFFLINE", "Offline", "Node has not offered resources lately, so no jobs can run on it."),
    "DELETED": NodeState("DELETED", "Deleted", "Node was removed from the cluster."),
}


def register_agents(session: Session, agents: Iterable[dict]) -> dict[str, int]:
    """Create or refresh node rows for agents seen in offers; returns agent_id -> node id.

    An agent is `{"agent_id", "hostname", "port", "attributes"}`. A node that comes back with a new
    agent id (agent restart) keeps its row; an archived node becomes active again, except one an
    operator deleted (held, then archived): that one stays out until it is re-activated by hand.
    """
    agents = list(agents)
    if not agents:
        return {}
    now = utcnow()
    by_host = {
        n.hostname: n for n in session.scalars(select(Node).where(Node.hostname.in_([a["hostname"] for a in agents])))
    }
    result = {}
    for a in agents:
        node = by_host.get(a["hostname"])
        if node is None:
            node = Node(
                hostname=a["hostname"],
                port=a.get("port") or 5051,
                slave_id=a["agent_id"],
                attributes=a.get("attributes") or {},
                created=now,
            )
            session.add(node)
            by_host[a["hostname"]] = node
        node.slave_id = a["agent_id"]
        node.last_offer = now
        if a.get("port"):
            node.port = a["port"]
        if a.get("attributes") is not None:
            node.attributes = a["attributes"]
        deleted = not node.is_active and node.is_paused
        if not node.is_active and node.archived is not None and not deleted and a.get("reactivate", True):
            node.is_active = True
            node.archived = None
    session.flush()
    for a in agents:
        result[a["agent_id"]] = by_host[a["hostname"]].id
    return result


# ---------------------------------------------------------------- resource pools


def pool_matches(pool: ResourcePool, hostname: str, attributes: dict | None) -> bool:
    """A node belongs to a pool when it matches every selector the pool sets (hostname glob, attribute)."""
    if pool.hostname_pattern and not fnmatch.fnmatchcase(hostname.lower(), pool.hostname_pattern.lower()):
        return False
    if pool.attribute_name:
        value = (attributes or {}).get(pool.attribute_name)
        if value is None:
            return False
        if pool.attribute_value is not None and str(value) != pool.attribute_value:
            return False
    return bool(pool.hostname_pattern or pool.attribute_name)


def pool_node_ids(
    session: Session, pools: Sequence[ResourcePool], include_inactive: bool = False
) -> dict[int, list[int]]:
    """pool id -> ids of the nodes it holds."""
    result: dict[int, list[int]] = {p.id: [] for p in pools}
    if not pools:
        return result
    stmt = select(Node.id, Node.hostname, Node.attributes).order_by(Node.id)
    if not include_inactive:
        stmt = stmt.where(Node.is_active.is_(True))
    for node_id, hostname, attributes in session.execute(stmt):
        for pool in pools:
            if pool_matches(pool, hostname, attributes):
                result[pool.id].append(node_id)
    return result


def blocking_pools_by_node(session: Session) -> dict[int, ResourcePool]:
    """node id -> a FROZEN or DRAINING pool it belongs to (for display and scheduling)."""
    pools = session.scalars(
        select(ResourcePool).where(ResourcePool.state.in_(BLOCKING_POOL_STATES)).order_by(ResourcePool.id)
    ).all()
    result: dict[int, ResourcePool] = {}
    for pool_id, node_ids in pool_node_ids(session, pools).items():
        pool = next(p for p in pools if p.id == pool_id)
        for node_id in node_ids:
            result.setdefault(node_id, pool)
    return result


def paused_node_ids(session: Session) -> set[int]:
    """Nodes on which nothing new may start: paused (held), inactive or deleted, or in a frozen or draining pool.

    Called by the scheduler on every sync, so the pool part only runs when some pool blocks.
    """
    ids = set(session.scalars(select(Node.id).where((Node.is_paused.is_(True)) | (Node.is_active.is_(False)))))
    if session.scalar(select(ResourcePool.id).where(ResourcePool.state.in_(BLOCKING_POOL_STATES)).limit(1)) is not None:
        ids.update(blocking_pools_by_node(session))
    return ids


# ---------------------------------------------------------------- derived node state


def is_online(node: Node, now: datetime | None = None, reported: dict | None = None) -> bool:
    """Online per the scheduler's report when there is one, else by the age of the last offer."""
    if reported is not None and "online" in reported:
        return bool(reported["online"])
    if node.last_offer is None:
        return False
    return (now or utcnow()) - node.last_offer <= timedelta(seconds=settings.NODE_OFFLINE_AFTER)


def node_state(node: Node, now: datetime | None = None, reported: dict | None = None) -> NodeState:
    """The node's own state (app.states.NODE): DELETED, PAUSED, OFFLINE, DEGRADED or READY.

    `reported` is the node's entry of the scheduler status report, when there is one.
    """
    if not node.is_active:
        return NODE_STATES["DELETED"]
    if node.is_paused:
        return NODE_STATES["PAUSED"]
    if not is_online(node, now, reported):
        return NODE_STATES["OFFLINE"]
    if reported is not None and reported.get("errors"):
        return NODE_STATES["DEGRADED"]
    return NODE_STATES["READY"]
