"""The job execution lifecycle: launch (with the pre step), task updates, finish (with the post step).

Every function is idempotent: running it again with the same ids changes nothing, so Celery's
at-least-once delivery and the periodic reconcile are safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from app.agent_files import AgentFilesError, execution_log
from app.command_line import build_argv, display_command_arguments
from app.db import utcnow
from app.models import Error, Job, JobExecution, Node, ScaleFile, Workspace
from app.settings import settings
from app.states import EXECUTION, JOB
from app.specs.base import SpecError
from app.specs.error_interface import error_name_for_exit_code
from app.specs.job_data import input_file_ids, output_workspace_ids
from app.specs.results_manifest import parse_artifact_lines, parse_results_manifest
from app.services import parse as parse_service
from app.services.queued_executions import add_executions, queue_executions, queued_execution_ids
from app.services.workspaces import WorkspacePathError, broker_for
from app.mesos import IMAGE_PULL_FAILED, INFRASTRUCTURE_LOSS_TASK_STATES, NO_CONTAINER_RUNTIME
from app.mesos import EXECUTION_ENDING_TASK_STATES, TASK_PREFIX, exe_dir, exe_id_from_task, sandbox_path, task_id_for  # noqa: F401

log = logging.getLogger(__name__)

TERMINAL_TASK_STATES = EXECUTION_ENDING_TASK_STATES
LIVE_TASK_STATES = ("TASK_RUNNING", "TASK_STARTING", "TASK_STAGING")
# TaskStatus.reason values (include/mesos/v1/mesos.proto) that say why a task ended without its own exit.
AGENT_LOSS_REASONS = frozenset(
    {
        "REASON_AGENT_DISCONNECTED",
        "REASON_AGENT_REMOVED",
        "REASON_AGENT_REMOVED_BY_OPERATOR",
        "REASON_AGENT_RESTARTED",
        "REASON_AGENT_UNKNOWN",
        "REASON_SLAVE_DISCONNECTED",
        "REASON_SLAVE_REMOVED",
        "REASON_SLAVE_RESTARTED",
        "REASON_SLAVE_UNKNOWN",
    }
)
LAUNCH_FAILURE_REASONS = frozenset(
    {"REASON_INVALID_OFFERS", "REASON_TASK_INVALID", "REASON_TASK_UNAUTHORIZED", "REASON_CONTAINER_LAUNCH_FAILED"}
)
ARG_MAX = os.sysconf("SC_ARG_MAX") if hasattr(os, "sysconf") else 131072
_EXIT_STATUS = re.compile(r"exited with status (-?\d+)")


@dataclass(frozen=True)
class Placement:
    """A queued job the scheduler placed on an agent."""

    job_id: int
    agent_id: str
    hostname: str
    node_id: int | None
    cpus: float
    mem: float
    disk: float
    agent_url: str = ""  # the agent's own HTTP endpoint, from its offer's `url` (where its files are read)


@dataclass
class LaunchSpec:
    exe_id: int
    job_id: int
    task_id: str
    agent_id: str
    name: str
    argv: list[str]
    cpus: float
    mem: float
    disk: float
    environment: dict[str, str] = field(default_factory=dict)
    timeout: int = 0
    container: ContainerSpec | None = None  # a job type with uses_docker runs its image


@dataclass(frozen=True)
class ContainerSpec:
    """What a DOCKER task needs: the image, and every path the command sees, mounted at the same path
    (`${input}` and `${job_output_dir}` stay valid inside): the execution directory read-write, the
    directories of the input files its links point to read-only."""

    image: str
    privileged: bool
    volumes: tuple[tuple[str, str], ...]  # (path, "RW" or "RO")


@dataclass
class FinishOutcome:
    exe_id: int
    job_id: int
    job_status: str
    recipe_update: bool = False
    paused_node_id: int | None = None


def exit_code_from_message(state: str, message: str | None) -> int | None:
    if state == "TASK_FINISHED":
        return 0
    match = _EXIT_STATUS.search(message or "")
    return int(match.group(1)) if match else None


def error_by_name(session: Session, name: str) -> Error:
    error = session.scalar(select(Error).where(Error.name == name))
    if error is None:
        error = session.scalar(select(Error).where(Error.name == "unknown"))
    return error


# ---------------------------------------------------------------- launch


def _input_paths(session: Session, data: dict) -> tuple[dict[str, list[Path]], dict[str, list[ScaleFile]]]:
    ids_by_name = input_file_ids(data)
    all_ids = [i for ids in ids_by_name.values() for i in ids]
    files = (
        {
            f.id: f
            for f in session.scalars(
                select(ScaleFile).options(joinedload(ScaleFile.workspace)).where(ScaleFile.id.in_(all_ids))
            )
        }
        if all_ids
        else {}
    )
    paths, records = {}, {}
    for name, ids in ids_by_name.items():
        paths[name] = []
        records[name] = []
        for fid in ids:
            f = files[fid]
            paths[name].append(broker_for(f.workspace.json_config).resolve(f.file_path))
            records[name].append(f)
    return paths, records


def pre_step(session: Session, exe_id: int, job: Job) -> tuple[list[str], set[Path]]:
    """Create the execution's directories, link its input files, and build its argv; also returns the
    directories those links point into."""
    interface = job.job_type_rev.interface
    data = job.data or {}
    root = exe_dir(exe_id)
    output_dir = root / "outputs"
    output_dir.mkdir(parents=True, exist_ok=True)
    sources, _ = _input_paths(session, data)
    input_types = {i["name"]: i["type"] for i in interface.get("input_data", [])}
    linked: dict[str, list[str]] = {}
    source_dirs: set[Path] = set()
    for name, paths in sources.items():
        input_dir = root / "inputs" / name
        input_dir.mkdir(parents=True, exist_ok=True)
        linked[name] = []
        for src in paths:
            if not src.exists():
                raise FileNotFoundError(f"input file {src} is missing")
            link = input_dir / src.name
            source_dirs.add(src.resolve().parent)
            if not link.exists():
                os.symlink(src, link)
            linked[name].append(str(link))
        if input_types.get(name) == "files":
            linked[name] = [str(input_dir)]  # a "files" input is passed as the directory holding them
    return build_argv(interface, data, input_paths=linked, job_output_dir=str(output_dir)), source_dirs


def container_spec(job_type, exe_id: int, source_dirs: set[Path]) -> ContainerSpec | None:
    if not job_type.uses_docker:
        return None
    if not job_type.docker_image:
        raise NotLaunchable(f"job type {job_type.name} {job_type.version} uses Docker but names no docker_image")
    volumes = [(str(exe_dir(exe_id).resolve()), "RW")] + [(str(d), "RO") for d in sorted(source_dirs)]
    return ContainerSpec(job_type.docker_image, bool(job_type.docker_privileged), tuple(volumes))


def schedule_executions(
    session: Session, placements: Sequence[Placement], framework_id: str | None = None
) -> list[LaunchSpec]:
    """Launch placed jobs: their QUEUED executions become RUNNING; jobs no longer QUEUED are skipped
    (compare-and-set). Each execution records where its sandbox will be: agent, framework, task (and,
    once running, container).

    A handful of bulk statements whatever the number of jobs (claim the jobs, claim their executions,
    write the placements and pre step results): this is the scheduler's hot path.
    """
    if not placements:
        return []
    by_job = {p.job_id: p for p in placements}
    now = utcnow()
    claimed = set(
        JOB.compare_and_set(
            session, Job, [Job.id.in_(list(by_job))], "RUNNING", now, returning=Job.id, started=now
        ).scalars()
    )
    if not claimed:
        return []
    jobs = session.scalars(
        select(Job)
        .options(joinedload(Job.job_type), joinedload(Job.job_type_rev))
        .where(Job.id.in_(claimed))
        .order_by(Job.id)
    ).all()
    exe_by_job = queued_execution_ids(session, claimed)
    # A job queued without its execution (written by an older version, or by hand) gets one now.
    exe_by_job.update(add_executions(session, [j for j in jobs if j.id not in exe_by_job], now))
    EXECUTION.compare_and_set(
        session, JobExecution, [JobExecution.id.in_(list(exe_by_job.values()))], "RUNNING", now, synchronize=False
    )
    exe_ids = [exe_by_job[job.id] for job in jobs]
    launches, prepared, failed = [], [], []
    for job, exe_id in zip(jobs, exe_ids):
        p = by_job[job.id]
        task_id = task_id_for(exe_id)
        sandbox = sandbox_path(framework_id or "", task_id)
        values = {
            "id": exe_id,
            "task_id": task_id,
            "node_id": p.node_id,
            "cpus_scheduled": p.cpus,
            "mem_scheduled": p.mem,
            "disk_in_scheduled": job.disk_in_required,
            "disk_out_scheduled": job.disk_out_required,
            "disk_total_scheduled": p.disk,
            "started": now,
            "pre_started": now,
            "agent_id": p.agent_id,
            "agent_url": p.agent_url or None,
            "framework_id": framework_id,
            "stdout_path": f"{sandbox}/stdout",
            "stderr_path": f"{sandbox}/stderr",
            "pre_completed": utcnow(),
        }
        try:
            argv, source_dirs = pre_step(session, exe_id, job)
            check_launchable(argv)
            container = container_spec(job.job_type, exe_id, source_dirs)
        except Exception as exc:  # noqa: BLE001 - whatever one job raises fails that job alone
            error_name = (
                "filesystem-io" if isinstance(exc, (OSError, WorkspacePathError, RuntimeError)) else "task-launch"
            )
            log.warning("execution %s of job %s cannot be launched: %r", exe_id, job.id, exc)
            values.update(
                pre_exit_code=4 if error_name == "filesystem-io" else 1,
                task_state="TASK_ERROR",
                task_message=_storable(f"pre step failed: {type(exc).__name__}: {exc}"),
            )
            prepared.append(values)
            failed.append((exe_id, job, error_name))
            continue
        env = {
            "SCALE_JOB_ID": str(job.id),
            "SCALE_EXE_ID": str(exe_id),
            "SCALE_JOB_OUTPUT_DIR": str(exe_dir(exe_id) / "outputs"),
        }
        if container is not None:  # the execution shows which image ran (its environment is in its details)
            env["SCALE_DOCKER_IMAGE"] = container.image
        values.update(pre_exit_code=0, command_arguments=display_command_arguments(argv), environment=env)
        prepared.append(values)
        launches.append(
            LaunchSpec(
                exe_id=exe_id,
                job_id=job.id,
                task_id=task_id,
                agent_id=p.agent_id,
                name=f"{job.job_type.name} {job.job_type.version} job {job.id}",
                argv=argv,
                cpus=p.cpus,
                mem=p.mem,
                disk=p.disk,
                environment=env,
                timeout=job.timeout,
                container=container,
            )
        )
    session.execute(update(JobExecution), prepared)
    for exe_id, job, error_name in failed:
        _fail(session, session.get(JobExecution, exe_id), job, error_by_name(session, error_name))
    return launches


class NotLaunchable(ValueError):
    """An argument list no process could be given (the job fails alone, with `task-launch`)."""


def check_launchable(argv: Sequence[str]) -> None:
    """Refuse arguments that cannot be encoded, hold a NUL, or exceed what exec accepts."""
    total = 0
    for arg in argv:
        try:
            encoded = arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NotLaunchable(f"argument {arg!r} is not valid UTF-8: {exc.reason}") from None
        if b"\0" in encoded:
            raise NotLaunchable(f"argument {arg!r} holds a NUL character")
        total += len(encoded) + 1
    if total > ARG_MAX:
        raise NotLaunchable(f"the command line is {total} bytes, more than the {ARG_MAX} bytes exec accepts")


def _storable(text: str) -> str:
    """Text safe to store in any database column (no lone surrogates, no NUL)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\0", "\\0")


