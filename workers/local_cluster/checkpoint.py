"""What the local cluster checkpoints so that, restarted, it recovers its tasks as a Mesos agent does.

Its tasks run in their own sessions and outlive the cluster. A restarted cluster reads this back, takes
over the tasks still running (their resources stay used, their end is reported when it comes), reports
the ones that ended meanwhile with their real exit status, and kills what it cannot account for before it
answers anyone. Under <var_dir>/local-cluster/ (the cluster's own; tasks never see it):

    lock                            held while a cluster uses this directory (two would kill each other's tasks)
    agents.json                     agent number -> agent id, so agent ids survive a restart
    frameworks/<framework id>.json  the FrameworkInfo of each subscribed framework
    tasks/<task id>/task.json       TaskInfo, resources, agent, framework, sandbox, the wrapper's pid and
                                    start time, the boot id; written as soon as the task's process exists
    tasks/<task id>/exit_status     written by task_wrapper.py when the command ends
    tasks/<task id>/killed          the framework asked to kill the task
    tasks/<task id>/shutdown        the cluster's own stop killed it (not the task's doing)

A task's directory goes when its terminal update is acknowledged, or its framework is removed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from app.settings import settings

log = logging.getLogger(__name__)

WRAPPER = Path(__file__).with_name("task_wrapper.py")
# The same wrapper in C (task_wrapper.c), built by `make` into the virtualenv: no interpreter start per task.
NATIVE_WRAPPER = Path(sys.prefix) / "bin" / "scale-task-wrapper"


def wrapper_command(status_file: Path, ready_fd: int, executable: str, argv: list[str]) -> list[str]:
    """The command line that runs a task's command under its wrapper (native when built and allowed)."""
    tail = [str(status_file), str(ready_fd), executable, *argv]
    if settings.LOCAL_CLUSTER_NATIVE_WRAPPER and os.access(NATIVE_WRAPPER, os.X_OK):
        return [str(NATIVE_WRAPPER), *tail]
    return [sys.executable, "-I", "-S", str(WRAPPER), *tail]


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start_time(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (no clock change moves it); None if it is gone or a
    zombie (it has ended; whoever inherited it has not reaped it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    try:
        return None if fields[0] == "Z" else int(fields[19])  # state is field 3, starttime field 22
    except (IndexError, ValueError):
        return None


def wait_for_exit(pid: int) -> None:
    """Block until `pid` (not necessarily our child) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def _write_json(path: Path, data: Any) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@dataclass
class RecoveredTask:
    """A task found in the checkpoint, and what became of it while no cluster watched."""

    task_id: str
    framework_id: str
    agent_id: str
    info: dict[str, Any]
    resources: dict[str, float]
    sandbox: Path
    pid: int
    alive: bool  # the very process the cluster started (same pid and start time) is still running
    exit_code: int | None  # the command's, as the wrapper recorded it
    killed: bool
    shutdown: bool
    same_boot: bool


class Checkpoint:
    def __init__(self, var_dir: Path) -> None:
        self.root = var_dir / "local-cluster"
        self.tasks_dir = self.root / "tasks"
        self.frameworks_dir = self.root / "frameworks"
        self._lock_file: int | None = None

    def lock(self) -> None:
        """Take the directory for this cluster; another cluster using it is an error, not a takeover."""
        self.tasks_dir.mkdir(parents=True, exist_ok=True)
        self.frameworks_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"another local cluster is using {self.root}") from None
        self._lock_file = fd

    def unlock(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    # ------------------------------------------------------------- agents and frameworks

    def agent_ids(self) -> dict[int, str]:
        saved = _read_json(self.root / "agents.json")
        return {int(k): str(v) for k, v in saved.items()} if isinstance(saved, dict) else {}

    def save_agent_ids(self, ids: dict[int, str]) -> None:
        _write_json(self.root / "agents.json", {str(k): v for k, v in ids.items()})

    def agent_ports(self) -> dict[int, int]:
        """Agent number -> the port of its HTTP endpoint: an agent restarts on its port, as a Mesos agent does."""
        saved = _read_json(self.root / "agent_ports.json")
        return {int(k): int(v) for k, v in saved.items()} if isinstance(saved, dict) else {}

    def save_agent_ports(self, ports: dict[int, int]) -> None:
        _write_json(self.root / "agent_ports.json", {str(k): v for k, v in ports.items()})

    def save_framework(self, framework_id: str, info: dict[str, Any]) -> None:
        _write_json(self.frameworks_dir / f"{framework_id}.json", info)

    def remove_framework(self, framework_id: str) -> None:
        (self.frameworks_dir / f"{framework_id}.json").unlink(missing_ok=True)

    def frameworks(self) -> dict[str, dict[str, Any]]:
        found = {}
        for path in sorted(self.frameworks_dir.glob("*.json")):
            info = _read_json(path)
            if isinstance(info, dict):
                found[path.stem] = info
        return found

    # ------------------------------------------------------------- tasks

    def task_dir(self, task_id: str) -> Path:
        return self.tasks_dir / task_id

    def exit_status_path(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "exit_status"

    def save_task(self, task_id: str, record: dict[str, Any]) -> None:
        _write_json(self.task_dir(task_id) / "task.json", {**record, "boot_id": boot_id()})

    def mark(self, task_id: str, name: str) -> None:
        try:
            (self.task_dir(task_id) / name).touch()
        except FileNotFoundError:
            pass  # the task has no process yet: nothing to recover

    def remove_task(self, task_id: str) -> None:
        shutil.rmtree(self.task_dir(task_id), ignore_errors=True)

    def recovered_tasks(self) -> list[RecoveredTask]:
        """Every checkpointed task; directories without a readable task.json (never started) are removed."""
        found = []
        current_boot = boot_id()
        for directory in sorted(self.tasks_dir.iterdir()):
            record = _read_json(directory / "task.json")
            try:
                task = self._recovered(directory, record, current_boot)
            except (KeyError, TypeError, ValueError):
                task = None
            if task is None:
                log.warning("checkpoint %s holds no usable task; removing it", directory)
                shutil.rmtree(directory, ignore_errors=True)
            else:
                found.append(task)
        return found

    def _recovered(self, directory: Path, record: Any, current_boot: str) -> RecoveredTask | None:
        if not isinstance(record, dict):
            return None
        pid = int(record["pid"])
        same_boot = record.get("boot_id") == current_boot
        started = process_start_time(pid) if same_boot else None
        try:
            exit_code: int | None = int((directory / "exit_status").read_text())
        except (OSError, ValueError):
            exit_code = None
        alive = started is not None and started == record["started"]
        if not alive and exit_code is None:
            log.warning(
                "task %s: its process %d is gone (started %s, checkpointed %s) and left no exit status",
                directory.name,
                pid,
                started,
                record["started"],
            )
        return RecoveredTask(
            task_id=directory.name,
            framework_id=str(record["framework_id"]),
            agent_id=str(record["agent_id"]),
            info=dict(record["info"]),
            resources={str(k): float(v) for k, v in record["resources"].items()},
            sandbox=Path(record["sandbox"]),
            pid=pid,
            alive=alive,
            exit_code=exit_code,
            killed=(directory / "killed").exists(),
            shutdown=(directory / "shutdown").exists(),
            same_boot=same_boot,
        )


def kill_orphans(sandbox_root: Path, keep: set[str]) -> list[str]:
    """Kill, with its process group, every process whose MESOS_SANDBOX lies under `sandbox_root` and whose
    MESOS_TASK_ID is not in `keep`; their task ids.

    Reading the initial environment, rather than a checkpoint written after the task starts, leaves no
    window in which a task started just before a crash goes unnoticed."""
    root = str(sandbox_root.resolve()) + os.sep
    killed: list[str] = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue  # gone, a zombie, or not ours to read
        task_id = env.get("MESOS_TASK_ID", "?")
        if not env.get("MESOS_SANDBOX", "").startswith(root) or task_id in keep or proc.pid == os.getpid():
            continue
        try:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
        killed.append(task_id)
        log.warning("killed task %s (pid %d), which no checkpoint accounts for", task_id, proc.pid)
    return killed
