"""Shared storage probes: jobs read their inputs and write their products through paths that must exist
on every agent (the executions directory, each active workspace's directory). When the scheduler first
sees an agent it runs a small task there that lists those paths (`ls -d -- <paths>`, no shell); an agent
that cannot see one of them is reported with the error (its node shows DEGRADED, /status/ warns)
instead of its jobs failing one by one without saying why.

Pure bookkeeping: the scheduler core launches the task and hands the probe's updates here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app.mesos import TERMINAL_TASK_STATES

PROBE_PREFIX = "scale-probe-"
PROBE_NEED = {"cpus": 0.01, "mem": 8.0}
# A probe with no answer after this long (lost on the way) is sent again.
RETRY_AFTER = 120.0
# Ends that say nothing about the agent's storage (the probe was lost, dropped or killed): asked again.
UNANSWERED_STATES = frozenset({"TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_KILLED"})


def is_probe(task_id: str) -> bool:
    return task_id.startswith(PROBE_PREFIX)


def probe_command(paths: list[str]) -> dict[str, Any]:
    return {"shell": False, "value": "ls", "arguments": ["ls", "-d", "--", *paths]}


@dataclass
class Probe:
    agent_id: str
    task_id: str | None = None
    launched: float | None = None
    answered: bool = False
    error: str | None = None
    answered_at: str | None = None


class StorageProbes:
    def __init__(self) -> None:
        self._by_agent: dict[str, Probe] = {}
        self._agent_of: dict[str, str] = {}
        self._numbers = itertools.count(1)

    def wanted(self, agent_ids: list[str], now: float) -> list[str]:
        """The agents to probe now: never probed, or probed without an answer for RETRY_AFTER seconds."""
        out = []
        for agent_id in agent_ids:
            probe = self._by_agent.get(agent_id)
            if probe is None or (
                not probe.answered and (probe.launched is None or now - probe.launched >= RETRY_AFTER)
            ):
                out.append(agent_id)
        return out

    def launched(self, agent_id: str, now: float) -> str:
        task_id = f"{PROBE_PREFIX}{next(self._numbers)}"
        probe = self._by_agent.setdefault(agent_id, Probe(agent_id))
        probe.task_id, probe.launched = task_id, now
        self._agent_of[task_id] = agent_id
        return task_id

    def on_end(self, task_id: str, state: str, detail: str | None) -> tuple[str, str | None] | None:
        """Record a probe's terminal update; (agent id, its error or None) when that settles the probe.

        A probe the cluster lost or dropped says nothing about the agent: it is sent again."""
        agent_id = self._agent_of.get(task_id)
        probe = self._by_agent.get(agent_id or "")
        if probe is None or probe.task_id != task_id or state not in TERMINAL_TASK_STATES:
            return None
        del self._agent_of[task_id]
        if state in UNANSWERED_STATES:
            probe.launched = None  # ask again
            return None
        probe.answered = True
        probe.error = None if state == "TASK_FINISHED" else (detail or state)
        probe.answered_at = datetime.now(timezone.utc).isoformat()
        return probe.agent_id, probe.error

    def errors(self, agent_id: str) -> list[dict[str, Any]]:
        """The agent's probe failure as a node error of /v6/status/ (none while it is fine or unknown)."""
        probe = self._by_agent.get(agent_id)
        if probe is None or not probe.error:
            return []
        return [
            {
                "name": "SHARED_STORAGE",
                "title": "Shared Storage Missing",
                "description": f"The node cannot see what jobs need: {probe.error}",
                "started": probe.answered_at,
                "last_updated": probe.answered_at,
            }
        ]

    def failing(self) -> dict[str, str]:
        """agent id -> error of every agent whose probe failed."""
        return {a: p.error for a, p in self._by_agent.items() if p.error}

    def forget(self, agent_id: str) -> None:
        """An agent that is gone (or came back with a new id) is probed afresh."""
        probe = self._by_agent.pop(agent_id, None)
        if probe is not None and probe.task_id:
            self._agent_of.pop(probe.task_id, None)
