"""Executions exist from queue time (the specification's Queue section): queueing, retries, requeues and
vacates each give the job a QUEUED execution, the scheduler launches that row, and a job keeps one row
per try."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Job, JobExecution
from app.services import jobs as job_service
from app.services.executions import Placement, finish_executions, schedule_executions
from tests import factories


def exes_of(session, job_id: int) -> list[tuple[int, str]]:
    session.expire_all()
    rows = session.scalars(select(JobExecution).where(JobExecution.job_id == job_id).order_by(JobExecution.id))
    return [(e.exe_num, e.status) for e in rows]


def launch(session, job: Job) -> JobExecution:
    (spec,) = schedule_executions(
        session, [Placement(job.id, "agent-1", "host-1", None, 0.1, 16, 0, "http://host-1:5051")], "fw-1"
    )
    session.commit()
    return session.get(JobExecution, spec.exe_id)


def test_each_try_is_one_execution_from_queue_time(session):
    job_type = factories.make_job_type(session, max_tries=2)
    job, _ = job_service.create_job(
        session, job_type, {"version": "1.0", "input_data": [], "output_data": []}, queued=True
    )
    session.commit()
    assert exes_of(session, job.id) == [(1, "QUEUED")]
    queued_id = session.scalar(select(JobExecution.id).where(JobExecution.job_id == job.id))

    exe = launch(session, job)
    assert exe.id == queued_id, "the scheduler launches the QUEUED execution; it writes no new one"
    assert (exe.status, exe.node_id, exe.cpus_scheduled, exe.task_id) == ("RUNNING", None, 0.1, f"scale-exe-{exe.id}")
    assert (exe.agent_id, exe.agent_url, exe.framework_id) == ("agent-1", "http://host-1:5051", "fw-1")
    assert exe.started is not None and exe.queued == session.get(Job, job.id).queued

    # a timeout (a SYSTEM error) with a try left: the job is QUEUED again with its second execution
    exe.kill_reason, exe.task_state = "timeout", "TASK_KILLED"
    session.commit()
    finish_executions(session, [exe.id])
    session.commit()
    assert exes_of(session, job.id) == [(1, "FAILED"), (2, "QUEUED")]
    assert session.get(Job, job.id).num_exes == 2

    # canceled while queued: the queued try is canceled with it; a requeue queues a third
    job_service.cancel_job(session, session.get(Job, job.id))
    session.commit()
    assert exes_of(session, job.id) == [(1, "FAILED"), (2, "CANCELED")]
    job_service.requeue_jobs(session, [job.id])
    session.commit()
    assert exes_of(session, job.id) == [(1, "FAILED"), (2, "CANCELED"), (3, "QUEUED")]
    assert session.get(Job, job.id).num_exes == 3


def test_a_lost_task_queues_a_new_try_without_spending_one(session):
    job_type = factories.make_job_type(session, max_tries=1)
    job = job_service.create_job(
        session, job_type, {"version": "1.0", "input_data": [], "output_data": []}, queued=True
    )[0]
    session.commit()
    exe = launch(session, job)
    exe.task_state, exe.task_message = "TASK_LOST", "agent removed"
    session.commit()
    finish_executions(session, [exe.id])
    session.commit()
    assert exes_of(session, job.id) == [(1, "FAILED"), (2, "QUEUED")]
    job = session.get(Job, job.id)
    assert (job.status, job.num_exes, job.max_tries) == ("QUEUED", 2, 2)


def test_a_job_queued_without_its_execution_gets_one_at_launch(session):
    job = factories.make_job(session, factories.make_job_type(session), status="QUEUED", num_exes=0)
    session.commit()
    exe = launch(session, job)
    assert exes_of(session, job.id) == [(1, "RUNNING")] and exe.status == "RUNNING"
    assert session.get(Job, job.id).num_exes == 1


def test_queueing_jobs_that_are_not_queueable_writes_no_execution(session):
    job_type = factories.make_job_type(session)
    done = factories.make_job(session, job_type, status="COMPLETED")
    session.commit()
    assert job_service.queue_jobs(session, [done.id]) == []
    assert exes_of(session, done.id) == []
