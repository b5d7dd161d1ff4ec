"""Queue services: POST /queue/new-job/, /queue/new-recipe/, /queue/requeue-jobs/, GET /queue/status/.

Also the OSS-era POST /queue/requeue-job/ (one job_id).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from flask import url_for
from flask_restx import Namespace, Resource, fields
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.session import get_session
from api.common import (
    get_or_404,
    PAGE_PARAMS,
    ApiError,
    bad_request,
    body_dict,
    body_int,
    check_fields,
    filter_in,
    filter_time,
    iso,
    json_body,
    page_envelope,
    page_params,
    parse_timestamp,
    write,
)
from api.auth import requester_name
from api.queries import JOB_COLUMNS, job_details, job_type_ids_matching, jobs_json
from api.scheduling_reasons import queued_by_reason
from api.resources.recipes import recipe_details, recipe_detail_url
from app.models import ERROR_CATEGORIES, Error, Job, JobType, RecipeType
from tasks.celery_app import notify_queue_changed
from app.services.jobs import create_job, recipe_ids_for_jobs, requeue_jobs, user_event
from app.services.recipes import create_recipe
from app.specs.base import warnings_to_dicts
from app.settings import settings
from app.specs.base import is_int

ns = Namespace("queue", path="/queue", description="Queue new jobs and recipes, requeue jobs, queue status")
NAMESPACES = [ns]

REQUEUE_STATUSES = ("CANCELED", "FAILED")
# Ids per statement: well under every database's bound-parameter limit.
BATCH = 500

new_job = ns.model(
    "QueueNewJob",
    {
        "job_type_id": fields.Integer(required=True, description="Job type of the new job"),
        "job_data": fields.Raw(description="Job data 1.0 (inputs and output workspaces)"),
    },
)
new_recipe = ns.model(
    "QueueNewRecipe",
    {
        "recipe_type_id": fields.Integer(required=True, description="Recipe type of the new recipe"),
        "recipe_data": fields.Raw(description="Recipe data 1.0"),
    },
)
requeue_filters = ns.model(
    "RequeueJobs",
    {
        "started": fields.String(description="Start of the last_modified range (ISO-8601 datetime or duration)"),
        "ended": fields.String(description="End of the last_modified range"),
        "status": fields.List(fields.String(enum=list(REQUEUE_STATUSES))),
        "job_ids": fields.List(fields.Integer),
        "job_type_ids": fields.List(fields.Integer),
        "job_type_names": fields.List(fields.String),
        "job_type_categories": fields.List(fields.String),
        "error_categories": fields.List(fields.String(enum=list(ERROR_CATEGORIES))),
        "priority": fields.Integer(description="New priority of the requeued jobs"),
    },
)
requeue_one = ns.model("RequeueJob", {"job_id": fields.Integer(required=True)})


def _commit_or_rollback(session: Session, work: Callable[[], Any]) -> Any:
    """Run `work` and commit; on any error nothing it wrote stays."""
    result = write(session, work)
    notify_queue_changed()
    return result


def _send_recipe_updates(recipe_ids: list[int]) -> None:
    if recipe_ids:
        from tasks.celery_app import send
        from tasks.jobs import update_recipes

        send(update_recipes, recipe_ids)


def _body_id(body: Mapping[str, Any], name: str) -> int:
    value = body_int(body, name)
    if value is None:
        raise bad_request(f"Field '{name}' is required")
    return value


@ns.route("/new-job/")
@ns.response(404, "No job type with this id")
class QueueNewJob(Resource):
    @ns.expect(new_job)
    def post(self):
        """Create a job from {job_type_id, job_data} and queue it, in one transaction."""
        body = json_body()
        check_fields(body, ["job_type_id", "job_data"], required=["job_type_id"])
        job_type_id = _body_id(body, "job_type_id")
        job_data = body_dict(body, "job_data") or {}
        session = get_session()
        job_type = get_or_404(session, JobType, job_type_id, "Job type")
        if not job_type.is_active:
            raise bad_request(
                f"Job type {job_type.name} {job_type.version} is archived (not active) and cannot be queued"
            )

        def work() -> tuple[int, list]:
            event = user_event(session, requester_name())
            job, warnings = create_job(session, job_type, job_data, event=event, queued=True)
            return job.id, warnings

        job_id, warnings = _commit_or_rollback(session, work)
        details = job_details(session, job_id, just_created=True)
        details["warnings"] = warnings_to_dicts(warnings)  # an extension: what the data check found worth saying
        # The specification: Location names the newly queued job execution (the job's is in the body).
        exe_id = details["job_exes"][0]["id"]
        return details, 201, {"Location": url_for("job_execution_details", exe_id=exe_id, _external=True)}


@ns.route("/new-recipe/")
@ns.response(404, "No recipe type with this id")
class QueueNewRecipe(Resource):
    @ns.expect(new_recipe)
    def post(self):
        """Create a recipe from {recipe_type_id, recipe_data}; its root jobs are queued."""
        body = json_body()
        check_fields(body, ["recipe_type_id", "recipe_data"], required=["recipe_type_id"])
        recipe_type_id = _body_id(body, "recipe_type_id")
        recipe_data = body_dict(body, "recipe_data") or {}
        session = get_session()
        recipe_type = get_or_404(session, RecipeType, recipe_type_id, "Recipe type")
        if not recipe_type.is_active:
            raise bad_request(
                f"Recipe type {recipe_type.name} {recipe_type.version} is archived (not active) and cannot be queued"
            )
        recipe, warnings = _commit_or_rollback(
            session,
            lambda: create_recipe(session, recipe_type, recipe_data, event=user_event(session, requester_name())),
        )
        details = recipe_details(session, recipe.id)
        details["warnings"] = warnings_to_dicts(warnings)  # an extension, as for jobs
        return details, 201, {"Location": recipe_detail_url(recipe.id)}


# ---------------------------------------------------------------- requeue


def _body_list(
    body: Mapping[str, Any], name: str, kind: type, problems: list[str], choices: tuple[str, ...] | None = None
) -> list:
    """A list field of ints or strings (a single value counts as a one-element list)."""
    raw = body.get(name)
    if raw is None:
        return []
    values = raw if isinstance(raw, list) else [raw]
    wrong = [v for v in values if not (is_int(v) if kind is int else isinstance(v, kind))]
    if wrong:
        problems.append(f"Field '{name}' must be {'integers' if kind is int else 'strings'}, got {wrong}")
        return []
    if choices is not None:
        unknown = [v for v in values if v not in choices]
        if unknown:
            problems.append(f"Invalid value for '{name}': {', '.join(unknown)}. Choices: {', '.join(choices)}")
            return []
    return values


def _body_timestamp(body: Mapping[str, Any], name: str, problems: list[str]):
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        problems.append(f"Field '{name}' must be an ISO-8601 datetime or duration string")
        return None
    try:
        return parse_timestamp(name, raw)
    except ApiError as exc:
        problems.append(exc.detail)
        return None


REQUEUE_FIELDS = (
    "started",
    "ended",
    "status",
    "job_ids",
    "job_type_ids",
    "job_type_names",
    "job_type_categories",
    "error_categories",
    "priority",
)


def requeue_candidates(body: Mapping[str, Any]):
    """select(Job.id) of FAILED/CANCELED jobs matching the requeue filters, and the new priority.

    Every problem with the filters is reported at once.
    """
    check_fields(body, REQUEUE_FIELDS)
    problems: list[str] = []
    started = _body_timestamp(body, "started", problems)
    ended = _body_timestamp(body, "ended", problems)
    if started is not None and ended is not None and started >= ended:
        problems.append("Field 'started' must be before 'ended'")
    statuses = _body_list(body, "status", str, problems, REQUEUE_STATUSES)
    job_ids = _body_list(body, "job_ids", int, problems)
    type_ids = _body_list(body, "job_type_ids", int, problems)
    type_names = _body_list(body, "job_type_names", str, problems)
    categories = _body_list(body, "job_type_categories", str, problems)
    error_categories = _body_list(body, "error_categories", str, problems, ERROR_CATEGORIES)
    priority = body.get("priority")
    if priority is not None and not is_int(priority):
        problems.append("Field 'priority' must be an integer")
    if problems:
        raise bad_request("; ".join(problems))

    stmt = select(Job.id)
    stmt = filter_in(stmt, Job.status, statuses or REQUEUE_STATUSES)
    stmt = filter_in(stmt, Job.id, job_ids)
    stmt = filter_in(stmt, Job.job_type_id, type_ids)
    matching = job_type_ids_matching(type_names, categories)
    if matching is not None:
        stmt = stmt.where(Job.job_type_id.in_(matching))
    if error_categories:
        stmt = stmt.where(Job.error_id.in_(filter_in(select(Error.id), Error.category, error_categories)))
    stmt = filter_time(stmt, Job.last_modified, started, ended)
    return stmt.order_by(Job.id), priority


def requeue(session: Session, job_ids: list[int], priority: int | None) -> list[int]:
    """Requeue in the request's transaction, then let the recipes of requeued jobs move along."""

    def work() -> tuple[list[int], list[int]]:
        requeued, recipe_ids = [], set()
        for start in range(0, len(job_ids), BATCH):
            done = requeue_jobs(session, job_ids[start : start + BATCH], priority)
            requeued.extend(done)
            recipe_ids.update(recipe_ids_for_jobs(session, done))
        return sorted(requeued), sorted(recipe_ids)

    requeued, recipe_ids = _commit_or_rollback(session, work)
    _send_recipe_updates(recipe_ids)
    return requeued


