"""Periodic maintenance fired by Celery beat."""
from __future__ import annotations

from app.db import with_retry
from app.services import executions, recipes
from tasks.celery_app import app, send


@app.task(name="tasks.maintenance.reconcile")
def reconcile() -> dict:
    """Repair what lost messages left behind: unfinished executions, recipes with ready jobs."""
    from tasks.jobs import finish_executions, update_recipes

    exe_ids = with_retry(executions.unfinished_execution_ids)
    if exe_ids:
        send(finish_executions, exe_ids)
    recipe_ids = with_retry(recipes.recipes_needing_update)
    if recipe_ids:
        send(update_recipes, recipe_ids)
    return {"executions": len(exe_ids), "recipes": len(recipe_ids)}
