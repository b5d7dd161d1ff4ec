"""The console's buttons: each calls what its REST route calls, so a refusal carries the API's own message.

Every function commits its change or raises ApiError/SpecError (the view shows the message) with nothing written.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.common import bad_request, body_str, get_or_404, not_found
from api.console import services
from app.models import Job, JobType, Node, ResourcePool


def _send_recipe_updates(recipe_ids: list[int]) -> None:
    if recipe_ids:
        from tasks.celery_app import send
        from tasks.jobs import update_recipes

        send(update_recipes, recipe_ids)


def cancel_job(session: Session, job_id: int) -> str:
    """PATCH /jobs/<id>/ {"status": "CANCELED"}."""
    _send_recipe_updates(services.cancel_job(session, job_id))
    return f"Job {job_id} canceled"


def requeue_job(session: Session, job_id: int) -> str:
    """POST /queue/requeue-job/ {"job_id"}."""
    job = get_or_404(session, Job, job_id, "Job")
    if job.status not in services.REQUEUE_STATUSES:
        raise bad_request(f"Job {job_id} is {job.status}; only FAILED or CANCELED jobs can be requeued")
    services.requeue(session, [job_id], None)
    return f"Job {job_id} requeued"


def set_scheduler_paused(session: Session, paused: bool) -> str:
    """PATCH /scheduler/ {"is_paused"}."""
    values = services.checked_scheduler_values({"is_paused": paused})
    row = services.scheduler_row(session)
    services.write(session, lambda: setattr(row, "is_paused", values["is_paused"]))
    return "Scheduler paused: no new job starts" if paused else "Scheduler resumed"


def set_job_type_paused(session: Session, job_type_id: int, paused: bool) -> str:
    """PATCH /job-types/<id>/ {"is_paused"}."""
    job_type = get_or_404(session, JobType, job_type_id, "Job type")
    services.write(session, lambda: services.job_types.edit_job_type(session, job_type, {"is_paused": paused}))
    return f"Job type {job_type.name} {job_type.version} {'paused' if paused else 'resumed'}"


NODE_ACTIONS = {"hold", "unhold", "vacate"}


def node_action(session: Session, node_id: int, action: str, reason: str | None) -> str:
    """POST /nodes/<id>/hold/ {pause_reason}, /unhold/, /vacate/."""
    if action not in NODE_ACTIONS:
        raise not_found("Node action", action)
    node = get_or_404(session, Node, node_id, "Node")
    if action == "hold":
        reason = body_str({"pause_reason": reason or None}, "pause_reason", 250)
        services.write(session, lambda: services.operations.hold_node(session, node, reason))
        return f"Node {node.hostname} held"
    if action == "unhold":
        services.write(session, lambda: services.operations.unhold_node(session, node))
        return f"Node {node.hostname} unheld"
    vacated = services.write(session, lambda: services.operations.vacate_node(session, node))
    return f"Node {node.hostname} vacated: {len(vacated)} execution(s) killed and requeued"


POOL_ACTIONS = {"freeze", "drain", "restore"}


def pool_action(session: Session, pool_id: int, action: str) -> str:
    """POST /resource-pools/<id>/freeze/, /drain/, /restore/."""
    if action not in POOL_ACTIONS:
        raise not_found("Resource pool action", action)
    pool = get_or_404(session, ResourcePool, pool_id, "Resource pool")
    change = getattr(services.operations, f"{action}_pool")
    services.write(session, lambda: change(session, pool))
    return f"Resource pool {pool.name} is {pool.state}"


def set_auto_mode(session: Session, enabled: bool) -> str:
    """PATCH /cluster/auto-mode/ {"auto_mode"}."""
    services.write(session, lambda: services.operations.set_auto_mode(session, enabled))
    return f"Auto mode {'on' if enabled else 'off'}"
