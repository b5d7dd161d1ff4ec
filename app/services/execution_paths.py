"""Where an execution lives: its Mesos task id and its directories (no database, no other service)."""
from __future__ import annotations

from pathlib import Path

from app.settings import settings

TASK_PREFIX = "scale-exe-"


def task_id_for(exe_id: int) -> str:
    return f"{TASK_PREFIX}{exe_id}"


def exe_id_from_task(task_id: str) -> int | None:
    if not task_id.startswith(TASK_PREFIX):
        return None
    try:
        return int(task_id[len(TASK_PREFIX):])
    except ValueError:
        return None


def exe_dir(exe_id: int) -> Path:
    return settings.executions_dir / str(exe_id)


def sandbox_dir(task_id: str) -> Path:
    return settings.var_dir / "sandboxes" / task_id
