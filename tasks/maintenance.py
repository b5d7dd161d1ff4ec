"""Periodic maintenance fired by Celery beat."""

from __future__ import annotations

from app.db import with_retry
from datetime import timedelta

from app.services import executions, ingest, recipes, system_jobs
from app.settings import settings
from tasks.celery_app import app, send


RECONCILE_BATCH = 20


@app.task(name="tasks.maintenance.reconcile")
def reconcile() -> dict:
    """Repair what lost messages left behind: unfinished executions, recipes with ready jobs."""
    from tasks.ingest import ingest_files
    from tasks.jobs import finish_executions, update_recipes

    exe_ids = with_retry(executions.unfinished_execution_ids)
    for start in range(0, len(exe_ids), RECONCILE_BATCH):  # small messages: one slow batch cannot strand the rest
        send(finish_executions, exe_ids[start : start + RECONCILE_BATCH])
    recipe_ids = with_retry(recipes.recipes_needing_update)
    if recipe_ids:
        send(update_recipes, recipe_ids)
    ingest_ids = with_retry(lambda s: ingest.stalled_ingest_ids(s, timedelta(seconds=settings.RECONCILE_INTERVAL)))
    if ingest_ids:
        send(ingest_files, ingest_ids)
    lost = with_retry(system_jobs.fail_silent)
    return {
        "executions": len(exe_ids),
        "recipes": len(recipe_ids),
        "ingests": len(ingest_ids),
        "system_lost": len(lost),
    }


@app.task(name="tasks.maintenance.autoscale", ignore_result=True)
def autoscale() -> list[int]:
    """One autoscaling pass (app/services/autoscale.py): safe to run twice, the pass claims its interval."""
    from app.services.autoscale import run_pass

    return run_pass()


@app.task(name="tasks.maintenance.workspace_sizes", ignore_result=True)
def workspace_sizes(only_unknown: bool = False) -> int:
    """Read workspaces' used and total sizes (a walk of their trees: never inside a request)."""
    from app.services.workspaces import refresh_sizes

    return with_retry(lambda s: refresh_sizes(s, only_unknown))


@app.task(name="tasks.maintenance.ping", ignore_result=True)
def ping(counter_key: str) -> None:
    """A no-op that counts itself in Redis: bench/throughput.py measures raw Celery throughput with it."""
    _redis().incr(counter_key)


_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis

        from app.settings import settings

        _redis_client = redis.Redis.from_url(settings.REDIS_URL)
    return _redis_client
