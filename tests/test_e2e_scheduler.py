"""The scheduler against the local cluster: restarts, lost agents, pauses."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from app.db import session_scope
from app.mesos import exe_id_from_task
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


def running_job_task(master, not_this=None):
    """A job's task the local cluster runs (not a storage probe, which a new agent runs first)."""
    return next(
        (
            t
            for t in list(master.tasks.values())
            if t.state == "TASK_RUNNING" and t.id != not_this and exe_id_from_task(t.id) is not None
        ),
        None,
    )


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
            # the second try exists from the moment the job is queued again; wait for its launch
            return exes if len(exes) == 2 and exes[1].status == "RUNNING" else None

    exes = stack.wait(second_execution, timeout=30, what="a second execution, running")
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


def test_a_job_runs_on_resources_reserved_for_the_frameworks_role(stack, monkeypatch):
    """The launch is cut from reserved, MULTI_ROLE-allocated offer entries, which the cluster checks as a real
    master does: a task without `allocation_info`, or asking for more than the reservation, would be refused."""
    from app.settings import settings

    stack.stop_scheduler()
    monkeypatch.setenv("FRAMEWORK_ROLE", "scale")
    settings.reload()
    stack.cluster.remove_agent(stack.cluster.agents()[0]["id"])
    stack.cluster.add_agent(hostname="reserved", resources="cpus:0.05;cpus(scale):1;mem(scale):1024;disk:1000")
    stack.start_scheduler()
    job_type = _sleep_type(stack, "0", name="on-reserved", cpus_required=0.5, mem_required=256.0)
    job = stack.queue_job(job_type["id"])
    done = stack.wait_job(job["id"], "COMPLETED", timeout=40)
    assert done["num_exes"] == 1
    with session_scope() as s:
        exe = s.scalars(select(JobExecution).where(JobExecution.job_id == job["id"])).one()
        assert s.get(Node, exe.node_id).hostname == "reserved"


def test_an_idle_scheduler_suppresses_offers_and_a_queued_job_revives_them(stack):
    master = stack.cluster.master

    def suppressed():
        with master.lock:
            frameworks = list(master.frameworks.values())
            return bool(frameworks) and all(fw.suppressed for fw in frameworks) and not master.offers

    stack.wait(suppressed, timeout=15, what="the framework suppressed, holding no offer")
    job_type = _sleep_type(stack, "0", name="after-idle")
    job = stack.queue_job(job_type["id"])
    assert stack.wait_job(job["id"], "COMPLETED", timeout=30)["num_exes"] == 1


def test_a_task_lost_in_a_partition_that_comes_back_is_killed_and_the_job_ends_once(stack, monkeypatch):
    """A partitioned agent's task is reported TASK_LOST but goes on running. The job runs again elsewhere
    without spending a try; when the agent is back, the periodic implicit reconciliation finds the first
    copy RUNNING and the scheduler kills it, so the job's work is not done twice in parallel for long."""
    from app.settings import settings

    stack.stop_scheduler()
    monkeypatch.setenv("SCHEDULER_RECONCILE_INTERVAL", "1")
    settings.reload()
    stack.start_scheduler()
    job_type = _sleep_type(stack, "8", name="partitioned", max_tries=1)
    job = stack.queue_job(job_type["id"])
    stack.wait_job(job["id"], "RUNNING")
    first_agent = stack.cluster.agents()[0]["id"]
    master = stack.cluster.master
    first_task = stack.wait(lambda: running_job_task(master), timeout=15, what="the task running on its agent")
    stack.cluster.add_agent(hostname="other-side", cpus=2, mem=2048, disk=1000)
    assert stack.cluster.partition_agent(first_agent) == [first_task.id]

    def second_execution_running():
        with session_scope() as s:
            exes = s.scalars(
                select(JobExecution).where(JobExecution.job_id == job["id"]).order_by(JobExecution.id)
            ).all()
            return len(exes) == 2 and exes[1].job_started is not None

    stack.wait(second_execution_running, timeout=20, what="the job running again on the other agent")
    assert not first_task.exited  # the partition did not stop it
    stack.cluster.heal_agent(first_agent)
    stack.wait(lambda: first_task.exited, timeout=15, what="the first copy to be killed")
    assert first_task.state == "TASK_KILLED"
    done = stack.wait_job(job["id"], "COMPLETED", timeout=30)
    assert done["num_exes"] == 2
    with session_scope() as s:
        first, second = s.scalars(
            select(JobExecution).where(JobExecution.job_id == job["id"]).order_by(JobExecution.id)
        )
        assert first.task_state == "TASK_LOST" and first.error.name == "node-lost"
        assert second.status == "COMPLETED"


