"""SchedulerCore driven by a fake driver over a real SQLite database, without a master."""

import time
from datetime import timezone

import pytest
from sqlalchemy import select

from app.settings import settings
from workers.scheduler import SchedulerCore


class FakeDriver:
    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        return lambda *args, **kw: self.calls.append((name, args))


@pytest.fixture(autouse=True)
def no_storage_probes(request, monkeypatch):
    """The first offers of an agent go to its storage probe: most tests here look at jobs only."""
    if "probes" not in request.node.name:
        monkeypatch.setattr(settings, "SCHEDULER_STORAGE_PROBES", False, raising=False)


def core_on(driver, registered: bool = True) -> SchedulerCore:
    """A core driving `driver` (as its driver_factory would give it), registered as fw-1 unless told not to."""
    core = SchedulerCore(driver_factory=lambda: driver)
    core.driver = driver
    if registered:
        core.on_registered("fw-1", {}, reregistered=False)
    return core


def launched_execution(session):
    """A RUNNING execution whose task was launched and has not reported yet."""
    from tests.factories import make_execution, make_job, make_job_type

    job = make_job(session, make_job_type(session), status="RUNNING")
    exe = make_execution(session, job, status="RUNNING", task_id="scale-exe-pending", job_started=None)
    exe.task_id = f"scale-exe-{exe.id}"
    session.commit()
    return exe


def offer(offer_id="o-1", agent_id="agent-1", cpus=1.0, mem=64.0):
    return {
        "id": {"value": offer_id},
        "agent_id": {"value": agent_id},
        "hostname": "host-1",
        "url": {"address": {"port": 5051}},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "attributes": [],
    }


def queued_job_after_one_pass(session):
    """A QUEUED job (0.5 cpus) and a core that was offered 2 cpus and ran one pass: (job, driver, core)."""
    from tests.factories import make_job, make_job_type

    job_type = make_job_type(session, cpus_required=0.5, mem_required=32.0)
    job = make_job(session, job_type, status="QUEUED", cpus_required=0.5, mem_required=32.0)
    session.commit()
    driver = FakeDriver()
    core = core_on(driver)
    core.on_offers([offer(cpus=2.0, mem=256.0)])
    core.step()
    return job, driver, core


def test_offers_are_declined_when_nothing_is_queued(session, monkeypatch):
    monkeypatch.setattr(settings, "SCHEDULER_OFFER_HOLD", 0.0, raising=False)
    driver = FakeDriver()
    core = core_on(driver)
    core.on_offers([offer()])
    core.step()
    names = [name for name, _ in driver.calls]
    assert "declineOffer" in names
    assert "launchTasks" not in names
    declined = next(args for name, args in driver.calls if name == "declineOffer")
    assert declined[0] == [{"value": "o-1"}]


def test_a_queued_job_is_launched_on_a_fitting_offer(session, monkeypatch):
    from app.models import JobExecution

    job, driver, core = queued_job_after_one_pass(session)
    launches = [args for name, args in driver.calls if name == "launchTasks"]
    assert len(launches) == 1
    offer_ids, tasks = launches[0][0], launches[0][1]
    assert offer_ids == [{"value": "o-1"}]
    session.expire_all()
    exe = session.query(JobExecution).filter_by(job_id=job.id).one()
    assert [t["task_id"]["value"] for t in tasks] == [f"scale-exe-{exe.id}"]
    assert tasks[0]["agent_id"] == {"value": "agent-1"}
    cpus = next(r["scalar"]["value"] for r in tasks[0]["resources"] if r["name"] == "cpus")
    assert cpus == 0.5