# ---------------------------------------------------------------- task updates


def record_task_updates(session: Session, updates: Iterable[dict], alive: list[str] | None = None) -> list[int]:
    """Record Mesos task updates; returns the ids of executions whose task has just ended.

    An update is `{"task_id", "state", "message", "reason", "source", "container_id", "timestamp" (epoch s)}`
    (all but the first two optional). The ids of tasks reported alive although their execution has ended
    (TASK_LOST, UNREACHABLE or UNKNOWN were not proof that they stopped, and the job may be running again
    elsewhere) are appended to `alive`: they must be killed.
    """
    by_exe: dict[int, dict] = {}
    for u in updates:
        exe_id = exe_id_from_task(u["task_id"])
        if exe_id is not None:
            previous = by_exe.get(exe_id)
            # keep the terminal update if a batch holds several for one task
            if previous is None or u["state"] in TERMINAL_TASK_STATES:
                by_exe[exe_id] = u
    if not by_exe:
        return []
    ended = []
    now = utcnow()
    unknown = set(by_exe)
    for exe in session.scalars(select(JobExecution).where(JobExecution.id.in_(list(by_exe)))):
        unknown.discard(exe.id)
        u = by_exe[exe.id]
        state = u["state"]
        when = datetime.fromtimestamp(u["timestamp"], tz=now.tzinfo) if u.get("timestamp") else now
        if u.get("container_id") and exe.container_id is None:
            exe.container_id = u["container_id"]  # the run's sandbox: runs/<container id> on the agent
        if state in LIVE_TASK_STATES:
            if exe.task_state is not None:
                if alive is not None:
                    alive.append(u["task_id"])
            elif exe.job_started is None and state == "TASK_RUNNING":
                exe.job_started = when
            continue
        if state not in TERMINAL_TASK_STATES or exe.task_state is not None:
            continue  # duplicate terminal update
        exe.task_state = state
        exe.task_message = u.get("message")
        exe.task_reason = u.get("reason")
        exe.task_source = u.get("source")
        exe.job_completed = when
        if exe.job_started is None:
            exe.job_started = when
        exe.job_exit_code = exit_code_from_message(state, u.get("message"))
        ended.append(exe.id)
    if alive is not None:  # a task of ours with no execution: nothing would ever finish it
        alive.extend(by_exe[i]["task_id"] for i in sorted(unknown) if by_exe[i]["state"] in LIVE_TASK_STATES)
    return ended


