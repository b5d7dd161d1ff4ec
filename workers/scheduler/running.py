"""Tasks the scheduler launched and has not seen end: what they hold, when they time out, and the set
rebuilt from the database after a (re)registration."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from app.mesos import RESOURCE_NAMES


@dataclass
class RunningTask:
    exe_id: int
    job_id: int
    job_type_id: int
    agent_id: str
    cpus: float
    mem: float
    disk: float
    started: float
    timeout: int
    kill_sent: float = 0.0


class RunningTasks(dict[str, RunningTask]):
    """Task id -> RunningTask; only the scheduler loop touches it."""

    def totals(self) -> tuple[dict[str, dict[str, float]], dict[int, int]]:
        """Resources the tasks hold per agent, and how many run per job type."""
        by_agent: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(RESOURCE_NAMES, 0.0))
        by_type: dict[int, int] = defaultdict(int)
        for t in self.values():
            held = by_agent[t.agent_id]
            held["cpus"] += t.cpus
            held["mem"] += t.mem
            held["disk"] += t.disk
            by_type[t.job_type_id] += 1
        return by_agent, by_type

    def timed_out(self, now: float) -> list[int]:
        """Execution ids of tasks past their timeout that have not been sent a kill."""
        return [t.exe_id for t in self.values() if t.timeout and now > t.started + t.timeout and not t.kill_sent]

    def on_agent(self, agent_id: str) -> list[str]:
        return [task_id for task_id, t in self.items() if t.agent_id == agent_id]

    def recover(self, rows: Iterable[Any], agent_of_node: dict[int, str]) -> None:
        """Add the executions (rows of id, job_id, task_id, started, timeout, *_scheduled, job_type_id,
        node_id) whose task may still be alive and that are not known yet."""
        for r in rows:
            if r.task_id and r.task_id not in self:
                self[r.task_id] = RunningTask(
                    r.id,
                    r.job_id,
                    r.job_type_id,
                    agent_of_node.get(r.node_id, ""),
                    r.cpus_scheduled,
                    r.mem_scheduled,
                    r.disk_total_scheduled,
                    r.started.timestamp() if r.started else time.time(),
                    r.timeout,
                )
