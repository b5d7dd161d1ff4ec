"""Tasks a previous run of the local cluster left running, found and killed when the cluster starts.

The local cluster's tasks run in their own sessions and so outlive a cluster killed with SIGKILL. A
restarted cluster answers the scheduler's reconciliation with TASK_LOST for them, and the job runs
again: the first copy must not still be running then. Every task starts with MESOS_SANDBOX naming its
sandbox under the cluster's sandbox root, so the processes whose initial environment says so (the task
and whatever it started) are the orphans; they are killed before the cluster answers anyone. Reading the
environment, rather than a file written after the task starts, leaves no window in which a task started
just before the crash goes unnoticed. (A real agent would recover them; re-adopting them is not written.)
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import psutil

log = logging.getLogger("workers.local_cluster")


def kill_orphans(sandbox_root: Path) -> list[str]:
    """Kill every process whose MESOS_SANDBOX lies under `sandbox_root`, with its process group; their task ids."""
    root = str(sandbox_root.resolve()) + os.sep
    killed: list[str] = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue  # gone, a zombie, or not ours to read
        sandbox = env.get("MESOS_SANDBOX", "")
        if not sandbox.startswith(root) or proc.pid == os.getpid():
            continue
        task_id = env.get("MESOS_TASK_ID", "?")
        try:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
        killed.append(task_id)
        log.warning("killed task %s (pid %d), left running by a previous run of the cluster", task_id, proc.pid)
    return killed
