"""Rows every installation has: the scheduler row and the builtin errors. Safe to run again."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Error, Scheduler

# name -> (title, description, category)
BUILTIN_ERRORS: dict[str, tuple[str, str, str]] = {
    "unknown": ("Unknown", "The error that caused the failure is unknown.", "SYSTEM"),
    "database": ("Database", "The database could not be reached.", "SYSTEM"),
    "database-operation": ("Database Operation", "A database operation failed.", "SYSTEM"),
    "filesystem-io": ("Filesystem I/O", "A file could not be read or written.", "SYSTEM"),
    "nfs": ("NFS", "A network file system mount failed.", "SYSTEM"),
    "timeout": ("Timeout", "The execution ran longer than the job's timeout.", "SYSTEM"),
    "node-lost": ("Node Lost", "The node running the execution was lost.", "SYSTEM"),
    "system-process-lost": (
        "System Process Lost",
        "A system process (Strike, the clock) stopped without ending its job: killed, crashed, or its machine was lost.",
        "SYSTEM",
    ),
    "scheduler-lost": ("Scheduler Lost", "The scheduler lost track of the execution.", "SYSTEM"),
    "mesos-lost": ("Mesos Lost", "Mesos reported the task as lost.", "SYSTEM"),
    "task-launch": ("Task Launch", "The task could not be launched.", "SYSTEM"),
    "resource-starvation": ("Resource Starvation", "The execution waited too long for resources.", "SYSTEM"),
    "image-not-found": (
        "Image Not Found",
        "The job type's Docker image could not be found or pulled on the node.",
        "SYSTEM",
    ),
    "container-runtime-missing": (
        "Container Runtime Missing",
        "The node has no container runtime (docker or podman) to run the job type's Docker image.",
        "SYSTEM",
    ),
    "algorithm-unknown": (
        "Algorithm Unknown",
        "The algorithm failed with an exit code that is not mapped to an error.",
        "ALGORITHM",
    ),
    "missing-output": ("Missing Output", "A required output file was not produced.", "ALGORITHM"),
    "out-of-memory": (
        "Out of Memory",
        "The execution was killed for using more memory than its job type asks for (mem_required).",
        "ALGORITHM",
    ),
    "invalid-results-manifest": ("Invalid Results Manifest", "The results manifest could not be read.", "ALGORITHM"),
    "ingest-failed": ("Ingest Failed", "The file could not be stored into its workspace.", "DATA"),
}

# Exit codes of the pre and post steps (as in the original system).
STEP_EXIT_CODE_ERRORS = {1: "unknown", 2: "database", 3: "database-operation", 4: "filesystem-io", 5: "nfs"}


def seed(session: Session) -> None:
    if session.get(Scheduler, 1) is None:
        session.add(Scheduler(id=1))
    existing = set(session.scalars(select(Error.name)))
    for name, (title, description, category) in BUILTIN_ERRORS.items():
        if name not in existing:
            session.add(Error(name=name, title=title, description=description, category=category, is_builtin=True))
