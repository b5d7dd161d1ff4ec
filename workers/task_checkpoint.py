"""What the local cluster checkpoints about its running tasks, so that a restart after a crash finds them.

A Mesos agent checkpoints its tasks and, restarted, recovers them. The local cluster's tasks run in
their own sessions and so outlive a cluster killed with SIGKILL. Each running task leaves a file
`<var>/local-cluster/running/<task id>` holding its process id and the process's start time; a
restarted cluster kills every such process that is still the same process (same id, same start
time), before it answers anyone, so the scheduler's reconciliation (which then gets TASK_LOST for
those tasks) never runs a job while its first copy still runs.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import psutil

log = logging.getLogger("workers.local_cluster")


class TaskCheckpoint:
    def __init__(self, var_dir: Path) -> None:
        self.directory = var_dir / "local-cluster" / "running"

    def record(self, task_id: str, pid: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:
            return  # already gone: nothing to find after a restart
        temporary = self.directory / f".{task_id}.tmp"
        temporary.write_text(f"{pid} {started!r}\n")
        temporary.replace(self.directory / task_id)

    def forget(self, task_id: str) -> None:
        (self.directory / task_id).unlink(missing_ok=True)

    def kill_orphans(self) -> list[str]:
        """Kill (with their process groups) the tasks a previous run of the cluster left running; their ids."""
        killed: list[str] = []
        if not self.directory.is_dir():
            return killed
        for path in self.directory.iterdir():
            if path.name.startswith("."):
                path.unlink(missing_ok=True)
                continue
            try:
                pid_text, started_text = path.read_text().split()
                pid, started = int(pid_text), float(started_text)
                same = abs(psutil.Process(pid).create_time() - started) < 0.01
            except (OSError, ValueError, psutil.Error):
                same = False
            if same:
                try:
                    os.killpg(pid, signal.SIGKILL)  # the task leads its own session and process group
                except (ProcessLookupError, PermissionError):
                    pass
                else:
                    killed.append(path.name)
                    log.warning(
                        "killed task %s (pid %d), left running by a previous run of the cluster", path.name, pid
                    )
            path.unlink(missing_ok=True)
        return killed
