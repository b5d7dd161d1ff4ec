"""Out-of-memory kills of a DOCKER task's container, seen as Mesos' memory isolator sees them.

Each container runs under a parent cgroup of its own, `/scale-tasks/<container id>` (podman's
`--cgroup-parent` with the cgroupfs manager), which outlives the container so the agent can ask, once the
run ended, whether the kernel killed something in it for memory:

- cgroup v1: the kernel counts a kill in the victim's own cgroup, which the runtime removes with the
  container, and never in its parents. So the task's memory limit is set on the parent instead of on the
  container, and an eventfd registered on the parent's `memory.oom_control` (the kernel notifies the
  cgroup that went over its limit) counts the kills. An agent restarted while the task ran registers
  again and misses only kills that happened while it was down.
- cgroup v2: the parent's `memory.events` counts its descendants' kills; the limit stays on the container.

Where no parent can be made (not root, no memory controller), `watch` gives None and the container gets
its limit as before, without this detection.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "scale-tasks"
REMOVE_TRIES = 20  # the runtime's monitor (conmon) leaves its cgroup just after the container ends


class MemoryWatch:
    """The parent cgroup of one container: its name for the runtime, whether it holds the memory limit,
    and how many OOM kills happened under it."""

    def __init__(self, directory: Path, name: str, limits_memory: bool, eventfd: int | None) -> None:
        self.directory = directory
        self.cgroup_parent = name  # what `--cgroup-parent` takes
        self.limits_memory = limits_memory  # True: do not pass --memory, the parent enforces it
        self._eventfd = eventfd

    def oom_kills(self) -> int:
        if self._eventfd is not None:
            try:
                return os.eventfd_read(self._eventfd)
            except OSError:  # BlockingIOError included: nothing was killed
                return 0
        try:
            for line in (self.directory / "memory.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def max_used_mib(self) -> float:
        """The most memory the container (and its monitor) used: v1's max_usage, v2's peak."""
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            try:
                return int((self.directory / name).read_text()) / (1024 * 1024)
            except (OSError, ValueError):
                continue
        return 0.0

    def remove(self) -> None:
        """Close the counter and remove the parent (and the monitor's cgroup under it) once they are empty."""
        if self._eventfd is not None:
            os.close(self._eventfd)
            self._eventfd = None
        for _ in range(REMOVE_TRIES):
            try:
                for child in self.directory.iterdir():
                    if child.is_dir():
                        child.rmdir()
                self.directory.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)
        log.warning("could not remove the cgroup %s (processes are still in it)", self.directory)


def _v1_memory() -> Path | None:
    path = CGROUP_ROOT / "memory"
    return path if (path / "memory.oom_control").exists() else None


def _unified() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def watch(container_id: str, mem_mib: float, create: bool = True) -> MemoryWatch | None:
    """The watch for a container about to run (`create`), or for one an agent finds after its restart."""
    name = f"/{PARENT}/{container_id}"
    v1 = _v1_memory()
    directory = (v1 or CGROUP_ROOT) / PARENT / container_id
    if v1 is None and not _unified():
        return None
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        elif not directory.is_dir():
            return None
        if v1 is None:
            return MemoryWatch(directory, name, False, None)
        if create and mem_mib > 0:
            limit = str(int(mem_mib * 1024 * 1024))
            (directory / "memory.limit_in_bytes").write_text(limit)
            swap = directory / "memory.memsw.limit_in_bytes"
            if swap.exists():  # memory plus swap: swapping never stretches the limit
                swap.write_text(limit)
        return MemoryWatch(directory, name, mem_mib > 0, _register_oom_eventfd(directory))
    except OSError as exc:
        log.debug("no cgroup of its own for container %s: %s", container_id, exc)
        if create:
            MemoryWatch(directory, name, False, None).remove()
    return None


def _register_oom_eventfd(directory: Path) -> int:
    eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    control = os.open(directory / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
    try:
        (directory / "cgroup.event_control").write_text(f"{eventfd} {control}")
    except OSError:
        os.close(eventfd)
        raise
    finally:
        os.close(control)
    return eventfd