# ---------------------------------------------------------------- finish


def _fail(session: Session, exe: JobExecution, job: Job, error: Error) -> None:
    """Fail the execution; retry the job when the error allows it, else fail the job."""
    now = utcnow()
    EXECUTION.move(exe, "FAILED", now)
    exe.error_id = error.id
    job.last_modified = now
    retry = job.job_type.is_long_running or (error.category == "SYSTEM" and job.num_exes < job.max_tries)
    if retry:
        JOB.move(job, "QUEUED", now)
        queue_executions(session, [job.id])
    else:
        JOB.move(job, "FAILED", now)
        job.error_id = error.id


def _requeue_without_try(session: Session, exe: JobExecution, job: Job) -> None:
    now = utcnow()
    EXECUTION.move(exe, "CANCELED", now)
    job.max_tries += 1  # the vacated attempt is not spent
    JOB.move(job, "QUEUED", now)
    queue_executions(session, [job.id])


def _lost_to_infrastructure(session: Session, exe: JobExecution, job: Job) -> bool:
    """Whether the task was lost by the cluster, not ended by the job or by us, and the job has been
    requeued for such losses fewer than MAX_INFRASTRUCTURE_REQUEUES times (so a job cannot loop forever)."""
    if exe.task_state not in INFRASTRUCTURE_LOSS_TASK_STATES or exe.kill_reason is not None:
        return False
    earlier = session.scalar(
        select(func.count())
        .select_from(JobExecution)
        .where(
            JobExecution.job_id == job.id,
            JobExecution.id != exe.id,
            JobExecution.kill_reason.is_(None),
            JobExecution.task_state.in_(INFRASTRUCTURE_LOSS_TASK_STATES),
        )
    )
    return (earlier or 0) < settings.MAX_INFRASTRUCTURE_REQUEUES


