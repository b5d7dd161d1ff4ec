"""Job and recipe messages."""

from __future__ import annotations

import logging

from app.db import with_retry
from app.services import executions, jobs, recipes
from tasks.celery_app import app, notify_queue_changed, send

log = logging.getLogger(__name__)


@app.task(name="tasks.jobs.finish_executions", bind=True, max_retries=10, default_retry_delay=1)
def finish_executions(self, exe_ids: list[int]) -> dict:
    """Post step and outcome of executions whose task ended (idempotent)."""

    def work(session):
        outcomes = executions.finish_executions(session, exe_ids)
        return outcomes, jobs.recipe_ids_for_jobs(session, [o.job_id for o in outcomes if o.recipe_update])

    outcomes, recipe_ids = with_retry(work)
    queued = any(o.job_status == "QUEUED" for o in outcomes)
    if recipe_ids:
        # Advance the recipes here rather than in a second message: one hop less per recipe step.
        # If it fails, the message is the fallback (and the periodic reconcile the last resort).
        try:
            queued = bool(with_retry(lambda session: recipes.update_recipes(session, recipe_ids))) or queued
        except Exception:
            log.exception("recipe update after finishing executions failed; sending it as a message")
            send(update_recipes, recipe_ids)
    if queued:
        notify_queue_changed()
    return {"finished": [o.exe_id for o in outcomes]}


@app.task(name="tasks.jobs.update_recipes")
def update_recipes(recipe_ids: list[int]) -> dict:
    """Queue the jobs of these recipes whose parents completed, block the ones whose parents failed."""
    result = with_retry(lambda session: recipes.update_recipes(session, recipe_ids))
    if result:
        notify_queue_changed()
    return {"queued": result}


@app.task(name="tasks.jobs.cancel_jobs")
def cancel_jobs(job_ids: list[int]) -> dict:
    def work(session):
        canceled = jobs.cancel_jobs(session, job_ids)
        return canceled, jobs.recipe_ids_for_jobs(session, canceled)

    canceled, recipe_ids = with_retry(work)
    if recipe_ids:
        send(update_recipes, recipe_ids)
    return {"canceled": canceled}


@app.task(name="tasks.jobs.requeue_jobs")
def requeue_jobs(job_ids: list[int], priority: int | None = None) -> dict:
    def work(session):
        requeued = jobs.requeue_jobs(session, job_ids, priority)
        return requeued, jobs.recipe_ids_for_jobs(session, requeued)

    requeued, recipe_ids = with_retry(work)
    if requeued:
        notify_queue_changed()
    if recipe_ids:
        send(update_recipes, recipe_ids)
    return {"requeued": requeued}
