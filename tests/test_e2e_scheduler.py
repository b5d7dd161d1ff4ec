"""The scheduler against the local cluster: restarts, lost agents, pauses."""

from __future__ import annotations

import time

from sqlalchemy import select

from app.db import session_scope
from app.models import JobExecution, Node
from tests.stack import script_command


def _sleep_type(stack, seconds: str, **fields):
    interface = {
        "version": "1.0",
        "command": script_command("sleep_for.py"),
        "command_arguments": seconds,
        "input_data": [],
        "output_data": [],
    }
    return stack.create_job_type(interface=interface, **fields)


def test_scheduler_restart_keeps_running_task_and_finishes_it(stack):
    job_type = _sleep_type(stack, "3", name="restart-me")
    job = stack.queue_job(job_type["id"])
    stack.wait_job(job["id"], "RUNNING")
    stack.stop_scheduler()
    time.sleep(0.5)
    stack.start_scheduler()  # re-subscribes with the stored framework id and reconciles
    done = stack.wait_job(job["id"], "COMPLETED", timeout=40)
    assert done["num_exes"] == 1


def test_lost_agent_fails_the_execution_with_node_lost_and_the_job_runs_again(stack):
    job_type = _sleep_type(stack, "60", name="on-lost-agent", max_tries=3)
    job = stack.queue_job(job_type["id"])
    stack.wait_job(job["id"], "RUNNING")
    agent_id = stack.cluster.agents()[0]["id"]
    stack.cluster.add_agent(hostname="spare-agent", cpus=2, mem=2048, disk=1000)
    stack.cluster.remove_agent(agent_id)

    def second_execution():
        with session_scope() as s:
            exes = s.scalars(
                select(JobExecution).where(JobExecution.job_id == job["id"]).order_by(JobExecution.id)
            ).all()
            return exes if len(exes) == 2 else None

    exes = stack.wait(second_execution, timeout=30, what="a second execution")
    with session_scope() as s:
        first = s.get(JobExecution, exes[0].id)
        assert first.status == "FAILED"
        assert first.error.name == "node-lost"
        second = s.get(JobExecution, exes[1].id)
        assert s.get(Node, second.node_id).hostname == "spare-agent"
    stack.client.patch(f"/jobs/{job['id']}/", json={"status": "CANCELED"})


def test_paused_scheduler_starts_nothing_until_resumed(stack):
    assert stack.client.patch("/scheduler/", json={"is_paused": True}).status_code == 201
    time.sleep(0.5)
    job_type = _sleep_type(stack, "0", name="paused")
    job = stack.queue_job(job_type["id"])
    time.sleep(2)
    assert stack.job(job["id"])["status"] == "QUEUED"
    assert stack.client.patch("/scheduler/", json={"is_paused": False}).status_code == 201
    stack.wait_job(job["id"], "COMPLETED")


def test_paused_job_type_is_skipped_while_others_run(stack):
    paused = _sleep_type(stack, "0", name="paused-type")
    other = _sleep_type(stack, "0", name="other-type")
    assert stack.client.patch(f"/job-types/{paused['id']}/", json={"is_paused": True}).status_code == 200
    time.sleep(0.5)
    held = stack.queue_job(paused["id"])
    runs = stack.queue_job(other["id"])
    stack.wait_job(runs["id"], "COMPLETED")
    assert stack.job(held["id"])["status"] == "QUEUED"
    assert stack.client.patch(f"/job-types/{paused['id']}/", json={"is_paused": False}).status_code == 200
    stack.wait_job(held["id"], "COMPLETED")


def test_job_canceled_while_the_scheduler_is_down_is_killed_when_it_returns(stack):
    job_type = _sleep_type(stack, "120", name="cancel-while-down")
    job = stack.queue_job(job_type["id"])
    stack.wait_job(job["id"], "RUNNING")
    stack.stop_scheduler()
    assert stack.client.patch(f"/jobs/{job['id']}/", json={"status": "CANCELED"}).status_code == 200
    stack.start_scheduler()

    def task_killed():
        with session_scope() as s:
            return s.scalar(select(JobExecution.task_state).where(JobExecution.job_id == job["id"])) == "TASK_KILLED"

    stack.wait(task_killed, timeout=20, what="the orphaned task to be killed")
    assert stack.job(job["id"])["status"] == "CANCELED"