def test_a_timed_out_task_is_killed_and_its_execution_marked(session):
    from app.models import JobExecution
    from tests.factories import make_execution, make_job, make_job_type
    from workers.scheduler import RunningTask

    job = make_job(session, make_job_type(session), status="RUNNING")
    exe = make_execution(session, job, status="RUNNING", task_id="scale-exe-pending")
    exe.task_id = f"scale-exe-{exe.id}"
    session.commit()
    driver = FakeDriver()
    core = core_on(driver, registered=False)
    core.running[exe.task_id] = RunningTask(
        exe_id=exe.id,
        job_id=job.id,
        job_type_id=job.job_type_id,
        agent_id="agent-1",
        cpus=1.0,
        mem=32.0,
        disk=0.0,
        started=0.0,
        timeout=5,
    )
    core.kill_and_expire()
    assert ("killTask", ({"value": exe.task_id},)) in driver.calls
    session.expire_all()
    assert session.get(JobExecution, exe.id).kill_reason == "timeout"


def test_a_running_update_is_recorded_and_acknowledged(session):
    from app.models import JobExecution

    exe = launched_execution(session)
    driver = FakeDriver()
    core = core_on(driver, registered=False)
    update = {
        "task_id": {"value": exe.task_id},
        "state": "TASK_RUNNING",
        "uuid": "dXVpZA==",
        "agent_id": {"value": "agent-1"},
        "timestamp": 1_700_000_000.0,
    }
    core.on_update(update)
    core.process_updates()
    assert ("acknowledgeStatusUpdate", (update,)) in driver.calls
    session.expire_all()
    started = session.get(JobExecution, exe.id).job_started
    assert started is not None and started.replace(tzinfo=timezone.utc).timestamp() == 1_700_000_000.0


def test_framework_info_names_a_real_user_and_checkpoints(monkeypatch):
    import getpass

    from app.settings import settings
    from workers.scheduler.core import framework_info

    info = framework_info("fw-1")
    assert info["user"] == getpass.getuser() and info["checkpoint"] is True
    assert info["id"] == {"value": "fw-1"} and {"type": "MULTI_ROLE"} in info["capabilities"]
    monkeypatch.setenv("FRAMEWORK_USER", "nobody")
    settings.reload()
    try:
        assert framework_info()["user"] == "nobody" and "id" not in framework_info()
    finally:
        monkeypatch.undo()
        settings.reload()


def test_an_error_event_stops_the_scheduler_instead_of_resubscribing(session):
    import threading

    from workers.scheduler.callbacks import ScaleScheduler

    driver = FakeDriver()
    core = SchedulerCore(driver_factory=lambda: driver)
    runner = threading.Thread(target=core.run, daemon=True)
    runner.start()
    ScaleScheduler(core).error(driver, "Framework has been removed")
    runner.join(timeout=10)
    assert not runner.is_alive()
    assert core.fatal_error == "Framework has been removed"
    assert "stop" in [name for name, _ in driver.calls]  # the driver is stopped, not left reconnecting


def test_offers_are_suppressed_while_nothing_is_queued_and_revived_when_jobs_arrive(session, monkeypatch):
    from tests.factories import make_job, make_job_type

    monkeypatch.setattr(settings, "SCHEDULER_OFFER_HOLD", 60.0, raising=False)
    driver = FakeDriver()
    core = core_on(driver)
    core.on_offers([offer()])
    core.sync(full=True)
    core.step()
    core.step()
    names = [name for name, _ in driver.calls]
    assert names.count("suppressOffers") == 1  # once, not on every pass
    assert ("declineOffer", ([{"value": "o-1"}],)) in driver.calls  # nothing held back from other frameworks
    assert "reviveOffers" not in names

    job_type = make_job_type(session, cpus_required=0.5, mem_required=32.0)
    make_job(session, job_type, status="QUEUED", cpus_required=0.5, mem_required=32.0)
    session.commit()
    core.sync(full=False)
    driver.calls.clear()
    core.step()
    assert [name for name, _ in driver.calls].count("reviveOffers") == 1
    core.step()  # no offer yet, but asked a moment ago: not again at once
    assert [name for name, _ in driver.calls].count("reviveOffers") == 1

    core.on_registered("fw-1", {}, reregistered=True)  # a new subscription starts unsuppressed
    assert core.suppressed is False


