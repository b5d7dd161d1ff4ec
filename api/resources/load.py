"""Job load: GET /load/, pending/queued/running counts over time from the JobLoad samples."""

from __future__ import annotations

from datetime import timedelta

from flask_restx import Namespace, Resource
from sqlalchemy import distinct, func, select

from api.session import get_session
from api.common import (
    PAGE_PARAMS,
    TIME_PARAMS,
    bad_request,
    filter_in,
    iso,
    page_envelope,
    page_params,
    param_int_list,
    repeated_param,
    time_range,
)
from api.queries import JOB_TYPE_PARAMS, filter_job_types
from app.db import utcnow
from app.models import JobLoad, JobType

ns = Namespace("load", path="/load", description="Job load (queue depth) over time")
NAMESPACES = [ns]

DEFAULT_PERIOD = timedelta(days=7)
MAX_PERIOD = timedelta(days=31)


@ns.route("/")
class JobLoadList(Resource):
    @ns.doc(
        params={
            **PAGE_PARAMS,
            **TIME_PARAMS,
            **JOB_TYPE_PARAMS,
            "job_type_priority": repeated_param("Job type priority", "integer"),
            "priority": repeated_param("Same as job_type_priority", "integer"),
        }
    )
    def get(self):
        """Summed counts per sample time for the selected job types (default: the last 7 days)."""
        started, ended = time_range(default_ended=utcnow())
        if started is None:
            started = ended - DEFAULT_PERIOD
        if ended - started > MAX_PERIOD:
            raise bad_request("The time range between 'started' and 'ended' must be within 31 days")
        session = get_session()

        stmt = select(
            JobLoad.measured,
            func.sum(JobLoad.pending_count).label("pending"),
            func.sum(JobLoad.queued_count).label("queued"),
            func.sum(JobLoad.running_count).label("running"),
        )
        stmt = filter_job_types(stmt, JobLoad.job_type_id)
        # The specification calls it job_type_priority; "priority" is accepted as well.
        priorities = param_int_list("job_type_priority") + param_int_list("priority")
        if priorities:
            stmt = stmt.where(JobLoad.job_type_id.in_(filter_in(select(JobType.id), JobType.priority, priorities)))
        stmt = stmt.where(JobLoad.measured >= started, JobLoad.measured <= ended)

        count = (
            session.scalar(stmt.with_only_columns(func.count(distinct(JobLoad.measured)), maintain_column_froms=True))
            or 0
        )
        page, page_size = page_params()
        rows = session.execute(
            stmt.group_by(JobLoad.measured).order_by(JobLoad.measured).limit(page_size).offset((page - 1) * page_size)
        ).all()
        results = [
            {
                "time": iso(r.measured),
                "pending_count": int(r.pending or 0),
                "queued_count": int(r.queued or 0),
                "running_count": int(r.running or 0),
            }
            for r in rows
        ]
        return page_envelope(results, count, page, page_size)