def _error_for_task(session: Session, exe: JobExecution, job: Job) -> Error:
    state = exe.task_state
    if exe.kill_reason == "timeout":
        return error_by_name(session, "timeout")
    if exe.task_reason == "REASON_CONTAINER_LIMITATION_MEMORY":  # the OOM killer, not the algorithm's exit
        return error_by_name(session, "out-of-memory")
    if state == "TASK_FAILED" and exe.job_exit_code is not None:
        name = error_name_for_exit_code(job.job_type.error_mapping or {}, exe.job_exit_code)
        if name is None:
            name = "unknown" if job.job_type.is_system else "algorithm-unknown"
        return error_by_name(session, name)
    message = exe.task_message or ""
    if exe.task_reason == "REASON_CONTAINER_LAUNCH_FAILED" and NO_CONTAINER_RUNTIME in message:
        return error_by_name(session, "container-runtime-missing")
    if exe.task_reason == "REASON_CONTAINER_LAUNCH_FAILED" and (IMAGE_PULL_FAILED in message or " pull " in message):
        return error_by_name(session, "image-not-found")
    if state in ("TASK_ERROR", "TASK_DROPPED") or exe.task_reason in LAUNCH_FAILURE_REASONS:
        return error_by_name(session, "task-launch")
    if state in INFRASTRUCTURE_LOSS_TASK_STATES:
        agent_gone = (
            exe.task_reason in AGENT_LOSS_REASONS or "agent" in (exe.task_message or "").lower() or state != "TASK_LOST"
        )
        return error_by_name(session, "node-lost" if agent_gone else "mesos-lost")
    return error_by_name(session, "unknown")