def test_an_agent_that_cannot_see_a_workspace_is_degraded_with_a_warning(stack):
    """Each new agent runs a storage probe; one that cannot see a workspace's directory is DEGRADED, and
    /status/ says which path, instead of its jobs failing one by one."""
    import shutil

    workspace = stack.create_workspace("not-mounted")
    shutil.rmtree(workspace["json_config"]["broker"]["host_path"])  # as if the agent had no such mount
    stack.cluster.add_agent(hostname="blind-agent", cpus=1, mem=512, disk=100)
    # An agent is probed on its first offer; with nothing queued the scheduler suppresses offers, so
    # queue a job (which revives them), as an operator's first job would.
    stack.queue_job(_sleep_type(stack, "0", name="brings-offers")["id"])

    def blind_node():
        nodes = stack.client.get("/nodes/?hostname=blind-agent").get_json()["results"]
        return nodes[0] if nodes and nodes[0]["state"]["name"] == "DEGRADED" else None

    stack.wait(blind_node, timeout=30, what="the blind agent's node DEGRADED")
    status = stack.client.get("/v6/status/").get_json()
    (blind,) = [n for n in status["nodes"] if n["hostname"] == "blind-agent"]
    (error,) = blind["errors"]
    assert error["name"] == "SHARED_STORAGE" and "not-mounted" in error["description"], error
    assert "No such file" in error["description"]
    assert any("blind-agent" in w["description"] for w in status["scheduler"]["warnings"]), status["scheduler"]


def test_an_agent_back_with_a_new_id_keeps_its_node_and_the_job_runs_again_without_a_try(stack):
    """A Mesos agent that restarts without its metadata registers with a new id: its tasks are lost, the job
    runs again (the try not spent) on the new agent, and the node row is the same, with the new agent id."""
    job_type = _sleep_type(stack, "60", name="on-restarted-agent", max_tries=1)
    job = stack.queue_job(job_type["id"])
    stack.wait_job(job["id"], "RUNNING")
    old_id = stack.cluster.agents()[0]["id"]
    with session_scope() as s:
        node_id = s.scalars(select(Node.id).where(Node.slave_id == old_id)).one()
    new_id, lost = stack.cluster.restart_agent(old_id)
    assert new_id != old_id and len(lost) == 1

    def second_running():
        with session_scope() as s:
            exes = s.scalars(select(JobExecution).where(JobExecution.job_id == job["id"]).order_by(JobExecution.id))
            exes = exes.all()
            return exes if len(exes) == 2 and exes[1].status == "RUNNING" else None

    first, second = stack.wait(second_running, timeout=30, what="the job running again on the new agent")
    assert (first.status, first.task_state) == ("FAILED", "TASK_LOST")
    assert (second.node_id, second.agent_id) == (node_id, new_id)
    with session_scope() as s:
        assert s.get(Node, node_id).slave_id == new_id
        assert s.scalar(select(func.count()).select_from(Node)) == 1
    assert stack.job(job["id"])["max_tries"] == 2, "the lost try was given back"
    stack.client.patch(f"/jobs/{job['id']}/", json={"status": "CANCELED"})


