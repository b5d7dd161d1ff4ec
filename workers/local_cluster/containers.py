"""DOCKER tasks on the local cluster: `podman run` (or `docker run`) of the task's image, as a Mesos agent's
Docker containerizer does: the task's arguments after the image, its volumes at their container paths, its
cpus and mem as limits, the sandbox at /mnt/mesos/sandbox, the container named and labelled after the task.

The run is the task's command under the task wrapper, so stdout/stderr land in the sandbox, a kill's
SIGTERM reaches the container (`--init` forwards it) and the exit status is the container's; an OOM kill
inside it is counted through a cgroup of its own (`oom.py`). A container
the runtime leaves behind (the run killed outright, a cluster that died) is removed by `remove` when its
task ends and by `sweep` when the cluster starts.
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
import subprocess
from pathlib import Path
from typing import Any

from app.mesos import IMAGE_PULL_FAILED, NO_CONTAINER_RUNTIME
from workers.local_cluster.oom import MemoryWatch

log = logging.getLogger(__name__)

SANDBOX_IN_CONTAINER = "/mnt/mesos/sandbox"
TASK_LABEL = "scale.task"
ROOT_LABEL = "scale.sandbox_root"  # which local cluster started it: a sweep touches only its own
NETWORKS = {"HOST": "host", "BRIDGE": "bridge", "NONE": "none", "USER": "bridge"}
PULL_TIMEOUT = 300.0


class ContainerError(Exception):
    """The container cannot be started; the message says why (the task fails with it)."""


def is_docker_task(info: dict[str, Any]) -> bool:
    return (info.get("container") or {}).get("type") == "DOCKER"


def runtime() -> str | None:
    """The Docker-compatible tool (LOCAL_CLUSTER_CONTAINER_RUNTIME, else podman, else docker), or None."""
    from app.settings import settings

    chosen = settings.LOCAL_CLUSTER_CONTAINER_RUNTIME.strip()
    if chosen.lower() == "none":
        return None
    return shutil.which(chosen) if chosen else shutil.which("podman") or shutil.which("docker")


def global_args(tool: str) -> list[str]:
    """podman's crun fails on hybrid cgroups (../shared/notes/containers.md): use runc when it is there."""
    if Path(tool).name == "podman" and shutil.which("runc"):
        return ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
    return []


def own_cgroups(tool: str) -> bool:
    """Whether the runtime takes a cgroup parent path of ours (podman with the cgroupfs manager)."""
    return "cgroupfs" in global_args(tool)


def container_name(task_id: str) -> str:
    return f"scale-{task_id}"


# runc refused nproc limits above about 20000 on these machines even where the agent's own is higher.
MAX_NPROC = 4096


def _ulimits() -> list[str]:
    """Explicit limits within the agent's own: the runtimes' defaults exceed what these machines allow
    (../shared/notes/containers.md)."""
    out = []
    for name, limit, cap in (("nofile", resource.RLIMIT_NOFILE, None), ("nproc", resource.RLIMIT_NPROC, MAX_NPROC)):
        soft, hard = resource.getrlimit(limit)
        if soft == resource.RLIM_INFINITY or hard == resource.RLIM_INFINITY:
            soft = hard = cap or 0
        if cap is not None:
            soft, hard = min(soft, cap), min(hard, cap)
        if soft and hard:
            out += ["--ulimit", f"{name}={soft}:{hard}"]
    return out


