"""Job services: GET /jobs/, GET|PATCH /jobs/<id>/, GET /jobs/updates/, GET /jobs/executions/.

The queries and job shapes other resources reuse live in api/queries.py.
"""

from __future__ import annotations


from flask_restx import Namespace, Resource, fields
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.session import get_session
from api.common import (
    list_params,
    bad_request,
    check_fields,
    json_body,
    not_found,
    page_envelope,
    repeated_param,
    write,
)
from api.queries import (
    EXE_COLUMNS,
    JOB_COLUMNS,
    JOB_ORDER_FIELDS,
    JOB_TYPE_PARAMS,
    data_file_ids,
    executions_json,
    fetch_page,
    filtered_jobs,
    input_files_json,
    job_details,
    jobs_json,
    load_files,
)
from app.models import (
    ERROR_CATEGORIES,
    JOB_STATUSES,
    Job,
    JobExecution,
)
from app.services.jobs import cancel_job, recipe_ids_for_jobs
from app.states import InvalidTransition

ns = Namespace("jobs", path="/jobs", description="Jobs: lists, details and cancel")
NAMESPACES = [ns]

JOB_LIST_PARAMS = {
    **list_params(JOB_ORDER_FIELDS),
    **JOB_TYPE_PARAMS,
    "status": repeated_param("Job status", enum=JOB_STATUSES),
    "error_category": repeated_param("Category of the job's error", enum=ERROR_CATEGORIES),
}
job_cancel = ns.model(
    "JobCancel",
    {"status": fields.String(required=True, enum=["CANCELED"], description="The only accepted change: CANCELED")},
)


# ---------------------------------------------------------------- resources


@ns.route("/")
class JobList(Resource):
    @ns.doc(params={**JOB_LIST_PARAMS, "job_id": repeated_param("Job id", "integer")})
    def get(self):
        """Jobs, filtered on last_modified (started/ended), status, ids, job type and error category."""
        session = get_session()
        rows, count, page, page_size = fetch_page(
            session, filtered_jobs(), Job.id, JOB_COLUMNS, JOB_ORDER_FIELDS, ["last_modified"]
        )
        return page_envelope(jobs_json(session, rows), count, page, page_size)


@ns.route("/<int:job_id>/", endpoint="job_details")
class JobDetails(Resource):
    def get(self, job_id: int):
        return job_details(get_session(), job_id)

    @ns.expect(job_cancel)
    def patch(self, job_id: int):
        """Cancel: the only accepted change is {"status": "CANCELED"}."""
        body = json_body()
        check_fields(body, ["status"], required=["status"])
        if body["status"] != "CANCELED":
            raise bad_request(f"Invalid value for 'status': '{body['status']}'. A job can only be set to CANCELED")
        session = get_session()
        recipe_ids = self._cancel(session, job_id)
        if recipe_ids:
            from tasks.celery_app import send
            from tasks.jobs import update_recipes

            send(update_recipes, recipe_ids)
        return job_details(session, job_id)

    @staticmethod
    def _cancel(session: Session, job_id: int, attempts: int = 5) -> list[int]:
        """Cancel in the request's transaction; retried when a concurrent writer (the scheduler) won the race."""

        def cancel() -> list[int]:
            job = session.get(Job, job_id, populate_existing=True)
            if job is None:
                raise not_found("Job", job_id)
            try:
                cancel_job(session, job)
            except InvalidTransition as exc:
                raise bad_request(f"{exc}: only jobs that are not COMPLETED or CANCELED can be canceled") from None
            return recipe_ids_for_jobs(session, [job.id])

        return write(session, cancel, attempts)


@ns.route("/updates/")
class JobUpdates(Resource):
    @ns.doc(params=JOB_LIST_PARAMS)
    def get(self):
        """Jobs whose status changed in the time range, ordered by last_status_change, with their input files."""
        session = get_session()
        rows, count, page, page_size = fetch_page(
            session,
            filtered_jobs(Job.last_status_change, with_job_ids=False),
            Job.id,
            JOB_COLUMNS + (Job.data,),
            JOB_ORDER_FIELDS,
            ["last_status_change"],
        )
        files = load_files(session, (fid for r in rows for fid in data_file_ids(r.data)))
        results = jobs_json(session, rows)
        for out, row in zip(results, rows):
            out["input_files"] = input_files_json(row.data, files)
        return page_envelope(results, count, page, page_size)


@ns.route("/executions/")
class JobsWithExecutions(Resource):
    @ns.doc(params=JOB_LIST_PARAMS)
    def get(self):
        """Jobs with their most recent execution."""
        session = get_session()
        rows, count, page, page_size = fetch_page(
            session, filtered_jobs(with_job_ids=False), Job.id, JOB_COLUMNS, JOB_ORDER_FIELDS, ["last_modified"]
        )
        latest = {}
        if rows:
            latest_ids = (
                select(func.max(JobExecution.id))
                .where(JobExecution.job_id.in_([r.id for r in rows]))
                .group_by(JobExecution.job_id)
            )
            exes = session.execute(select(*EXE_COLUMNS).where(JobExecution.id.in_(latest_ids))).all()
            latest = {exe["job"]["id"]: exe for exe in executions_json(session, exes)}
        results = jobs_json(session, rows)
        for out in results:
            out["latest_job_exe"] = latest.get(out["id"])
        return page_envelope(results, count, page, page_size)