def _read_manifest(output_dir: Path) -> dict:
    path = output_dir / "results_manifest.json"
    if not path.exists():
        return parse_results_manifest({"version": "1.1", "output_data": [], "parse_results": [], "errors": []})
    with open(path, encoding="utf-8") as fh:
        return parse_results_manifest(json.load(fh))


def _manifest_outputs(manifest: dict, artifacts: list[tuple[str, str]]) -> dict[str, list[str]]:
    outputs: dict[str, list[str]] = {}
    for entry in manifest.get("output_data", []):
        if "file" in entry:
            outputs.setdefault(entry["name"], []).append(entry["file"]["path"])
        for f in entry.get("files", []):
            outputs.setdefault(entry["name"], []).append(f["path"])
    for name, path in artifacts:
        if path not in outputs.get(name, []):
            outputs.setdefault(name, []).append(path)
    return outputs


def guess_media_type(file_name: str) -> str:
    import mimetypes

    extra = {
        ".json": "application/json",
        ".geojson": "application/vnd.geo+json",
        ".h5": "image/x-hdf5-image",
        ".ntf": "image/nitf",
        ".nitf": "image/nitf",
        ".xml": "application/xml",
        ".tif": "image/tiff",
        ".tiff": "image/tiff",
    }
    suffix = os.path.splitext(file_name)[1].lower()
    return extra.get(suffix) or mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def product_uuid(job: Job, output_name: str, file_name: str) -> str:
    """Stable across re-runs of the same job type on the same inputs."""
    inputs = sorted(i for ids in input_file_ids(job.data or {}).values() for i in ids)
    key = f"{job.job_type.name}:{job.job_type.version}:{output_name}:{file_name}:{inputs}"
    return hashlib.md5(key.encode()).hexdigest()


class AgentUnavailable(RuntimeError):
    """The agent holding the task's sandbox does not answer (yet): finish the execution later."""


