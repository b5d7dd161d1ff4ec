"""Job execution services: GET /job-executions/, GET /job-executions/<id>/ and its logs."""

from __future__ import annotations

import os

from flask import Response, send_file, url_for
from flask_restx import Namespace, Resource
from sqlalchemy import select
from sqlalchemy.orm import defer, selectinload

from api.session import get_session
from api import serializers as ser
from api.common import (
    LIST_PARAMS,
    filter_in,
    filter_time,
    not_found,
    page_envelope,
    param_int_list,
    param_str_list,
    repeated_param,
    time_range,
)
from api.queries import EXE_COLUMNS, JOB_TYPE_PARAMS, executions_json, fetch_page, filter_job_types, job_briefs_json
from app.models import EXE_STATUSES, Error, Job, JobExecution, JobType, Node
from app.states import TERMINAL_EXE_STATUSES

ns = Namespace("job-executions", path="/job-executions", description="Job executions and their logs")
NAMESPACES = [ns]

EXE_LIST_PARAMS = {
    **LIST_PARAMS,
    **JOB_TYPE_PARAMS,
    "status": repeated_param("Execution status", enum=EXE_STATUSES),
    "node_id": repeated_param("Node that ran the execution", "integer"),
}
# Logs answered inside JSON are capped (the plain-text routes stream whole files).
MAX_LOG_BYTES = 4 * 1024 * 1024


def _job_type_column(column):
    return (
        select(column).join(Job, Job.job_type_id == JobType.id).where(Job.id == JobExecution.job_id).scalar_subquery()
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
        "job__status": select(Job.status).where(Job.id == JobExecution.job_id).scalar_subquery(),
        "job_type__id": select(Job.job_type_id).where(Job.id == JobExecution.job_id).scalar_subquery(),
        "job_type__name": _job_type_column(JobType.name),
        "job_type__version": _job_type_column(JobType.version),
        "job_type__category": _job_type_column(JobType.category),
        "node": JobExecution.node_id,
        "node__id": JobExecution.node_id,
        "node__hostname": select(Node.hostname).where(Node.id == JobExecution.node_id).scalar_subquery(),
        "error__name": select(Error.name).where(Error.id == JobExecution.error_id).scalar_subquery(),
        "error__category": select(Error.category).where(Error.id == JobExecution.error_id).scalar_subquery(),
    }
)

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


def read_log(path: str | None) -> str:
    """The log's text ("" when it does not exist yet); only the last MAX_LOG_BYTES of a huge log."""
    limit = MAX_LOG_BYTES
    if not path or not os.path.isfile(path):
        return ""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                fh.seek(size - limit)
                return f"[... {size - limit} earlier bytes omitted ...]\n" + fh.read().decode("utf-8", "replace")
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _log_response(path: str | None):
    if not path or not os.path.isfile(path):
        return Response("", mimetype="text/plain")
    return send_file(path, mimetype="text/plain", conditional=False, max_age=0)


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
        out["stdout"] = read_log(exe.stdout_path)
        out["stderr"] = read_log(exe.stderr_path)
        return out


@ns.route("/<int:exe_id>/logs/stdout/", endpoint="job_execution_stdout")
class JobExecutionStdout(Resource):
    def get(self, exe_id: int):
        return _log_response(_get_exe(exe_id, light=True).stdout_path)


@ns.route("/<int:exe_id>/logs/stderr/", endpoint="job_execution_stderr")
class JobExecutionStderr(Resource):
    def get(self, exe_id: int):
        return _log_response(_get_exe(exe_id, light=True).stderr_path)
