"""Mesos vocabulary shared by the scheduler, the local cluster and the status code."""

from __future__ import annotations

from pathlib import Path

from app.settings import settings

RESOURCE_NAMES = ("cpus", "mem", "disk")

# Mesos' own protobuf::isTerminalState: the task will not run again on its agent.
TERMINAL_TASK_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_LOST",
        "TASK_ERROR",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)
# Not terminal for Mesos (the agent may come back), but the scheduler ends the execution there;
# a later update for that task leads to a KILL.
EXECUTION_ENDING_TASK_STATES = TERMINAL_TASK_STATES | {"TASK_UNREACHABLE", "TASK_UNKNOWN"}

# The task is gone without an exit of its own: its agent, the master or the cluster lost it (an agent
# removed or restarted, a cluster restarted, a launch never delivered: the master answers an unknown
# task with TASK_LOST, REASON_RECONCILIATION). The job did not cause it, so it spends no try.
INFRASTRUCTURE_LOSS_TASK_STATES = frozenset(
    {"TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE", "TASK_UNKNOWN"}
)

# How an agent says a DOCKER task could not start (the local cluster's words; Mesos' Docker containerizer
# says "Failed to run 'docker pull ...'"): the errors image-not-found and container-runtime-missing.
NO_CONTAINER_RUNTIME = "No container runtime"
IMAGE_PULL_FAILED = "Failed to pull image"

TASK_PREFIX = "scale-exe-"


def task_id_for(exe_id: int) -> str:
    return f"{TASK_PREFIX}{exe_id}"


def exe_id_from_task(task_id: str) -> int | None:
    if not task_id.startswith(TASK_PREFIX):
        return None
    try:
        return int(task_id[len(TASK_PREFIX) :])
    except ValueError:
        return None


def exe_dir(exe_id: int) -> Path:
    return settings.executions_dir / str(exe_id)


def sandbox_path(framework_id: str, task_id: str) -> str:
    """The path an agent serves a command task's sandbox under (its executor id is the task id): the
    executor's latest run, a virtual path every Mesos agent attaches whatever its work directory."""
    return f"/frameworks/{framework_id}/executors/{task_id}/runs/latest"
