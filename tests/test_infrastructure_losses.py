"""A task the cluster lost (agent removed or restarted, cluster restarted, launch never delivered) requeues
its job without spending a try, up to MAX_INFRASTRUCTURE_REQUEUES; a task that failed on its own spends it."""

from __future__ import annotations

import pytest

from app.models import Job, JobExecution
from app.services.executions import finish_executions
from app.settings import settings
from tests import factories


def _lost(session, job, state="TASK_LOST", message="Reconciliation: Task is unknown", **kw) -> JobExecution:
    return factories.make_execution(
        session, job, status="RUNNING", task_state=state, task_message=message, job_exit_code=None, **kw
    )


def _finish(session, exe: JobExecution) -> tuple[Job, JobExecution]:
    finish_executions(session, [exe.id])
    session.commit()
    session.expire_all()
    return session.get(Job, exe.job_id), session.get(JobExecution, exe.id)


@pytest.mark.parametrize(
    "state, message, error",
    [
        ("TASK_LOST", "Reconciliation: Task is unknown", "mesos-lost"),  # the scheduler or cluster restarted
        ("TASK_LOST", "agent removed", "node-lost"),
        ("TASK_GONE", "Agent was marked gone", "node-lost"),
        ("TASK_UNREACHABLE", "Agent unreachable", "node-lost"),
        ("TASK_DROPPED", "Task launch was not delivered", "node-lost"),
    ],
)
def test_a_lost_task_requeues_the_job_without_spending_its_try(session, state, message, error):
    job = factories.make_job(session, factories.make_job_type(session), status="RUNNING", max_tries=1)
    exe = _lost(session, job, state, message)
    session.commit()
    job, exe = _finish(session, exe)
    assert job.status == "QUEUED" and job.max_tries == 2, "the try is given back"
    assert exe.status == "FAILED" and exe.error.name == error, "the execution records what happened"


def test_a_task_that_failed_on_its_own_spends_its_try(session):
    job = factories.make_job(session, factories.make_job_type(session), status="RUNNING", max_tries=1)
    exe = factories.make_execution(
        session, job, status="RUNNING", task_state="TASK_FAILED", task_message="Command exited with status 1"
    )
    session.commit()
    job, exe = _finish(session, exe)
    assert job.status == "FAILED" and job.max_tries == 1


def test_a_kill_we_asked_for_is_not_an_infrastructure_loss(session):
    job = factories.make_job(session, factories.make_job_type(session), status="RUNNING", max_tries=1)
    exe = _lost(session, job, kill_reason="timeout")
    session.commit()
    job, exe = _finish(session, exe)
    assert job.status == "FAILED" and exe.error.name == "timeout"


def test_losses_past_the_cap_spend_the_try(session, monkeypatch):
    monkeypatch.setenv("MAX_INFRASTRUCTURE_REQUEUES", "2")
    settings.reload()
    try:
        job = factories.make_job(session, factories.make_job_type(session), status="RUNNING", max_tries=1)
        for _ in range(2):
            exe = _lost(session, job)
            session.commit()
            job, exe = _finish(session, exe)
            assert job.status == "QUEUED"
            job.status = "RUNNING"  # launched again (as the scheduler's claim would)
            job.num_exes += 1
            session.commit()
        exe = _lost(session, job)
        session.commit()
        job, exe = _finish(session, exe)
        assert job.status == "FAILED" and job.error.name == "mesos-lost"
    finally:
        monkeypatch.undo()
        settings.reload()
