"""Job execution services: GET /job-executions/, GET /job-executions/<id>/ and its logs."""

from __future__ import annotations


from flask import Response, url_for
from flask_restx import Namespace, Resource
from sqlalchemy import select
from sqlalchemy.orm import defer, selectinload

from api.session import get_session
from api import serializers as ser
from api.common import (
    list_params,
    ApiError,
    filter_in,
    filter_time,
    not_found,
    page_envelope,
    param_int_list,
    param_str_list,
    repeated_param,
    time_range,
)
from api.queries import (
    EXE_COLUMNS,
    related,
    JOB_TYPE_PARAMS,
    executions_json,
    fetch_page,
    filter_job_types,
    job_briefs_json,
)
from app.agent_files import AgentFilesError, execution_log, log_text
from app.models import EXE_STATUSES, Error, Job, JobExecution, JobType, Node
from app.states import TERMINAL_EXE_STATUSES

ns = Namespace("job-executions", path="/job-executions", description="Job executions and their logs")
NAMESPACES = [ns]

# Logs answered inside JSON are capped (the plain-text routes stream whole files).
MAX_LOG_BYTES = 4 * 1024 * 1024


def _job_type_column(column):
    return (
        select(column)
        .join(Job, Job.job_type_id == JobType.id)
        .where(Job.id == JobExecution.job_id)
        .correlate(JobExecution)
        .scalar_subquery()
    )


EXE_ORDER_FIELDS = {
    name: getattr(JobExecution, name)
    for name in (
        "id",
        "status",
        "exe_num",
        "timeout",
        "pre_started",
        "pre_completed",
        "job_started",
        "job_completed",
        "post_started",
        "post_completed",
        "created",
        "queued",
        "started",
        "ended",
        "last_modified",
    )
}
EXE_ORDER_FIELDS.update(
    {
        "job": JobExecution.job_id,
        "job__id": JobExecution.job_id,
        "job__status": related(Job.status, Job.id == JobExecution.job_id, JobExecution),
        "job_type__id": related(Job.job_type_id, Job.id == JobExecution.job_id, JobExecution),
        "job_type__name": _job_type_column(JobType.name),
        "job_type__version": _job_type_column(JobType.version),
        "job_type__category": _job_type_column(JobType.category),
        "node": JobExecution.node_id,
        "node__id": JobExecution.node_id,
        "node__hostname": related(Node.hostname, Node.id == JobExecution.node_id, JobExecution),
        "error__name": related(Error.name, Error.id == JobExecution.error_id, JobExecution),
        "error__category": related(Error.category, Error.id == JobExecution.error_id, JobExecution),
    }
)
EXE_LIST_PARAMS = {
    **list_params(EXE_ORDER_FIELDS),
    **JOB_TYPE_PARAMS,
    "status": repeated_param("Execution status", enum=EXE_STATUSES),
    "node_id": repeated_param("Node that ran the execution", "integer"),
}

# serializers.job_exe reads the execution's job brief, node brief and error.
EXE_OPTIONS = (
    selectinload(JobExecution.job).options(
        selectinload(Job.job_type), selectinload(Job.error), defer(Job.data), defer(Job.results)
    ),
    selectinload(JobExecution.node),
    selectinload(JobExecution.error),
)
EXE_HEAVY_COLUMNS = (defer(JobExecution.environment), defer(JobExecution.results), defer(JobExecution.results_manifest))


def _get_exe(exe_id: int, *, light: bool = False) -> JobExecution:
    options = EXE_OPTIONS + (EXE_HEAVY_COLUMNS if light else ())
    exe = get_session().scalar(select(JobExecution).where(JobExecution.id == exe_id).options(*options))
    if exe is None:
        raise not_found("Job execution", exe_id)
    return exe


def _log_text(exe: JobExecution, name: str) -> str:
    try:
        return log_text(exe, name, MAX_LOG_BYTES)
    except AgentFilesError as exc:
        raise _unreadable(exe, name, exc) from None


def _unreadable(exe: JobExecution, name: str, exc: AgentFilesError) -> ApiError:
    return ApiError(503, f"The {name} of execution {exe.id} is on agent {exe.agent_id}, which cannot be read: {exc}")


def _log_response(exe: JobExecution, name: str):
    """The whole log as text/plain, streamed from the agent page by page ("" until the agent has it)."""
    file = execution_log(exe, name)
    try:
        size = file.size() if file is not None else None
    except AgentFilesError as exc:
        raise _unreadable(exe, name, exc) from None
    if file is None or not size:
        return Response("", mimetype="text/plain")

    def pages():
        try:
            yield from file.chunks(0, size)
        except AgentFilesError as exc:  # the status is sent already: say so at the end of the text
            yield f"\n[... the rest could not be read: {exc}]\n".encode()

    return Response(pages(), mimetype="text/plain")


@ns.route("/")
class JobExecutionList(Resource):
    @ns.doc(params=EXE_LIST_PARAMS)
    def get(self):
        """Executions, filtered on last_modified (started/ended), status, job type and node."""
        session = get_session()
        stmt = select(JobExecution)
        stmt = filter_in(stmt, JobExecution.status, param_str_list("status", EXE_STATUSES))
        stmt = filter_in(stmt, JobExecution.node_id, param_int_list("node_id"))
        job_types = filter_job_types(select(Job.id), Job.job_type_id)
        if job_types.whereclause is not None:
            stmt = stmt.join(Job, Job.id == JobExecution.job_id).where(job_types.whereclause)
        started, ended = time_range()
        stmt = filter_time(stmt, JobExecution.last_modified, started, ended)
        rows, count, page, page_size = fetch_page(
            session, stmt, JobExecution.id, EXE_COLUMNS, EXE_ORDER_FIELDS, ["last_modified"]
        )
        results = executions_json(session, rows)
        jobs = job_briefs_json(session, (r.job_id for r in rows))
        for out in results:
            out["job"] = jobs.get(out["job"]["id"])
        return page_envelope(results, count, page, page_size)


@ns.route("/<int:exe_id>/", endpoint="job_execution_details")
class JobExecutionDetails(Resource):
    def get(self, exe_id: int):
        exe = _get_exe(exe_id)
        return ser.job_exe_detail(
            exe,
            stdout_url=url_for("job_execution_stdout", exe_id=exe.id, _external=True),
            stderr_url=url_for("job_execution_stderr", exe_id=exe.id, _external=True),
        )


@ns.route("/<int:exe_id>/logs/", endpoint="job_execution_logs")
class JobExecutionLogs(Resource):
    def get(self, exe_id: int):
        """The execution with the contents of its stdout and stderr."""
        exe = _get_exe(exe_id, light=True)
        out = ser.job_exe(exe)
        out["is_finished"] = exe.status in TERMINAL_EXE_STATUSES
        out["stdout"] = _log_text(exe, "stdout")
        out["stderr"] = _log_text(exe, "stderr")
        return out


@ns.route("/<int:exe_id>/logs/stdout/", endpoint="job_execution_stdout")
class JobExecutionStdout(Resource):
    def get(self, exe_id: int):
        return _log_response(_get_exe(exe_id, light=True), "stdout")


@ns.route("/<int:exe_id>/logs/stderr/", endpoint="job_execution_stderr")
class JobExecutionStderr(Resource):
    def get(self, exe_id: int):
        return _log_response(_get_exe(exe_id, light=True), "stderr")