def test_a_job_that_cannot_run_says_why_through_the_api(stack, monkeypatch):
    """On the running system: a job larger than every node, and one whose type is paused, each show the
    reason in GET /jobs/<id>/, and /queue/status/ counts them by reason."""
    from app.settings import settings

    stack.stop_scheduler()
    monkeypatch.setenv("SCHEDULER_EXPLAIN_INTERVAL", "0.2")
    settings.reload()
    stack.start_scheduler()
    huge = _sleep_type(stack, "0", name="too-big", mem_required=16384.0)
    paused = _sleep_type(stack, "0", name="held-type")
    assert stack.client.patch(f"/job-types/{paused['id']}/", json={"is_paused": True}).status_code == 200
    big = stack.queue_job(huge["id"])
    held = stack.queue_job(paused["id"])

    def scheduling(job_id, reason):
        block = stack.job(job_id)["scheduling"]
        return block if block and block["reason"] == reason else None

    big_reason = stack.wait(lambda: scheduling(big["id"], "does_not_fit_anywhere"), what="the too-big job's reason")
    assert big_reason["detail"] == "needs 16384 MiB memory; the largest node offers 4096"
    held_reason = stack.wait(lambda: scheduling(held["id"], "job_type_paused"), what="the paused job's reason")
    assert held_reason["detail"] == f"job type held-type {paused['version']} is paused"
    counts = stack.client.get("/queue/status/").get_json()["reasons"]
    assert counts == {"does_not_fit_anywhere": 1, "job_type_paused": 1}
    assert stack.client.patch(f"/job-types/{paused['id']}/", json={"is_paused": False}).status_code == 200
    assert stack.wait_job(held["id"], "COMPLETED")["scheduling"] is None


def test_a_job_over_its_memory_fails_with_out_of_memory_and_is_not_retried_forever(stack):
    """The local cluster as an agent with Mesos' memory isolator: the kill is reported as a container
    limitation, and the execution fails with the out-of-memory error, not algorithm-unknown."""
    stack.cluster.executor.memory_limits = True
    interface = {
        "version": "1.0",
        "command": script_command("hold_memory.py"),
        "command_arguments": "200 30",
        "input_data": [],
        "output_data": [],
    }
    job_type = stack.create_job_type(name="memory-hog", interface=interface, mem_required=64.0, max_tries=1)
    job = stack.queue_job(job_type["id"])
    failed = stack.wait_job(job["id"], "FAILED", timeout=30)
    assert failed["error"]["name"] == "out-of-memory"
    with session_scope() as s:
        exe = s.scalars(select(JobExecution).where(JobExecution.job_id == job["id"])).one()
        assert exe.task_reason == "REASON_CONTAINER_LIMITATION_MEMORY"
        assert exe.task_message.startswith("Memory limit exceeded: Requested: 64MB")


