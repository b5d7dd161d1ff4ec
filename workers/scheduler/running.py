"""Tasks the scheduler launched and has not seen end."""

from __future__ import annotations

from dataclasses import dataclass


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
