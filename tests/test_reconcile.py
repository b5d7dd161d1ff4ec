"""The periodic reconcile repairs what lost messages left behind (real Redis, real Celery worker)."""

from __future__ import annotations

import time

from app.db import session_scope
from app.models import Job, JobExecution
from tests.factories import make_execution, make_job, make_job_type
from tests.test_recipes import complete, new_graph_recipe, recipe_jobs, stage_setup  # noqa: F401  (fixture)


def _wait(predicate, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_reconcile_finishes_an_execution_whose_finish_message_was_lost(celery_worker):
    from tasks.maintenance import reconcile

    with session_scope() as s:
        job_type = make_job_type(s)
        job = make_job(s, job_type, status="RUNNING", num_exes=1)
        exe = make_execution(s, job, status="RUNNING", task_state="TASK_FINISHED", task_id=f"scale-exe-lost-{job.id}")
        job_id, exe_id = job.id, exe.id
    reconcile.delay()  # through Redis, to the worker, as beat sends it

    def finished():
        with session_scope() as s:
            return s.get(Job, job_id).status == "COMPLETED" and s.get(JobExecution, exe_id).status == "COMPLETED"

    _wait(finished)


def test_reconcile_advances_a_recipe_whose_update_message_was_lost(celery_worker, session, stage_setup):  # noqa: F811 (fixture)
    from tasks.maintenance import reconcile

    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"]})
    jobs = recipe_jobs(session, recipe)
    complete(session, jobs["A"], ws)  # A completed, but no update message was ever sent
    session.commit()
    b_id = jobs["B"].id
    reconcile.delay()

    def b_queued():
        with session_scope() as s:
            return s.get(Job, b_id).status == "QUEUED"

    _wait(b_queued)