def post_step(session: Session, exe: JobExecution, job: Job) -> Error | None:
    """Read the results, store product files, record results. Returns an error when it fails."""

    output_dir = exe_dir(exe.id) / "outputs"
    try:
        manifest = _read_manifest(output_dir)
    except (SpecError, ValueError, OSError) as exc:
        log.info("execution %s: invalid results manifest: %s", exe.id, exc)
        return error_by_name(session, "invalid-results-manifest")
    stdout_file = execution_log(exe, "stdout")
    try:
        stdout = b"".join(stdout_file.chunks()).decode("utf-8", "replace") if stdout_file else ""
    except AgentFilesError as exc:
        ended = exe.job_completed or utcnow()
        if utcnow() - ended < timedelta(seconds=settings.AGENT_FILES_WAIT):
            raise AgentUnavailable(str(exc)) from None  # left RUNNING: the reconcile finishes it later
        log.warning("execution %s: stdout unreadable for %ss: %s", exe.id, settings.AGENT_FILES_WAIT, exc)
        return error_by_name(session, "filesystem-io")
    outputs = _manifest_outputs(manifest, parse_artifact_lines(stdout))
    interface = job.job_type_rev.interface
    workspaces = output_workspace_ids(job.data or {})
    results_outputs = []
    for output in interface.get("output_data", []):
        name = output["name"]
        paths = outputs.get(name, [])
        if not paths:
            if output.get("required", True):
                log.info("execution %s: required output %s missing", exe.id, name)
                return error_by_name(session, "missing-output")
            continue
        workspace = session.get(Workspace, workspaces.get(name))
        if workspace is None:
            return error_by_name(session, "filesystem-io")
        broker = broker_for(workspace.json_config)
        file_ids = []
        for raw in paths:
            src = Path(raw) if os.path.isabs(raw) else output_dir / raw
            rel = f"{job.job_type.name}/{job.job_type.version}/job-{job.id}/{src.name}"
            try:
                stored = broker.store(src, rel)
            except (OSError, WorkspacePathError) as exc:
                log.warning("execution %s: storing %s failed: %s", exe.id, src, exc)
                return error_by_name(session, "filesystem-io")
            media_type = output.get("media_type") or guess_media_type(src.name)
            product = ScaleFile(
                file_type="PRODUCT",
                file_name=src.name,
                media_type=media_type,
                file_size=stored.stat().st_size,
                file_path=rel,
                workspace_id=workspace.id,
                job_type_id=job.job_type_id,
                job_id=job.id,
                job_exe_id=exe.id,
                is_operational=job.job_type.is_operational,
                is_published=True,
                has_been_published=True,
                published=utcnow(),
                uuid=product_uuid(job, name, src.name),
            )
            session.add(product)
            session.flush()
            file_ids.append(product.id)
        if output["type"] == "file":
            results_outputs.append({"name": name, "file_id": file_ids[0]})
        else:
            results_outputs.append({"name": name, "file_ids": file_ids})
    exe.results_manifest = manifest
    exe.results = {"version": "1.0", "output_data": results_outputs}
    job.results = exe.results
    parse_service.apply_parse_results(session, job, manifest)
    return None


def finish_execution(session: Session, exe_id: int) -> FinishOutcome | None:
    """Finish an execution whose task ended. Returns None when there is nothing (more) to do."""
    outcomes = finish_executions(session, [exe_id])
    return outcomes[0] if outcomes else None


def _finish_loaded(session: Session, exe: JobExecution, job: Job) -> FinishOutcome | None:
    if job.status != "RUNNING":
        # The job moved on without this execution (canceled): close the execution only.
        ended = exe.ended
        EXECUTION.move(exe, "CANCELED")
        exe.ended = ended or exe.ended
        return None
    if exe.kill_reason == "vacate":
        _requeue_without_try(session, exe, job)
        return FinishOutcome(exe.id, job.id, job.status)
    if _lost_to_infrastructure(session, exe, job):
        # The execution keeps its error (node-lost or mesos-lost) as the record of what happened, and the
        # job goes back to the queue with its try given back.
        job.max_tries += 1
        _fail(session, exe, job, _error_for_task(session, exe, job))
        return FinishOutcome(exe.id, job.id, job.status)
    error = None
    if exe.task_state == "TASK_FINISHED" and exe.kill_reason is None:
        exe.post_started = utcnow()
        error = post_step(session, exe, job)
        exe.post_completed = utcnow()
        exe.post_exit_code = 0 if error is None else 1
    else:
        error = _error_for_task(session, exe, job)
    outcome = FinishOutcome(exe.id, job.id, "")
    if error is None:
        now = utcnow()
        EXECUTION.move(exe, "COMPLETED", now)
        JOB.move(job, "COMPLETED", now)
    else:
        _fail(session, exe, job, error)
        if error.category == "SYSTEM" and exe.node_id is not None:
            outcome.paused_node_id = _maybe_pause_node(session, exe.node_id)
    outcome.job_status = job.status
    outcome.recipe_update = job.status in ("COMPLETED", "FAILED")
    return outcome


