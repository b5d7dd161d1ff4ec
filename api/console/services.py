"""The console's only door to app.services and to the REST resources' action helpers.

Actions call exactly what the REST routes call, so validation and messages are the same; keep every such
import here so a move of a service function means one edit.
"""

from __future__ import annotations

from api.resources.jobs import JobDetails
from api.resources.nodes import pools_json
from api.resources.queue import REQUEUE_STATUSES, requeue
from api.common import write
from api.resources.scheduler import checked_values as checked_scheduler_values
from app.agent_files import AgentFilesError, log_text
from app.services import job_types, metrics, operations, status
from app.services.operations import scheduler_row
from app.services.workspaces import broker_for

cancel_job = JobDetails._cancel

__all__ = [
    "AgentFilesError",
    "REQUEUE_STATUSES",
    "broker_for",
    "cancel_job",
    "checked_scheduler_values",
    "job_types",
    "metrics",
    "operations",
    "pools_json",
    "log_text",
    "requeue",
    "scheduler_row",
    "status",
    "write",
]