def test_a_lost_task_that_turns_out_running_is_killed_not_left_to_run_twice(session):
    """TASK_LOST ends the execution (the job may run again elsewhere), but it is no proof the task stopped:
    when the agent comes back and reports it RUNNING, the scheduler kills that copy."""
    from app.models import JobExecution

    exe = launched_execution(session)
    driver = FakeDriver()
    core = core_on(driver, registered=False)
    task = {"value": exe.task_id}
    core.on_update({"task_id": task, "state": "TASK_LOST", "reason": "REASON_AGENT_REMOVED", "uuid": "MQ=="})
    core.process_updates()
    session.expire_all()
    assert session.get(JobExecution, exe.id).task_state == "TASK_LOST"
    assert not [c for c in driver.calls if c[0] == "killTask"]

    core.on_update({"task_id": task, "state": "TASK_RUNNING", "uuid": "Mg=="})
    core.process_updates()
    assert ("killTask", (task,)) in driver.calls
    assert core.counters.orphan_tasks_killed == 1
    session.expire_all()
    assert session.get(JobExecution, exe.id).task_state == "TASK_LOST"  # the ended execution stays ended


def test_a_launch_the_master_never_got_requeues_the_job_at_once_without_spending_a_try(session):
    from app.models import Job, JobExecution
    from app.services.executions import finish_executions
    from tests.factories import make_job, make_job_type

    class RefusingDriver(FakeDriver):
        def launchTasks(self, offer_ids, tasks, filters=None):
            raise RuntimeError("Failed to send request 503: master is recovering")

    job_type = make_job_type(session, cpus_required=0.5, mem_required=32.0)
    job = make_job(session, job_type, status="QUEUED", cpus_required=0.5, mem_required=32.0, max_tries=1)
    session.commit()
    core = core_on(RefusingDriver())
    core.on_offers([offer(cpus=2.0, mem=256.0)])
    core.step()  # matched, written RUNNING, the send fails
    core.step()  # the pass after records the drop at once, not at the next reconcile
    session.expire_all()
    exe = session.scalars(select(JobExecution).where(JobExecution.job_id == job.id)).one()
    assert exe.task_state == "TASK_DROPPED" and "503" in exe.task_message
    assert exe.task_id not in core.running
    finish_executions(session, [exe.id])  # what the finish message does
    session.commit()
    session.expire_all()
    job = session.get(Job, job.id)
    assert job.status == "QUEUED" and job.max_tries == 2
    assert session.get(JobExecution, exe.id).error.name == "task-launch"


def test_a_silent_subscription_makes_the_scheduler_exit_to_resubscribe(session, monkeypatch):
    """No heartbeat, offer or update for SCHEDULER_HEARTBEAT_TIMEOUT: the connection is dead even if its
    socket looks open, so the process exits (the supervisor restarts it) instead of waiting forever."""
    import threading

    from workers.scheduler.callbacks import ScaleScheduler

    monkeypatch.setattr(settings, "SCHEDULER_HEARTBEAT_TIMEOUT", 1.5, raising=False)
    driver = FakeDriver()
    core = SchedulerCore(driver_factory=lambda: driver)
    runner = threading.Thread(target=core.run, daemon=True)
    runner.start()
    callbacks = ScaleScheduler(core)
    callbacks.registered(driver, {"value": "fw-1"}, {})
    for _ in range(3):  # heartbeats keep it alive
        time.sleep(0.8)
        callbacks.processHeartBeat(driver)
        assert runner.is_alive()
    runner.join(timeout=10)
    assert not runner.is_alive()
    assert core.restart_reason and "heartbeats stopped" in core.restart_reason
    assert core.fatal_error is None


