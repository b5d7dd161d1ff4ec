"""Job type services: GET/POST /job-types/, POST /job-types/validation/, GET/PATCH /job-types/<id>/,
GET /job-types/status/, GET /job-types/running/, GET /job-types/system-failures/."""

from __future__ import annotations

from datetime import timedelta

from flask import url_for
from flask_restx import Namespace, Resource, fields
from sqlalchemy import func, select

from api.openapi import rule_fields, stable_name
from api.session import get_session
from api import serializers as ser
from api.common import (
    write,
    get_or_404,
    list_params,
    PAGE_PARAMS,
    TIME_PARAMS,
    apply_order,
    filter_in,
    filter_time,
    iso,
    json_body,
    paginate,
    paginate_list,
    param_str_list,
    repeated_param,
    time_range,
)
from app.db import utcnow
from app.models import Error, Job, JobType
from app.services import job_types as job_type_service
from app.specs.base import warnings_to_dicts
from app.specs.error_interface import error_names

ns = Namespace("job-types", path="/job-types", description="Job types: what jobs run, with which resources")
NAMESPACES = [ns]

ORDER_FIELDS = {name: getattr(JobType, name) for name in ser.JOB_TYPE_LIST}
COUNT_WINDOWS_HOURS = (6, 12, 24)
STATUS_DEFAULT_WINDOW = timedelta(hours=3)

job_type_edit = ns.model(
    "JobTypeEdit",
    {
        **rule_fields(job_type_service.JOB_TYPE_FIELDS, JobType),
        "interface": fields.Raw(description="Job interface 1.0"),
        "error_mapping": fields.Raw(description="Error interface 1.0: exit code -> error name"),
        "trigger_rule": fields.Raw(description="{type: INGEST|PARSE, configuration, is_active}; null removes the rule"),
    },
)
job_type_create = ns.clone(
    "JobTypeCreate",
    job_type_edit,
    {
        "name": stable_name(JobType),
        "version": stable_name(JobType, "version"),
        "interface": fields.Raw(required=True, description="Job interface 1.0"),
    },
)


def job_count(count: dict) -> dict:
    return {**count, "most_recent": iso(count["most_recent"])}


def job_type_details(job_type: JobType) -> dict:
    """The details shape: list fields, documents, referenced errors and recent job counts."""
    session = get_session()
    out = ser.job_type(job_type)
    out["interface"] = job_type.interface
    out["error_mapping"] = job_type.error_mapping
    out["trigger_rule"] = ser.trigger_rule(job_type.trigger_rule)
    names = sorted(error_names(job_type.error_mapping))
    out["errors"] = (
        [ser.error(e) for e in session.scalars(select(Error).where(Error.name.in_(names)).order_by(Error.name))]
        if names
        else []
    )
    now = utcnow()
    for hours in COUNT_WINDOWS_HOURS:
        counts = job_type_service.job_counts_by_status(session, [job_type.id], now - timedelta(hours=hours))[
            job_type.id
        ]
        out[f"job_counts_{hours}h"] = [job_count(c) for c in counts]
    return out


@ns.route("/")
class JobTypeList(Resource):
    @ns.doc(
        params={
            **list_params(ORDER_FIELDS),
            "name": repeated_param("Only job types with this name"),
            "category": repeated_param("Only job types of this category"),
        }
    )
    def get(self):
        """Job types, filtered by last_modified within started/ended; ordered by name, version by default."""
        started, ended = time_range()
        stmt = filter_time(select(JobType), JobType.last_modified, started, ended)
        stmt = filter_in(stmt, JobType.name, param_str_list("name"))
        stmt = filter_in(stmt, JobType.category, param_str_list("category"))
        stmt = apply_order(stmt, ORDER_FIELDS, ("name", "version"), tiebreak=JobType.id)
        return paginate(get_session(), stmt, ser.job_type)

    @ns.expect(job_type_create)
    def post(self):
        """Create a job type (revision 1) with its interface, error mapping and trigger rule."""
        session = get_session()
        job_type, _warnings = write(session, lambda: job_type_service.create_job_type(session, json_body()))
        location = url_for("job_type_details", job_type_id=job_type.id, _external=True)
        return job_type_details(job_type), 201, {"Location": location}