def run_argv(
    tool: str,
    task_id: str,
    info: dict[str, Any],
    sandbox: Path,
    sandbox_root: Path,
    resources: dict[str, float],
    environment: dict[str, str],
    memory: MemoryWatch | None = None,
) -> list[str]:
    """The `run` command line of a DOCKER TaskInfo (no shell: the arguments are passed as they are); with
    `memory`, the container runs under that cgroup, which may hold the memory limit itself."""
    container = info.get("container") or {}
    docker = container.get("docker") or {}
    image = docker.get("image")
    if not image:
        raise ContainerError("Failed to launch container: the DockerInfo has no image")
    argv = [tool, *global_args(tool), "run", "--rm", "--init", "--name", container_name(task_id)]
    argv += ["--label", f"{TASK_LABEL}={task_id}", "--label", f"{ROOT_LABEL}={sandbox_root}"]
    argv += ["--network", NETWORKS.get(str(docker.get("network") or "HOST"), "host")]
    argv += ["-v", f"{sandbox}:{SANDBOX_IN_CONTAINER}:rw"]
    for volume in container.get("volumes") or []:
        mode = "ro" if volume.get("mode") == "RO" else "rw"
        host = volume.get("host_path") or volume.get("container_path")
        argv += ["-v", f"{host}:{volume['container_path']}:{mode}"]
    cpus = resources.get("cpus", 0.0)
    if cpus > 0:
        argv += ["--cpus", f"{cpus:g}"]
    mem = resources.get("mem", 0.0)
    if memory is not None:
        argv += ["--cgroup-parent", memory.cgroup_parent]
    if mem > 0 and not (memory is not None and memory.limits_memory):
        argv += ["--memory", f"{int(mem)}m"]
    if docker.get("privileged"):
        argv.append("--privileged")
    for param in docker.get("parameters") or []:
        argv.append(f"--{param['key']}={param.get('value', '')}")
    argv += _ulimits()
    for key, value in {**environment, "MESOS_SANDBOX": SANDBOX_IN_CONTAINER}.items():
        argv += ["-e", f"{key}={value}"]
    command = info.get("command") or {}
    if command.get("shell", True):  # Mesos: `sh -c value` inside the image
        args = ["/bin/sh", "-c", str(command.get("value", ""))]
    else:
        args = [str(a) for a in command.get("arguments") or []]
    return [*argv, str(image), *args]


def prepare(tool: str | None, info: dict[str, Any], agent_hostname: str) -> str:
    """The runtime to use, once the image is there (pulled if missing or forced); ContainerError otherwise."""
    if tool is None:
        raise ContainerError(
            f"{NO_CONTAINER_RUNTIME} on agent {agent_hostname}: install podman or docker, "
            "or name one in LOCAL_CLUSTER_CONTAINER_RUNTIME"
        )
    docker = (info.get("container") or {}).get("docker") or {}
    image = str(docker.get("image") or "")
    base = [tool, *global_args(tool)]
    present = subprocess.run([*base, "image", "inspect", image], capture_output=True, timeout=60).returncode == 0
    if present and not docker.get("force_pull_image"):
        return tool
    try:
        pulled = subprocess.run([*base, "pull", image], capture_output=True, text=True, timeout=PULL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ContainerError(f"{IMAGE_PULL_FAILED} {image}: no answer in {PULL_TIMEOUT:.0f} s") from None
    if pulled.returncode != 0 and not present:
        last = (pulled.stderr.strip().splitlines() or ["the runtime gave no reason"])[-1]
        raise ContainerError(f"{IMAGE_PULL_FAILED} {image}: {last}")
    return tool


def remove(tool: str | None, task_id: str) -> None:
    """Make sure no container of the task is left (after its run ended, however it ended)."""
    if tool is None:
        return
    try:
        subprocess.run([tool, *global_args(tool), "rm", "-f", container_name(task_id)], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not remove the container of task %s: %s", task_id, exc)


def sweep(sandbox_root: Path, keep: set[str]) -> list[str]:
    """Remove this cluster's containers whose task it does not run (the cluster died with them running)."""
    tool = runtime()
    if tool is None:
        return []
    listed = subprocess.run(
        [tool, *global_args(tool), "ps", "-a", "--filter", f"label={ROOT_LABEL}={sandbox_root}", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if listed.returncode != 0:
        return []
    try:
        rows = json.loads(listed.stdout or "[]")
    except ValueError:
        rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]  # docker: one per line
    removed = []
    for row in rows if isinstance(rows, list) else [rows]:
        labels = row.get("Labels") or {}
        task_id = labels.get(TASK_LABEL) if isinstance(labels, dict) else None
        if task_id and task_id not in keep:
            remove(tool, task_id)
            removed.append(task_id)
    return removed


def task_environment(command: dict[str, Any]) -> dict[str, str]:
    """The CommandInfo's variables: what a container gets (not the agent's own environment)."""
    return {
        str(v["name"]): str(v.get("value", ""))
        for v in (command.get("environment") or {}).get("variables") or []
        if v.get("type", "VALUE") == "VALUE" and v.get("name")
    }