def _maybe_pause_node(session: Session, node_id: int) -> int | None:
    """Pause a node automatically when too many executions failed there with SYSTEM errors lately."""
    since = utcnow() - timedelta(seconds=settings.NODE_ERROR_PERIOD)
    count = session.scalar(
        select(func.count(func.distinct(JobExecution.job_id)))
        .join(Error, Error.id == JobExecution.error_id)
        .where(
            JobExecution.node_id == node_id,
            JobExecution.status == "FAILED",
            Error.category == "SYSTEM",
            JobExecution.ended >= since,
        )
    )
    if count < settings.NODE_MAX_ERRORS:
        return None
    node = session.get(Node, node_id)
    if node is None or node.is_paused:
        return None
    node.is_paused = True
    node.is_paused_errors = True
    node.pause_reason = (
        f"System failure rate too high: {count} jobs failed with system errors in {int(settings.NODE_ERROR_PERIOD)} s"
    )
    return node.id


def finish_executions(session: Session, exe_ids: Iterable[int]) -> list[FinishOutcome]:
    """Finish a batch: one query loads every execution with its job and job type; writes go out at commit."""
    ids = sorted(set(exe_ids))
    if not ids:
        return []
    exes = (
        session.scalars(
            select(JobExecution)
            .where(JobExecution.id.in_(ids), JobExecution.status == "RUNNING", JobExecution.task_state.is_not(None))
            .options(
                joinedload(JobExecution.job).joinedload(Job.job_type),
                joinedload(JobExecution.job).joinedload(Job.job_type_rev),
            )
            .order_by(JobExecution.id)
            .with_for_update(of=JobExecution)  # PostgreSQL: a duplicate message waits, then finds nothing to do
        )
        .unique()
        .all()
    )
    outcomes = []
    for exe in exes:
        outcome = _finish_one(session, exe)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _finish_one(session: Session, exe: JobExecution) -> FinishOutcome | None:
    """Finish one execution in its own savepoint: whatever it raises fails it alone, the batch goes on."""
    exe_id = exe.id
    try:
        with session.begin_nested():
            return _finish_loaded(session, exe, exe.job)
    except AgentUnavailable as exc:
        log.warning("execution %s: its agent cannot be read yet (%s); the reconcile finishes it later", exe_id, exc)
        return None
    except Exception as exc:  # noqa: BLE001 - one execution must never stop the batch
        log.exception("execution %s could not be finished; failing it with a SYSTEM error", exe_id)
        exe = session.get(JobExecution, exe_id, populate_existing=True)
        if exe is None or exe.status != "RUNNING":
            return None
        job = exe.job
        exe.task_message = _storable(
            f"{exe.task_message or ''} (finishing failed: {type(exc).__name__}: {exc})".strip()
        )
        _fail(
            session,
            exe,
            job,
            error_by_name(session, "filesystem-io" if isinstance(exc, OSError | UnicodeError) else "unknown"),
        )
        return FinishOutcome(exe.id, job.id, job.status, recipe_update=job.status in ("COMPLETED", "FAILED"))


def unfinished_execution_ids(session: Session, limit: int = 1000) -> list[int]:
    """Executions whose task ended but were never finished (a lost message): for the reconcile."""
    return list(
        session.scalars(
            select(JobExecution.id)
            .where(JobExecution.status == "RUNNING", JobExecution.task_state.is_not(None))
            .limit(limit)
        )
    )
