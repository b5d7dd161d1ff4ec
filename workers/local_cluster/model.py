"""The master's records: agents, frameworks, their offers and tasks, and each framework's event stream.

Plain data with no I/O; the master (master.py) changes them under its lock.
"""

from __future__ import annotations

import collections
import json
import queue
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from workers.local_cluster.oom import MemoryWatch
from workers.local_cluster.resources import Resources, contains, subtract


class Stream:
    """One SUBSCRIBE connection: events are queued here and written by its HTTP handler thread."""

    def __init__(self, framework_id: str) -> None:
        self.id = str(uuid.uuid4())
        self.framework_id = framework_id
        self.queue: queue.Queue[bytes | None] = queue.Queue()
        self.closed = False

    def send(self, event: dict[str, Any]) -> None:
        if not self.closed:
            self.queue.put(json.dumps(event, separators=(",", ":")).encode("utf-8"))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put(None)


class Agent:
    def __init__(self, agent_id: str, number: int, hostname: str, total: Resources, attributes: dict[str, Any]) -> None:
        self.id = agent_id
        self.number = number
        self.hostname = hostname
        self.total = {k: round(float(v), 3) for k, v in total.items()}  # offers show 3 decimals
        self.attributes = dict(attributes or {})
        self.used: Resources = {}
        self.offered: Resources = {}
        self.registered = time.time()
        self.unreachable = False  # partitioned from the master: its tasks go on, their updates wait
        self.work_dir: Path | None = None  # where its sandboxes live (set by the cluster)
        self.port = 0  # of its own HTTP endpoint (files/read), once the cluster has started it

    def available(self) -> Resources:
        return subtract(subtract(self.total, self.used), self.offered)


class Offer:
    def __init__(
        self, offer_id: str, framework_id: str, agent: Agent, resources: Resources, role: str | None = None
    ) -> None:
        self.id = offer_id
        self.framework_id = framework_id
        self.agent = agent
        self.resources = resources
        self.role = role  # the allocation role of a MULTI_ROLE framework's offer; None otherwise


class Framework:
    def __init__(self, framework_id: str, info: dict[str, Any]) -> None:
        self.id = framework_id
        self.info = info
        self.stream: Stream | None = None
        self.suppressed = False
        self.filters: list[tuple[str, Resources, float]] = []  # (agent id, resources, expiry)
        self.disconnected_at: float | None = None

    @property
    def failover_timeout(self) -> float:
        try:
            return float(self.info.get("failover_timeout", 0.0))
        except (TypeError, ValueError):
            return 0.0

    def has_capability(self, name: str) -> bool:
        return any(c.get("type") == name for c in self.info.get("capabilities") or [])

    @property
    def multi_role(self) -> bool:
        return self.has_capability("MULTI_ROLE")

    @property
    def allocation_role(self) -> str:
        """The role this framework's offers are allocated to (the first of its roles; one offer per agent)."""
        if self.multi_role:
            return str((self.info.get("roles") or ["*"])[0])
        return str(self.info.get("role") or "*")

    def refuses(self, agent_id: str, resources: Resources, now: float) -> bool:
        self.filters = [f for f in self.filters if f[2] > now]
        return any(a == agent_id and contains(res, resources) for a, res, _ in self.filters)


class Task:
    def __init__(
        self,
        task_id: str,
        framework_id: str,
        agent: Agent | None,
        agent_id: str,
        info: dict[str, Any],
        resources: Resources,
    ) -> None:
        self.id = task_id
        self.framework_id = framework_id
        self.agent = agent
        self.agent_id = agent_id
        self.info = info
        self.name = info.get("name", "")
        self.resources = resources
        self.holds_resources = False
        self.state = "TASK_STAGING"
        self.status: dict[str, Any] = {}
        self.pending: collections.deque[dict[str, Any]] = collections.deque()  # updates not yet acknowledged
        self.last_sent = 0.0
        self.proc: subprocess.Popen | None = None  # None for a task recovered from the checkpoint
        self.pid: int | None = None  # the task wrapper's: it leads the task's session and process group
        self.sandbox: Path | None = None
        self.container_id: str | None = None  # of its run: the last part of its sandbox path
        self.exited = False
        self.kill_requested = False
        self.memory_exceeded: tuple[float, float] | None = None  # (limit, used) MiB when killed for it
        self.memory_watch: MemoryWatch | None = None  # a DOCKER task's own cgroup, where OOM kills are counted
        self.kill_timer: threading.Timer | None = None
