"""System jobs: the Strike process and the clock, shown as RUNNING jobs of the system job types
`scale-strike` and `scale-clock` (as the specification's examples show them), one execution per run.

These processes are not Mesos tasks: their executions have no task id, so the scheduler never tracks,
kills or times them out, and the reconcile never finishes them. Instead each process beats on its
executions (`heartbeat`); the periodic reconcile fails an execution whose heartbeat stopped
(`system-process-lost`, saying how long it was silent), and the job with it. A process that starts
again makes a new execution of the same job; one stopped cleanly ends it CANCELED.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Job, JobExecution, JobType, JobTypeRevision, Node, Strike
from app.services.executions import error_by_name
from app.services.jobs import current_revision
from app.settings import settings
from app.specs.trigger_config import parse_schedule
from app.states import EXECUTION, JOB

STRIKE_JOB_TYPE = "scale-strike"
CLOCK_JOB_TYPE = "scale-clock"
LOST_ERROR = "system-process-lost"
SYSTEM_JOB_TYPES = {
    STRIKE_JOB_TYPE: dict(
        title="Scale Strike", description="Monitors a directory for incoming files to ingest", priority=5
    ),
    CLOCK_JOB_TYPE: dict(title="Scale Clock", description="Fires clock trigger rules on their schedule", priority=1),
}
_NO_DATA = {"version": "1.0", "input_data": [], "output_data": []}


@dataclass(frozen=True, slots=True)
class Process:
    hostname: str
    pid: int
    log_path: str | None = None

    @classmethod
    def this(cls, log_name: str | None = None) -> Process:
        log_path = str(settings.var_dir / "logs" / f"{log_name}.log") if log_name else None
        return cls(socket.gethostname(), os.getpid(), log_path)

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.hostname}"


def system_job_type(session: Session, name: str) -> JobType:
    """The system job type `name` 1.0, created on first use (a concurrent creator wins, we read its row)."""
    query = select(JobType).where(JobType.name == name, JobType.version == "1.0")
    found = session.scalar(query)
    if found is not None:
        return found
    now = utcnow()
    interface = {"version": "1.0", "command": f"scale {name}", "input_data": [], "output_data": []}
    job_type = JobType(
        name=name,
        version="1.0",
        category="system",
        is_system=True,
        is_long_running=True,
        icon_code="f013",
        interface=interface,
        error_mapping={"version": "1.0", "exit_codes": {}},
        timeout=0,
        max_tries=1,
        cpus_required=0.0,
        mem_required=0.0,
        disk_out_const_required=0.0,
        revision_num=1,
        created=now,
        last_modified=now,
        **SYSTEM_JOB_TYPES[name],
    )
    try:
        with session.begin_nested():
            session.add(job_type)
            session.flush()
            session.add(JobTypeRevision(job_type_id=job_type.id, revision_num=1, interface=interface, created=now))
            session.flush()
    except IntegrityError:
        found = session.scalar(query)
        assert found is not None
        return found
    return job_type


def _new_job(session: Session, job_type: JobType, now: datetime) -> Job:
    revision = current_revision(session, job_type)
    job = Job(
        job_type_id=job_type.id,
        job_type_rev_id=revision.id,
        status="PENDING",
        priority=job_type.priority,
        timeout=0,
        max_tries=0,
        cpus_required=0.0,
        mem_required=0.0,
        data=dict(_NO_DATA),
        created=now,
        last_status_change=now,
        last_modified=now,
    )
    session.add(job)
    session.flush()
    return job


def _end(session: Session, exe: JobExecution, job: Job, status: str, message: str, now: datetime) -> None:
    """End one execution and its job (FAILED with system-process-lost, or CANCELED)."""
    EXECUTION.move(exe, status, now)
    exe.task_message = message
    if status == "FAILED":
        exe.error_id = job.error_id = error_by_name(session, LOST_ERROR).id
    if job.status == "RUNNING":
        JOB.move(job, status, now)
    job.last_modified = now


def start(session: Session, job_type_name: str, job: Job | None, process: Process) -> JobExecution:
    """A new RUNNING execution of `job` (a new job of the type when None) for `process`. An execution
    still RUNNING from an earlier process fails first, saying this process replaced it."""
    now = utcnow()
    if job is None:
        job = _new_job(session, system_job_type(session, job_type_name), now)
    for old in session.scalars(
        select(JobExecution).where(JobExecution.job_id == job.id, JobExecution.status == "RUNNING")
    ):
        _end(session, old, job, "FAILED", f"{process} started while this run had not ended: it stopped unseen", now)
    if job.status != "QUEUED":
        JOB.move(job, "QUEUED", now)
    JOB.move(job, "RUNNING", now)
    job.started = job.started or now
    job.num_exes += 1
    job.max_tries = job.num_exes  # nothing retries a system job: its process starts it again
    job.error_id = None
    node_id = session.scalar(select(Node.id).where(Node.hostname == process.hostname, Node.is_active.is_(True)))
    exe = JobExecution(
        job_id=job.id,
        exe_num=job.num_exes,
        status="RUNNING",
        timeout=0,
        node_id=node_id,
        command_arguments=str(process),
        stdout_path=process.log_path,
        queued=now,
        started=now,
        job_started=now,
        heartbeat=now,
        created=now,
        last_modified=now,
    )
    session.add(exe)
    session.flush()
    return exe


def beat(session: Session, exe_ids: list[int]) -> set[int]:
    """Record that the process still runs these executions; the ids that are no longer RUNNING
    (failed as lost, or ended by someone else): the process starts new ones."""
    if not exe_ids:
        return set()
    session.execute(
        update(JobExecution)
        .where(JobExecution.id.in_(exe_ids), JobExecution.status == "RUNNING")
        .values(heartbeat=utcnow())
    )
    running = set(
        session.scalars(select(JobExecution.id).where(JobExecution.id.in_(exe_ids), JobExecution.status == "RUNNING"))
    )
    return set(exe_ids) - running


def stop(session: Session, exe_id: int, why: str) -> None:
    """End the execution CANCELED (its process stopped cleanly, or stopped serving what it was for)."""
    exe = session.get(JobExecution, exe_id)
    if exe is not None and exe.status == "RUNNING":
        _end(session, exe, exe.job, "CANCELED", why, utcnow())


def fail_silent(session: Session, now: datetime | None = None) -> list[int]:
    """Fail every system execution whose heartbeat is older than its timeout; their ids."""
    now = now or utcnow()
    rows = session.execute(
        select(JobExecution, JobType.name)
        .join(Job, Job.id == JobExecution.job_id)
        .join(JobType, JobType.id == Job.job_type_id)
        .where(JobType.is_system.is_(True), JobExecution.status == "RUNNING", JobExecution.task_id.is_(None))
    ).all()
    failed = []
    for exe, name in rows:
        limit = silence_limit(name)
        last = exe.heartbeat or exe.started or now
        silent = (now - last).total_seconds()
        if silent < limit:
            continue
        _end(
            session,
            exe,
            exe.job,
            "FAILED",
            f"{exe.command_arguments or 'its process'} was silent for {silent:.0f} s",
            now,
        )
        failed.append(exe.id)
    return failed


def silence_limit(job_type_name: str) -> float:
    """Seconds without a heartbeat after which a system execution is lost (the clock beats once a tick)."""
    if job_type_name == CLOCK_JOB_TYPE:
        return max(settings.SYSTEM_JOB_SILENCE, 3.0 * parse_schedule(settings.CLOCK_PERIOD))
    return settings.SYSTEM_JOB_SILENCE


# ---------------------------------------------------------------- the two processes


def strike_job(session: Session, strike_id: int, process: Process) -> int | None:
    """Start the Strike's system job for this process (creating it the first time); the execution id."""
    strike = session.get(Strike, strike_id)
    if strike is None:
        return None
    job = session.get(Job, strike.job_id) if strike.job_id is not None else None
    exe = start(session, STRIKE_JOB_TYPE, job, process)
    strike.job_id = exe.job_id
    return exe.id


def clock_beat(session: Session, process: Process) -> int:
    """Each clock tick: beat on the clock's RUNNING execution, or start one (the first tick, or after
    the clock was silent); the execution id."""
    job_type = system_job_type(session, CLOCK_JOB_TYPE)
    job = session.scalar(select(Job).where(Job.job_type_id == job_type.id).order_by(Job.id.desc()).limit(1))
    if job is not None:
        exe = session.scalar(
            select(JobExecution).where(JobExecution.job_id == job.id, JobExecution.status == "RUNNING").limit(1)
        )
        if exe is not None:
            exe.heartbeat = utcnow()
            return exe.id
    return start(session, CLOCK_JOB_TYPE, job, process).id
