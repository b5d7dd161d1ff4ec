"""A task the cluster lost (agent removed or restarted, cluster restarted, launch never delivered) requeues
its job without spending a try, up to MAX_INFRASTRUCTURE_REQUEUES; a task that failed on its own spends it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

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
        ("TASK_DROPPED", "Task launch was not delivered", "task-launch"),
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
        exe = _lost(session, job)
        for _ in range(2):
            session.commit()
            job, exe = _finish(session, exe)
            assert job.status == "QUEUED"
            # the scheduler launches the try's QUEUED execution, and the cluster loses it again
            exe = session.scalars(
                select(JobExecution).where(JobExecution.job_id == job.id, JobExecution.status == "QUEUED")
            ).one()
            job.status, exe.status = "RUNNING", "RUNNING"
            exe.task_state, exe.task_message = "TASK_LOST", "Reconciliation: Task is unknown"
        session.commit()
        job, exe = _finish(session, exe)
        assert job.status == "FAILED" and job.error.name == "mesos-lost"
    finally:
        monkeypatch.undo()
        settings.reload()


def test_the_reason_mesos_gives_is_recorded_and_decides_the_error(session):
    """An OOM kill (the agent's memory limit, REASON_CONTAINER_LIMITATION_MEMORY) is its own error, not an
    unmapped exit code; a loss the agent's reason names is a lost node whatever the message says."""
    from app.services.executions import record_task_updates

    job_type = factories.make_job_type(session)
    cases = [
        ("TASK_FAILED", "Memory limit exceeded: Requested 64MB", "REASON_CONTAINER_LIMITATION_MEMORY", "out-of-memory"),
        ("TASK_LOST", "Task lost", "REASON_AGENT_DISCONNECTED", "node-lost"),
        ("TASK_FAILED", "Failed to create container", "REASON_CONTAINER_LAUNCH_FAILED", "task-launch"),
    ]
    exes = []
    for _ in cases:
        job = factories.make_job(session, job_type, status="RUNNING", max_tries=1)
        exe = factories.make_execution(session, job, status="RUNNING", task_id=None)
        exe.task_id = f"scale-exe-{exe.id}"
        exes.append(exe)
    session.commit()
    updates = [
        {"task_id": exe.task_id, "state": state, "message": message, "reason": reason, "source": "SOURCE_AGENT"}
        for exe, (state, message, reason, _) in zip(exes, cases)
    ]
    assert sorted(record_task_updates(session, updates)) == sorted(e.id for e in exes)
    session.commit()
    for exe, (_, _, reason, error) in zip(exes, cases):
        job, exe = _finish(session, exe)
        assert (exe.task_reason, exe.task_source) == (reason, "SOURCE_AGENT")
        assert exe.error.name == error


def test_a_finished_task_whose_agent_does_not_answer_waits_instead_of_spending_its_try(session, monkeypatch):
    """The post step reads stdout through the agent; an agent restarting right then costs no try: the
    execution is left for the reconcile, and only after AGENT_FILES_WAIT does it fail (filesystem-io)."""
    import socket
    from datetime import timedelta

    from app.db import utcnow
    from app.services.executions import unfinished_execution_ids

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    job = factories.make_job(session, factories.make_job_type(session), status="RUNNING", max_tries=1)
    exe = factories.make_execution(
        session,
        job,
        status="RUNNING",
        task_state="TASK_FINISHED",
        task_message="Command exited with status 0",
        job_completed=utcnow(),
        agent_url=dead,
        stdout_path="/frameworks/F/executors/T/runs/latest/stdout",
    )
    session.commit()
    job, exe = _finish(session, exe)
    assert (exe.status, job.status) == ("RUNNING", "RUNNING")
    assert exe.id in unfinished_execution_ids(session), "the reconcile tries again"

    exe.job_completed = utcnow() - timedelta(seconds=settings.AGENT_FILES_WAIT + 1)
    session.commit()
    job, exe = _finish(session, exe)
    assert (exe.status, exe.error.name, job.status) == ("FAILED", "filesystem-io", "FAILED")