def test_a_lost_executor_leaves_the_agents_other_tasks_alone(session):
    from workers.scheduler import RunningTask
    from workers.scheduler.callbacks import ScaleScheduler

    driver = FakeDriver()
    core = core_on(driver)
    for task_id in ("scale-exe-1", "scale-exe-2"):
        core.running[task_id] = RunningTask(1, 1, 1, "agent-1", 0.1, 16.0, 0.0, time.time(), 600)
    ScaleScheduler(core).executorLost(driver, {"value": "scale-exe-1"}, {"value": "agent-1"}, 1)
    core.process_updates()
    assert set(core.running) == {"scale-exe-1", "scale-exe-2"}  # its task's own update decides, not a guess
    assert core.needs_reconcile


def test_master_addresses_are_checked_before_the_scheduler_starts():
    from app.settings import master_problem

    for good in ("10.0.0.5:5050", "mesos.example:5050", "zk://zk1:2181,zk2:2181/mesos"):
        assert master_problem(good) == "", good
    for bad in ("mesos.example", "http://mesos:5050", "zk://zk1:2181", "zk://user:pw@zk1:2181/mesos", "zk:///m"):
        assert "MESOS_MASTER=" in master_problem(bad), bad


def test_storage_probes_run_once_per_agent_and_a_failed_one_marks_its_node(session, scale_env):
    """A new agent's first offers run `ls -d -- <paths>` (no shell); jobs go to the offers after. A probe that
    fails puts its error in the node's report (the node is DEGRADED) and in the warnings."""
    from tests.factories import make_workspace

    make_workspace(
        session,
        name="raw",
        json_config={"version": "1.0", "broker": {"type": "host", "host_path": str(scale_env / "raw")}},
    )
    _, driver, core = queued_job_after_one_pass(session)
    launches = [args for name, args in driver.calls if name == "launchTasks"]
    assert len(launches) == 1, "the agent's offers went to its probe alone"
    (probe,) = launches[0][1]
    assert probe["task_id"]["value"].startswith("scale-probe-")
    assert probe["command"] == {
        "shell": False,
        "value": "ls",
        "arguments": ["ls", "-d", "--", str(scale_env / "executions"), str(scale_env / "raw")],
    }
    assert sum(r["scalar"]["value"] for r in probe["resources"] if r["name"] == "cpus") == 0.01

    core.on_offers([offer("o-2", cpus=2.0, mem=256.0)])
    core.step()
    launches = [args for name, args in driver.calls if name == "launchTasks"]
    assert len(launches) == 2 and launches[1][1][0]["task_id"]["value"].startswith("scale-exe-"), "no second probe"

    failed = {"task_id": probe["task_id"], "agent_id": {"value": "agent-1"}, "state": "TASK_FAILED", "uuid": "MQ=="}
    core.on_update({**failed, "message": "Command exited with status 2"})
    core.process_updates()
    assert ("acknowledgeStatusUpdate", ({**failed, "message": "Command exited with status 2"},)) in driver.calls
    (error,) = core.probes.errors("agent-1")
    assert error["name"] == "SHARED_STORAGE" and "Command exited with status 2" in error["description"]
    assert "host-1" in core.warnings["shared-storage"]["description"]
    core.write_status()
    from app.models import Scheduler

    session.expire_all()
    (node,) = session.get(Scheduler, 1).status["nodes"]
    assert node["errors"] == [error]


def test_storage_probes_lost_on_the_way_are_sent_again(session):
    from workers.scheduler.probes import RETRY_AFTER, StorageProbes

    probes = StorageProbes()
    assert probes.wanted(["a"], 0.0) == ["a"]
    task = probes.launched("a", 0.0)
    assert probes.wanted(["a"], 1.0) == []
    assert probes.on_end(task, "TASK_LOST", "agent removed") is None  # says nothing about the agent
    assert probes.wanted(["a"], 2.0) == ["a"]
    task = probes.launched("a", 2.0)
    assert probes.wanted(["a"], 2.0 + RETRY_AFTER) == ["a"]  # no answer at all: asked again
    task = probes.launched("a", 2.0 + RETRY_AFTER)
    assert probes.on_end(task, "TASK_FINISHED", None) == ("a", None)
    assert probes.wanted(["a"], 1e9) == [] and probes.errors("a") == []
