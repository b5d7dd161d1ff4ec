"""POST /queue/new-jobs/: many jobs queued in one request (an extension of the specification).

All or nothing: every item is checked first and every problem is answered at once (400, naming each item
by its index); only when all are valid are the jobs created and queued, in one transaction.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_restx import Resource, fields

from api.common import bad_request, json_body, write
from api.resources.queue import ns
from api.session import get_session
from app.models import JobType
from api.auth import requester_name
from app.services.jobs import create_job, current_revision, user_event
from app.specs.base import SpecError, is_int, warnings_to_dicts
from app.specs.job_data import validate_job_data
from app.services.lookups import lookup_files, lookup_workspaces
from tasks.celery_app import notify_queue_changed

MAX_JOBS_PER_REQUEST = 1000

_item = ns.model(
    "QueueNewJobsItem",
    {
        "job_type_id": fields.Integer(required=True, description="Job type of the new job"),
        "job_data": fields.Raw(description="Job data 1.0 (inputs and output workspaces)"),
    },
)
new_jobs = ns.model(
    "QueueNewJobs",
    {
        "jobs": fields.List(
            fields.Nested(_item),
            required=True,
            min_items=1,
            max_items=MAX_JOBS_PER_REQUEST,
            description=f"The jobs to queue (1 to {MAX_JOBS_PER_REQUEST})",
        ),
    },
)
queued = ns.model(
    "QueueNewJobsAnswer",
    {
        "count": fields.Integer(description="How many jobs were queued"),
        "jobs": fields.List(fields.Nested(ns.model("QueuedJob", {"id": fields.Integer, "url": fields.String}))),
        "warnings": fields.List(
            fields.Nested(ns.model("QueueWarning", {"id": fields.String, "details": fields.String})),
            description="What the data checks found worth saying, each naming its item (jobs[i])",
        ),
    },
)


def _items(body: dict[str, Any]) -> list[Any]:
    unknown = sorted(k for k in body if k != "jobs")
    items = body.get("jobs")
    problems = [f"Unknown fields: {', '.join(unknown)}"] if unknown else []
    if not isinstance(items, list) or not items:
        problems.append("Field 'jobs' must be a non-empty list of {job_type_id, job_data}")
    elif len(items) > MAX_JOBS_PER_REQUEST:
        problems.append(f"Field 'jobs' holds {len(items)} jobs; at most {MAX_JOBS_PER_REQUEST} per request")
    if problems:
        raise bad_request("; ".join(problems))
    return items


def _job_type_id(item: Any, where: str, problems: list[str]) -> int | None:
    if not isinstance(item, dict):
        problems.append(f"{where} must be an object {{job_type_id, job_data}}")
        return None
    unknown = sorted(k for k in item if k not in ("job_type_id", "job_data"))
    if unknown:
        problems.append(f"{where}: unknown fields: {', '.join(unknown)}")
    type_id = item.get("job_type_id")
    if not is_int(type_id):
        problems.append(f"{where}: 'job_type_id' must be an integer id")
        return None
    if item.get("job_data") is not None and not isinstance(item["job_data"], dict):
        problems.append(f"{where}: 'job_data' must be a JSON object")
        return None
    return type_id


@ns.route("/new-jobs/")
class QueueNewJobs(Resource):
    @ns.expect(new_jobs)
    @ns.response(201, "Every job was queued", queued)
    @ns.response(400, "Nothing was queued: the answer lists every problem, by item index")
    def post(self):
        """Queue up to 1000 jobs in one request, all or nothing (extension: not in the specification)."""
        items = _items(json_body())
        session = get_session()
        problems: list[str] = []
        type_ids = [_job_type_id(item, f"jobs[{i}]", problems) for i, item in enumerate(items)]
        types = {
            jt.id: jt for jt in session.query(JobType).filter(JobType.id.in_({t for t in type_ids if t is not None}))
        }
        revisions = {jt.id: current_revision(session, jt) for jt in types.values()}
        files, workspaces = lookup_files(session), lookup_workspaces(session)
        valid: list[tuple[JobType, dict]] = []
        warnings: list[dict[str, str]] = []
        for i, (item, type_id) in enumerate(zip(items, type_ids)):
            if type_id is None:
                continue
            job_type = types.get(type_id)
            if job_type is None:
                problems.append(f"jobs[{i}]: job type {type_id} does not exist")
            elif not job_type.is_active:
                problems.append(
                    f"jobs[{i}]: job type {job_type.name} {job_type.version} is archived and cannot be queued"
                )
            else:
                try:
                    data, found = validate_job_data(
                        item.get("job_data") or {},
                        revisions[type_id].interface,
                        lookup_files=files,
                        lookup_workspaces=workspaces,
                    )
                except SpecError as exc:
                    problems.extend(f"jobs[{i}]: {p.message}" for p in exc.problems)
                    continue
                valid.append((job_type, data))
                warnings.extend({**w, "details": f"jobs[{i}]: {w['details']}"} for w in warnings_to_dicts(found))
        if problems:
            raise bad_request("Nothing was queued: " + "; ".join(problems), problems=problems)

        def work() -> list[int]:
            event = user_event(session, requester_name())  # one request, one event for all its jobs
            jobs = [
                create_job(
                    session, jt, data, event=event, validated=True, revision=revisions[jt.id], flush=False, queued=True
                )[0]
                for jt, data in valid
            ]
            session.flush()
            return [job.id for job in jobs]

        ids = write(session, work)
        notify_queue_changed()
        return {
            "count": len(ids),
            "jobs": [{"id": i, "url": url_for("job_details", job_id=i, _external=True)} for i in ids],
            "warnings": warnings,
        }, 201