def test_a_job_on_reserved_resources_survives_a_partition_and_an_agent_restart_and_ends_once(stack, monkeypatch):
    """Issue 12's end to end case: role-reserved resources, a task reported LOST that turns out RUNNING, then
    an agent that comes back with a new id. The job ends exactly once, no loss spends its only try, the
    stray copy is killed, and the logs of the run that completed are read through the agent."""
    from app.settings import settings

    stack.stop_scheduler()
    monkeypatch.setenv("FRAMEWORK_ROLE", "scale")
    monkeypatch.setenv("SCHEDULER_RECONCILE_INTERVAL", "1")
    settings.reload()
    stack.cluster.remove_agent(stack.cluster.agents()[0]["id"])
    agent_id = stack.cluster.add_agent(hostname="reserved", resources="cpus(scale):1;mem(scale):1024;disk:1000")
    stack.start_scheduler()
    job_type = _sleep_type(stack, "4", name="through-it-all", cpus_required=0.5, mem_required=256.0, max_tries=1)
    job = stack.queue_job(job_type["id"])
    master = stack.cluster.master

    def executions():
        with session_scope() as s:
            rows = s.scalars(select(JobExecution).where(JobExecution.job_id == job["id"]).order_by(JobExecution.id))
            out = [(e.id, e.status, e.job_started is not None, e.task_id) for e in rows]
        return out

    def running_task(not_this=None):
        return running_job_task(master, not_this)

    first = stack.wait(running_task, timeout=20, what="the first run on the reserved agent")
    assert stack.cluster.partition_agent(agent_id) == [first.id]  # LOST, but it runs on
    stack.wait(lambda: len(executions()) == 2, timeout=20, what="the job queued again after the loss")
    stack.cluster.heal_agent(agent_id)
    stack.wait(lambda: first.exited, timeout=20, what="the stray first copy killed once the agent is back")
    assert first.state == "TASK_KILLED"

    second = stack.wait(lambda: running_task(first.id), timeout=20, what="the second run")
    new_agent_id, lost = stack.cluster.restart_agent(agent_id)
    assert lost == [second.id] and new_agent_id != agent_id
    done = stack.wait_job(job["id"], "COMPLETED", timeout=60)

    statuses = [status for _, status, _, _ in executions()]
    assert statuses == ["FAILED", "FAILED", "COMPLETED"], statuses
    assert done["num_exes"] == 3
    with session_scope() as s:
        errors = [
            e.error.name for e in s.scalars(select(JobExecution).where(JobExecution.job_id == job["id"])) if e.error
        ]
    assert errors == ["node-lost", "node-lost"]
    last_id = executions()[-1][0]
    logs = stack.client.get(f"/job-executions/{last_id}/logs/stdout/")
    assert logs.status_code == 200 and "sleeping" in logs.get_data(as_text=True)


def test_a_mount_disk_is_never_cut_and_a_path_disk_is_cut_with_its_source(stack):
    """A MOUNT disk is offered whole, and the strict master refuses a task taking part of it, as a real
    one does. The scheduler leaves it alone: a job needing disk waits, saying why; one needing none runs."""
    stack.stop_scheduler()
    stack.cluster.remove_agent(stack.cluster.agents()[0]["id"])
    stack.cluster.add_agent(hostname="mounted", resources="cpus:2;mem:2048;disk[MOUNT:/mnt/d1]:5000")
    stack.start_scheduler()
    needs_disk = stack.queue_job(_sleep_type(stack, "0", name="needs-disk", disk_out_const_required=100.0)["id"])
    no_disk = stack.queue_job(_sleep_type(stack, "0", name="no-disk")["id"])
    assert stack.wait_job(no_disk["id"], "COMPLETED", timeout=40)["num_exes"] == 1

    def waiting():
        block = stack.job(needs_disk["id"])["scheduling"]
        return block if block and block["reason"] == "does_not_fit_anywhere" else None

    reason = stack.wait(waiting, what="the disk job's reason")
    assert reason["detail"] == "needs 100 MiB disk; the largest node offers 0", reason
    assert stack.job(needs_disk["id"])["status"] == "QUEUED"

    # A PATH disk may be cut: the job runs there, its task naming the disk's source as the offer did.
    stack.cluster.add_agent(hostname="pathed", resources="cpus:2;mem:2048;disk[PATH:/mnt/d2]:5000")
    assert stack.wait_job(needs_disk["id"], "COMPLETED", timeout=40)["num_exes"] == 1
    with session_scope() as s:
        assert s.scalars(select(JobExecution).where(JobExecution.task_state == "TASK_ERROR")).first() is None
        task_id = s.scalars(select(JobExecution.task_id).where(JobExecution.job_id == needs_disk["id"])).one()
    (disk,) = [r for r in stack.cluster.master.completed[task_id].info["resources"] if r["name"] == "disk"]
    assert disk["scalar"] == {"value": 100.0}
    assert disk["disk"] == {"source": {"type": "PATH", "path": {"root": "/mnt/d2"}}}