@ns.route("/validation/")
class JobTypeValidation(Resource):
    @ns.expect(job_type_create)
    def post(self):
        """Check a new job type without saving it: 200 with warnings, or 400 listing the problems."""
        _values, warnings = job_type_service.validate_job_type(get_session(), json_body())
        return {"warnings": warnings_to_dicts(warnings)}


@ns.route("/<int:job_type_id>/", endpoint="job_type_details")
class JobTypeDetails(Resource):
    def get(self, job_type_id: int):
        return job_type_details(get_or_404(get_session(), JobType, job_type_id, "Job type"))

    @ns.expect(job_type_edit)
    def patch(self, job_type_id: int):
        """Edit a job type; a new interface makes a new revision, jobs keep the revision they had."""
        session = get_session()
        job_type = get_or_404(session, JobType, job_type_id, "Job type")
        write(session, lambda: job_type_service.edit_job_type(session, job_type, json_body()))
        return job_type_details(job_type)


@ns.route("/status/")
class JobTypeStatus(Resource):
    @ns.doc(params={**PAGE_PARAMS, **TIME_PARAMS})
    def get(self):
        """Per job type, job counts by status over started/ended (default: the last 3 hours); RUNNING
        jobs count whatever the time range."""
        started, ended = time_range(default_started=utcnow() - STATUS_DEFAULT_WINDOW)
        session = get_session()
        stmt = select(JobType).order_by(JobType.name, JobType.version, JobType.id)
        envelope = paginate(session, stmt, lambda jt: jt)
        counts = job_type_service.job_counts_by_status(
            session, [jt.id for jt in envelope["results"]], started, ended, include_running=True
        )
        envelope["results"] = [
            {"job_type": ser.job_type_base(jt), "job_counts": [job_count(c) for c in counts[jt.id]]}
            for jt in envelope["results"]
        ]
        return envelope


def _job_types_by_id(ids) -> dict[int, JobType]:
    ids = list(ids)
    if not ids:
        return {}
    return {jt.id: jt for jt in get_session().scalars(select(JobType).where(JobType.id.in_(ids)))}


@ns.route("/running/")
class JobTypeRunning(Resource):
    @ns.doc(params=PAGE_PARAMS)
    def get(self):
        """Job types with RUNNING jobs: how many, and since when the longest one runs."""
        longest = func.min(Job.started)
        rows = (
            get_session()
            .execute(
                select(Job.job_type_id, func.count().label("count"), longest.label("longest_running"))
                .where(Job.status == "RUNNING")
                .group_by(Job.job_type_id)
                .order_by(longest, Job.job_type_id)
            )
            .all()
        )
        job_types = _job_types_by_id(r.job_type_id for r in rows)
        return paginate_list(
            rows,
            lambda r: {
                "job_type": ser.job_type_base(job_types.get(r.job_type_id)),
                "count": r.count,
                "longest_running": iso(r.longest_running),
            },
        )


@ns.route("/system-failures/")
class JobTypeSystemFailures(Resource):
    @ns.doc(params=PAGE_PARAMS)
    def get(self):
        """FAILED jobs with a SYSTEM error, per job type and error, latest failure first."""
        when = func.coalesce(Job.ended, Job.last_status_change)
        rows = (
            get_session()
            .execute(
                select(
                    Job.job_type_id,
                    Job.error_id,
                    func.count().label("count"),
                    func.min(when).label("first_error"),
                    func.max(when).label("last_error"),
                )
                .join(Error, Job.error_id == Error.id)
                .where(Job.status == "FAILED", Error.category == "SYSTEM")
                .group_by(Job.job_type_id, Job.error_id)
                .order_by(func.max(when).desc(), Job.job_type_id, Job.error_id)
            )
            .all()
        )
        job_types = _job_types_by_id(r.job_type_id for r in rows)
        errors = {e.id: e for e in get_session().scalars(select(Error).where(Error.id.in_({r.error_id for r in rows})))}
        return paginate_list(
            rows,
            lambda r: {
                "job_type": ser.job_type_base(job_types.get(r.job_type_id)),
                "error": ser.error(errors.get(r.error_id)),
                "count": r.count,
                "first_error": iso(r.first_error),
                "last_error": iso(r.last_error),
            },
        )
