"""System status: GET /status/ (the older shape) and GET /v6/status/ (the newer one).

Both answer 503 when the scheduler's report is missing or older than SCHEDULER_STATUS_STALE.
"""

from __future__ import annotations

from flask_restx import Namespace, Resource

from api.session import get_session
from api.common import ApiError
from app.services import status

ns = Namespace("status", path="/status", description="Master, scheduler, queue depth and cluster resources")
v6_ns = Namespace(
    "v6-status", path="/v6/status", description="Scheduler status with dependencies, nodes and executions"
)
NAMESPACES = [ns, v6_ns]

_RESPONSES = {200: "Status", 503: "The scheduler is offline, or its status is stale"}


def fresh_snapshot() -> status.Snapshot:
    snap = status.snapshot(get_session())
    if not status.is_fresh(snap.scheduler, snap.now):
        raise ApiError(503, status.stale_reason(snap.scheduler, snap.now))
    return snap


@ns.route("/")
class SystemStatus(Resource):
    @ns.doc(responses=_RESPONSES)
    def get(self):
        """Master and scheduler state, queue depth, and total/scheduled/used cluster resources."""
        return status.status_v3(get_session(), fresh_snapshot())


@v6_ns.route("/")
class SchedulerStatusV6(Resource):
    @v6_ns.doc(responses=_RESPONSES)
    def get(self):
        """Dependencies (database, message queue, logs, nodes), scheduler metrics and state, resources, and per
        node: state, errors, warnings, resources and job executions (running, and finished in the last 3 hours)."""
        return status.status_v6(get_session(), fresh_snapshot())
