"""Nodes: agents that send offers, their pause state, and what the scheduler may use."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Node


def register_agents(session: Session, agents: Iterable[dict]) -> dict[str, int]:
    """Create or refresh node rows for agents seen in offers; returns agent_id -> node id.

    An agent is `{"agent_id", "hostname", "port", "attributes"}`. A node that comes back with a new
    agent id (agent restart) keeps its row; an archived node becomes active again.
    """
    agents = list(agents)
    if not agents:
        return {}
    now = utcnow()
    by_host = {n.hostname: n for n in session.scalars(select(Node).where(Node.hostname.in_([a["hostname"] for a in agents])))}
    result = {}
    for a in agents:
        node = by_host.get(a["hostname"])
        if node is None:
            node = Node(hostname=a["hostname"], port=a.get("port") or 5051, slave_id=a["agent_id"],
                        attributes=a.get("attributes") or {}, created=now)
            session.add(node)
            by_host[a["hostname"]] = node
        node.slave_id = a["agent_id"]
        node.last_offer = now
        if a.get("port"):
            node.port = a["port"]
        if a.get("attributes") is not None:
            node.attributes = a["attributes"]
        if not node.is_active and node.archived is not None and a.get("reactivate", True):
            node.is_active = True
            node.archived = None
    session.flush()
    for a in agents:
        result[a["agent_id"]] = by_host[a["hostname"]].id
    return result


def paused_node_ids(session: Session) -> set[int]:
    """Nodes on which nothing new may start: paused (held) or inactive."""
    return set(session.scalars(select(Node.id).where((Node.is_paused.is_(True)) | (Node.is_active.is_(False)))))