@ns.route("/requeue-jobs/")
class RequeueJobs(Resource):
    @ns.expect(requeue_filters)
    @ns.doc(params=PAGE_PARAMS)
    def post(self):
        """Requeue the FAILED/CANCELED jobs matching the filters (at most REQUEUE_MAX_JOBS); answers with them (paged)."""
        session = get_session()
        stmt, priority = requeue_candidates(json_body())
        limit = settings.REQUEUE_MAX_JOBS
        candidates = list(session.scalars(stmt.limit(limit + 1)))
        if len(candidates) > limit:  # one request must not rewrite an unbounded number of jobs
            total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
            raise bad_request(
                f"The filters match {total} jobs; at most {limit} are requeued per request (REQUEUE_MAX_JOBS): "
                "narrow them with job_ids, job_type_ids, started/ended or the other filters"
            )
        requeued = requeue(session, candidates, priority)
        page, page_size = page_params()
        page_ids = requeued[(page - 1) * page_size : page * page_size]
        rows = (
            session.execute(select(*JOB_COLUMNS).where(Job.id.in_(page_ids)).order_by(Job.id)).all() if page_ids else []
        )
        return page_envelope(jobs_json(session, rows), len(requeued), page, page_size)


@ns.route("/requeue-job/")
@ns.response(404, "No job with this id")
class RequeueJob(Resource):
    @ns.expect(requeue_one)
    def post(self):
        """OSS-era single-job requeue: {job_id}; answers with the job's details."""
        body = json_body()
        check_fields(body, ["job_id"], required=["job_id"])
        job_id = _body_id(body, "job_id")
        session = get_session()
        job = get_or_404(session, Job, job_id, "Job")
        if job.status not in REQUEUE_STATUSES:
            raise bad_request(f"Job {job_id} is {job.status}; only FAILED or CANCELED jobs can be requeued")
        requeue(session, [job_id], None)
        return job_details(session, job_id)


# ---------------------------------------------------------------- status


@ns.route("/status/")
class QueueStatus(Resource):
    def get(self):
        """Queued jobs grouped by job type."""
        session = get_session()
        rows = session.execute(
            select(
                JobType.name,
                JobType.version,
                JobType.is_paused,
                func.count(Job.id).label("count"),
                func.min(Job.queued).label("longest_queued"),
                func.min(Job.priority).label("highest_priority"),
            )
            .join(JobType, JobType.id == Job.job_type_id)
            .where(Job.status == "QUEUED")
            .group_by(JobType.id, JobType.name, JobType.version, JobType.is_paused)
            .order_by(func.min(Job.priority), func.min(Job.queued), JobType.name)
        ).all()
        return {
            "queue_status": [
                {
                    "count": r.count,
                    "longest_queued": iso(r.longest_queued),
                    "job_type_name": r.name,
                    "job_type_version": r.version,
                    "highest_priority": r.highest_priority,
                    "is_job_type_paused": r.is_paused,
                }
                for r in rows
            ],
            # Extension: queued jobs by why the scheduler left them queued (docs/design.md).
            "reasons": queued_by_reason(session),
        }
