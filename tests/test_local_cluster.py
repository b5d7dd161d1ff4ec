"""The local cluster, driven over real HTTP by the unmodified pymesos.MesosSchedulerDriver."""

from __future__ import annotations

import getpass
import os
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from pymesos import MesosSchedulerDriver, Scheduler

from workers.local_cluster import LocalCluster, machine_resources, parse_attributes

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0  # seconds any single expected event may take


class EventLog:
    """Thread-safe, ordered record of one kind of callback; `take` removes the first match only."""

    def __init__(self) -> None:
        self._items: list = []
        self._cond = threading.Condition()

    def put(self, item) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def take(self, predicate=lambda item: True, timeout: float = WAIT):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, item in enumerate(self._items):
                    if predicate(item):
                        return self._items.pop(i)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for an event; have {self._items}")
                self._cond.wait(remaining)


class Recorder(Scheduler):
    """Records every callback (they run on the driver's IO thread)."""

    def __init__(self) -> None:
        self.registrations = EventLog()
        self.offers = EventLog()
        self.updates = EventLog()
        self.lost_agents = EventLog()
        self.rescinded = EventLog()
        self.errors = EventLog()
        self.heartbeats = EventLog()

    def registered(self, driver, framework_id, master_info):
        self.registrations.put(("registered", framework_id["value"], master_info))

    def reregistered(self, driver, master_info):
        self.registrations.put(("reregistered", None, master_info))

    def resourceOffers(self, driver, offers):
        for offer in offers:
            self.offers.put(offer)

    def offerRescinded(self, driver, offer_id):
        self.rescinded.put(offer_id["value"])

    def statusUpdate(self, driver, status):
        self.updates.put(status)

    def slaveLost(self, driver, agent_id):
        self.lost_agents.put(agent_id["value"])

    def executorLost(self, driver, executor_id, agent_id, status):
        self.lost_agents.put(agent_id["value"])

    def error(self, driver, message):
        self.errors.put(message)

    def processHeartBeat(self, driver):
        self.heartbeats.put(time.monotonic())


def take(log: EventLog, predicate=lambda item: True, timeout: float = WAIT):
    return log.take(predicate, timeout)


def nothing(log: EventLog, predicate=lambda item: True, timeout: float = 1.0) -> None:
    try:
        item = log.take(predicate, timeout)
    except AssertionError:
        return
    raise AssertionError(f"unexpected event {item}")


def scalars(offer) -> dict[str, float]:
    return {r["name"]: r["scalar"]["value"] for r in offer["resources"] if r["type"] == "SCALAR"}


def task_info(task_id, offer, argv, cpus=0.5, mem=64.0, env=None, shell=False):
    command = {"shell": shell, "value": argv[0], "arguments": list(argv)}
    if shell:
        command = {"shell": True, "value": argv}
    if env:
        command["environment"] = {"variables": [{"name": k, "value": v} for k, v in env.items()]}
    return {
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "name": task_id,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": command,
    }


def state_of(task_id):
    return lambda s: s["task_id"]["value"] == task_id


def sandbox_of(cluster: LocalCluster, task_id: str) -> Path:
    """The task's sandbox on its agent, as the master's /state names it."""
    state = cluster.state()
    tasks = [t for f in state["frameworks"] for t in f["tasks"] + f["completed_tasks"] if t["id"] == task_id]
    return Path(tasks[0]["sandbox"])


def is_pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.fixture
def cluster(tmp_path):
    c = LocalCluster(
        port=0,
        agents=1,
        cpus=4,
        mem=4096,
        disk=10000,
        var_dir=tmp_path / "var",
        offer_interval=0.05,
        heartbeat_interval=0.5,
        retry_interval=0.5,
        kill_grace=1.0,
        attributes={"rack": "r1", "zone": 2},
        test_routes=True,
        allow_shell=True,
    )
    c.start()
    yield c
    c.stop()


@pytest.fixture
def drivers():
    """Starts drivers and stops them (tearing the framework down) at the end."""
    started = []

    def start(cluster, framework=None, **kwargs):
        sched = Recorder()
        info = {"user": getpass.getuser(), "name": "test-framework", "failover_timeout": 60.0}
        info.update(framework or {})
        driver = MesosSchedulerDriver(sched, info, cluster.address, **kwargs)
        driver.start()
        started.append(driver)
        return driver, sched

    yield start
    for driver in started:
        driver.stop()
        driver.join()


def test_subscribe_and_offers(cluster, drivers):
    driver, sched = drivers(cluster)
    kind, framework_id, master_info = take(sched.registrations)
    assert kind == "registered" and framework_id
    assert master_info["version"] == "1.11.0"
    offer = take(sched.offers)
    assert scalars(offer) == {"cpus": 4.0, "mem": 4096.0, "disk": 10000.0}
    assert all(r["role"] == "*" for r in offer["resources"])
    (ports,) = [r for r in offer["resources"] if r["type"] == "RANGES"]  # a Mesos agent's default ports
    assert ports["name"] == "ports" and ports["ranges"] == {"range": [{"begin": 31000, "end": 32000}]}
    assert offer["framework_id"]["value"] == framework_id
    assert offer["hostname"]
    address = offer["url"]["address"]
    assert address["port"] != cluster.port  # an agent has its own endpoint, as on its own machine
    agent = requests.get(f"http://{address['ip']}:{address['port']}/state", timeout=5).json()
    assert agent["id"] == offer["agent_id"]["value"]
    assert offer["agent_id"]["value"] == cluster.agents()[0]["id"]
    attrs = {a["name"]: a for a in offer["attributes"]}
    assert attrs["rack"] == {"name": "rack", "type": "TEXT", "text": {"value": "r1"}}
    assert attrs["zone"]["scalar"]["value"] == 2.0
    # held offers are not offered again
    nothing(sched.offers, timeout=0.5)
    # heartbeats arrive at the announced interval
    take(sched.heartbeats, timeout=3)

    state = requests.get(cluster.url + "/master/state", timeout=5).json()
    assert state["slaves"][0]["offered_resources"]["cpus"] == 4.0
    assert state["frameworks"][0]["id"] == framework_id
    assert requests.get(cluster.url + "/state.json", timeout=5).status_code == 200
    assert requests.get(cluster.url + "/health", timeout=5).status_code == 200
    assert requests.get(cluster.url + "/version", timeout=5).json()["version"] == "1.11.0"
    r = requests.get(cluster.url + "/master/redirect", timeout=5, allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"] == f"//{cluster.address}"


def test_echo_runs_and_finishes(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("echo-1", offer, ["/bin/echo", "hello"])])
    running = take(sched.updates, state_of("echo-1"))
    assert running["state"] == "TASK_RUNNING"
    assert running["source"] == "SOURCE_EXECUTOR" and running["uuid"] and running["timestamp"]
    assert running["agent_id"] == offer["agent_id"]
    finished = take(sched.updates, state_of("echo-1"))
    assert finished["state"] == "TASK_FINISHED"
    assert finished["message"] == "Command exited with status 0"
    sandbox = sandbox_of(cluster, "echo-1")
    assert (sandbox / "stdout").read_text() == "hello\n"
    assert (sandbox / "stderr").read_text() == ""
    # the resources come back in full, promptly
    again = take(sched.offers, lambda o: scalars(o).get("cpus") == 4.0, timeout=3)
    assert scalars(again)["mem"] == 4096.0


def test_failing_command_reports_exit_status(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("fail-1", offer, ["sh", "-c", "exit 3"])])
    final = take(sched.updates, lambda s: state_of("fail-1")(s) and s["state"] != "TASK_RUNNING")
    assert final["state"] == "TASK_FAILED"
    assert final["message"] == "Command exited with status 3"


def test_arguments_are_passed_literally_without_a_shell(cluster, drivers, tmp_path):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    marker = tmp_path / "pwned"
    # If anything handed this to a shell, it would run harmless commands that leave `marker` behind.
    hostile = f"value; rm -rf {tmp_path}/does-not-exist $(id); touch {marker}"
    script = "import os, sys; print(repr(sys.argv[1:])); print(os.environ['MESOS_SANDBOX']); print(os.environ['MY_VAR']); print(os.getcwd())"
    argv = [sys.executable, "-c", script, hostile, "*"]
    driver.launchTasks(offer["id"], [task_info("argv-1", offer, argv, env={"MY_VAR": "a b $HOME"})])
    final = take(sched.updates, lambda s: state_of("argv-1")(s) and s["state"] != "TASK_RUNNING")
    sandbox = sandbox_of(cluster, "argv-1")
    assert final["state"] == "TASK_FINISHED", (sandbox / "stderr").read_text()
    lines = (sandbox / "stdout").read_text().splitlines()
    assert lines[0] == repr([hostile, "*"])
    assert lines[1] == str(sandbox)
    assert lines[2] == "a b $HOME"
    assert os.path.realpath(lines[3]) == os.path.realpath(sandbox)
    assert not marker.exists()


def test_shell_command_when_asked(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("shell-1", offer, "echo $((6*7))", shell=True)])
    final = take(sched.updates, lambda s: state_of("shell-1")(s) and s["state"] != "TASK_RUNNING")
    assert final["state"] == "TASK_FINISHED"
    assert (sandbox_of(cluster, "shell-1") / "stdout").read_text() == "42\n"


def test_missing_binary_and_oversized_task(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    driver.launchTasks(
        offer["id"],
        [
            task_info("big-1", offer, ["/bin/true"], cpus=5.0),
            task_info("missing-1", offer, ["/no/such/binary", "x"]),
            task_info("../escape", offer, ["/bin/true"]),
        ],
    )
    big = take(sched.updates, state_of("big-1"))
    assert big["state"] == "TASK_ERROR" and big["reason"] == "REASON_TASK_INVALID"
    assert "more resources" in big["message"]
    missing = take(sched.updates, state_of("missing-1"))
    assert missing["state"] == "TASK_FAILED"
    assert "Failed to launch command" in missing["message"] and "No such file" in missing["message"]
    escape = take(sched.updates, state_of("../escape"))
    assert escape["state"] == "TASK_ERROR"
    assert not (cluster.var_dir / "escape").exists()
    # nothing stays allocated
    take(sched.offers, lambda o: scalars(o).get("cpus") == 4.0, timeout=8)


def test_kill_sleeping_task(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    # sh ignores SIGTERM here, so the kill needs the SIGKILL after the grace period
    argv = ["sh", "-c", "trap '' TERM; sleep 60 & wait"]
    driver.launchTasks(
        offer["id"], [task_info("sleep-1", offer, ["sleep", "60"]), task_info("stubborn-1", offer, argv)]
    )
    for task_id in ("sleep-1", "stubborn-1"):
        assert take(sched.updates, state_of(task_id))["state"] == "TASK_RUNNING"
    pids = {t["id"]: t["pid"] for t in cluster.state()["frameworks"][0]["tasks"]}
    start = time.monotonic()
    driver.killTask({"value": "sleep-1"})
    killed = take(sched.updates, state_of("sleep-1"), timeout=5)
    assert killed["state"] == "TASK_KILLED"
    assert killed["message"] == "Command terminated with signal Terminated"
    assert time.monotonic() - start < 3
    driver.killTask({"value": "stubborn-1"})
    killed = take(sched.updates, state_of("stubborn-1"), timeout=5)
    assert killed["state"] == "TASK_KILLED"
    for pid in pids.values():
        assert not is_pid_alive(pid)
    # killing an unknown task answers TASK_LOST, as Mesos does
    driver.killTask({"value": "no-such-task"})
    lost = take(sched.updates, state_of("no-such-task"))
    assert lost["state"] == "TASK_LOST" and "uuid" not in lost


def test_agent_removal_loses_tasks(tmp_path, drivers):
    with LocalCluster(
        port=0, agents=2, cpus=2, mem=1024, disk=1000, var_dir=tmp_path, offer_interval=0.05, test_routes=True
    ) as cluster:
        driver, sched = drivers(cluster)
        offers = [take(sched.offers), take(sched.offers)]
        assert {o["agent_id"]["value"] for o in offers} == {a["id"] for a in cluster.agents()}
        assert len({o["hostname"] for o in offers}) == 2
        victim = offers[0]
        driver.launchTasks(victim["id"], [task_info("doomed-1", victim, ["sleep", "60"])])
        assert take(sched.updates, state_of("doomed-1"))["state"] == "TASK_RUNNING"
        pid = cluster.state()["frameworks"][0]["tasks"][0]["pid"]
        agent_id = victim["agent_id"]["value"]

        r = requests.post(f"{cluster.url}/local/agents/{agent_id}/remove", timeout=5)
        assert r.status_code == 200 and r.json()["lost_tasks"] == ["doomed-1"]
        lost = take(sched.updates, state_of("doomed-1"))
        assert lost["state"] == "TASK_LOST" and lost["reason"] == "REASON_AGENT_REMOVED"
        assert take(sched.lost_agents) == agent_id
        deadline = time.monotonic() + 5
        while is_pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_pid_alive(pid)
        assert [a["id"] for a in cluster.agents()] == [offers[1]["agent_id"]["value"]]
        # the other agent's offer is still held; nothing comes from the removed agent
        nothing(sched.offers, lambda o: o["agent_id"]["value"] == agent_id, timeout=0.5)
        assert requests.post(f"{cluster.url}/local/agents/{agent_id}/remove", timeout=5).status_code == 404

        r = requests.post(f"{cluster.url}/local/agents/add", json={"cpus": 1, "hostname": "extra"}, timeout=5)
        assert r.status_code == 200
        new_offer = take(sched.offers)
        assert new_offer["agent_id"]["value"] == r.json()["agent_id"] != agent_id
        assert new_offer["hostname"] == "extra"
        assert scalars(new_offer)["cpus"] == 1.0


def test_removing_an_agent_rescinds_its_offers(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    cluster.remove_agent(offer["agent_id"]["value"])
    assert take(sched.rescinded) == offer["id"]["value"]
    assert take(sched.lost_agents) == offer["agent_id"]["value"]


def test_decline_filters_and_revive(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    start = time.monotonic()
    driver.declineOffer(offer["id"], filters={"refuse_seconds": 0.6})
    again = take(sched.offers)
    assert time.monotonic() - start >= 0.55
    assert again["id"] != offer["id"] and scalars(again) == scalars(offer)

    driver.declineOffer(again["id"])  # no filters: Mesos' default refuse_seconds of 5
    nothing(sched.offers, timeout=1.0)
    driver.reviveOffers()
    revived = take(sched.offers, timeout=3)
    assert scalars(revived) == scalars(offer)

    driver.suppressOffers()
    driver.declineOffer(revived["id"], filters={"refuse_seconds": 0})
    nothing(sched.offers, timeout=0.5)
    driver.reviveOffers()
    take(sched.offers, timeout=3)


def test_unused_part_of_an_accepted_offer_is_filtered(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    start = time.monotonic()
    driver.launchTasks(
        offer["id"], [task_info("part-1", offer, ["sleep", "60"], cpus=1)], filters={"refuse_seconds": 0.5}
    )
    rest = take(sched.offers)
    assert time.monotonic() - start >= 0.45
    assert scalars(rest)["cpus"] == 3.0
    driver.killTask({"value": "part-1"})


def test_reconcile(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    driver.launchTasks(
        offer["id"], [task_info("rec-1", offer, ["sleep", "60"]), task_info("rec-2", offer, ["/bin/true"])]
    )
    assert take(sched.updates, state_of("rec-1"))["state"] == "TASK_RUNNING"
    take(sched.updates, lambda s: state_of("rec-2")(s) and s["state"] == "TASK_FINISHED")

    driver.reconcileTasks(
        [{"task_id": {"value": "rec-1"}}, {"task_id": {"value": "rec-2"}}, {"task_id": {"value": "ghost"}}]
    )
    got = {}
    while len(got) < 3:
        s = take(sched.updates)
        got[s["task_id"]["value"]] = s
    assert got["rec-1"]["state"] == "TASK_RUNNING" and got["rec-1"]["reason"] == "REASON_RECONCILIATION"
    assert "uuid" not in got["rec-1"]
    assert got["rec-2"]["state"] == "TASK_FINISHED"
    assert got["ghost"]["state"] == "TASK_LOST"

    driver.reconcileTasks([])  # implicit: every task the master knows
    implicit = take(sched.updates)
    assert implicit["task_id"]["value"] == "rec-1" and implicit["state"] == "TASK_RUNNING"
    nothing(sched.updates, timeout=0.5)


def test_reconcile_answers_staging_for_a_task_accepted_but_not_yet_started(cluster, drivers, monkeypatch):
    # Under load a task waits for the launcher; answering TASK_LOST then would requeue a job that is about to run.
    release = threading.Event()
    spawn = cluster.executor.spawn
    monkeypatch.setattr(cluster.executor, "spawn", lambda task: (release.wait(WAIT), spawn(task)))
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("slow-1", offer, ["/bin/true"])])
    time.sleep(0.2)
    driver.reconcileTasks([{"task_id": {"value": "slow-1"}}])
    explicit = take(sched.updates, state_of("slow-1"))
    assert explicit["state"] == "TASK_STAGING" and explicit["reason"] == "REASON_RECONCILIATION"
    driver.reconcileTasks([])
    assert take(sched.updates, state_of("slow-1"))["state"] == "TASK_STAGING"
    release.set()
    assert take(sched.updates, state_of("slow-1"))["state"] == "TASK_RUNNING"
    assert take(sched.updates, state_of("slow-1"))["state"] == "TASK_FINISHED"


def test_unacknowledged_updates_are_resent(cluster, drivers):
    driver, sched = drivers(cluster, implicit_acknowledgements=False)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("ack-1", offer, ["/bin/true"])])
    first = take(sched.updates, state_of("ack-1"))
    assert first["state"] == "TASK_RUNNING"
    # in order, one at a time: the same RUNNING update again, not FINISHED, until acknowledged
    resent = take(sched.updates, state_of("ack-1"), timeout=3)
    assert resent["uuid"] == first["uuid"] and resent["state"] == "TASK_RUNNING"
    driver.acknowledgeStatusUpdate(first)
    finished = take(sched.updates, lambda s: state_of("ack-1")(s) and s["uuid"] != first["uuid"], timeout=3)
    assert finished["state"] == "TASK_FINISHED"
    driver.acknowledgeStatusUpdate(finished)
    nothing(sched.updates, state_of("ack-1"), timeout=1.0)


def test_failover_keeps_tasks_and_reconciles(cluster, drivers):
    driver, sched = drivers(cluster)
    _, framework_id, _ = take(sched.registrations)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("keep-1", offer, ["sleep", "60"])])
    assert take(sched.updates, state_of("keep-1"))["state"] == "TASK_RUNNING"
    pid = cluster.state()["frameworks"][0]["tasks"][0]["pid"]

    driver.stop(failover=True)
    driver.join()
    deadline = time.monotonic() + 5
    while cluster.state()["frameworks"][0]["connected"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cluster.state()["frameworks"][0]["connected"]
    time.sleep(0.3)
    assert is_pid_alive(pid)

    driver2, sched2 = drivers(cluster, framework={"id": {"value": framework_id}})
    kind, _, _ = take(sched2.registrations)
    assert kind == "reregistered"
    driver2.reconcileTasks([{"task_id": {"value": "keep-1"}}])
    status = take(sched2.updates, state_of("keep-1"))
    assert status["state"] == "TASK_RUNNING"
    offer2 = take(sched2.offers)
    assert offer2["framework_id"]["value"] == framework_id
    assert scalars(offer2)["cpus"] == 3.5  # the running task still holds its share
    driver2.killTask({"value": "keep-1"})
    assert take(sched2.updates, state_of("keep-1"))["state"] == "TASK_KILLED"


def test_second_subscriber_takes_over(cluster, drivers):
    driver, sched = drivers(cluster)
    _, framework_id, _ = take(sched.registrations)
    take(sched.offers)
    driver2, sched2 = drivers(cluster, framework={"id": {"value": framework_id}})
    assert take(sched2.registrations)[0] == "reregistered"
    assert take(sched.errors) == "Framework failed over"
    driver.stop(failover=True)  # else it would take the framework back
    driver.join()
    take(sched2.offers)


def test_teardown_kills_tasks(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("td-1", offer, ["sleep", "60"])])
    assert take(sched.updates, state_of("td-1"))["state"] == "TASK_RUNNING"
    pid = cluster.state()["frameworks"][0]["tasks"][0]["pid"]
    driver.stop()  # no failover: TEARDOWN
    driver.join()
    deadline = time.monotonic() + 5
    # The wrapper is a zombie (dead to is_pid_alive) a moment before the cluster reaps it and frees its resources.
    while (is_pid_alive(pid) or cluster.agents()[0]["used_resources"]["cpus"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_pid_alive(pid)
    assert cluster.state()["frameworks"] == []
    assert cluster.agents()[0]["used_resources"]["cpus"] == 0.0


def test_calls_need_the_stream_id(cluster, drivers):
    driver, sched = drivers(cluster)
    _, framework_id, _ = take(sched.registrations)
    call = {"type": "REVIVE", "framework_id": {"value": framework_id}}
    url = cluster.url + "/api/v1/scheduler"
    assert requests.post(url, json=call, timeout=5).status_code == 400
    assert requests.post(url, json=call, headers={"Mesos-Stream-Id": "nope"}, timeout=5).status_code == 400
    assert (
        requests.post(url, data=b"\x08\x01", headers={"Content-Type": "application/x-protobuf"}, timeout=5).status_code
        == 415
    )


def test_settings_and_helpers(tmp_path, monkeypatch):
    from app.settings import settings

    derived = machine_resources(tmp_path, agents=2)
    assert derived["cpus"] == round((os.cpu_count() or 1) / 2, 3)
    assert derived["mem"] > 0 and derived["disk"] > 0
    assert parse_attributes("rack:a; zone:2") == {"rack": "a", "zone": 2.0}
    with pytest.raises(ValueError):
        parse_attributes("nonsense")

    monkeypatch.setenv("SCALE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("LOCAL_CLUSTER_AGENTS", "3")
    monkeypatch.setenv("LOCAL_CLUSTER_CPUS", "0")
    monkeypatch.setenv("LOCAL_CLUSTER_MEM", "512")
    monkeypatch.setenv("LOCAL_CLUSTER_PORT", "0")
    settings.reload()
    try:
        c = LocalCluster()
        agents = c.agents()
        assert len(agents) == 3 and len({a["hostname"] for a in agents}) == 3
        assert agents[0]["resources"]["mem"] == 512.0
        assert agents[0]["resources"]["cpus"] == round((os.cpu_count() or 1) / 3, 3)
        assert c.var_dir == Path(tmp_path)
    finally:
        monkeypatch.undo()
        settings.reload()


def test_subscribe_needs_a_user_and_tasks_need_one_that_exists(cluster, drivers):
    call = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "no-user"}}}
    answer = requests.post(
        cluster.url + "/api/v1/scheduler", json=call, headers={"Accept": "application/json"}, timeout=5, stream=True
    )
    assert answer.status_code == 400 and "framework_info.user" in answer.text

    driver, sched = drivers(cluster, framework={"user": ""})
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("empty-user", offer, ["/bin/true"])])
    status = take(sched.updates, lambda s: s["task_id"]["value"] == "empty-user")
    assert status["state"] == "TASK_FAILED" and "user '' does not exist" in status["message"]


def test_tasks_get_an_agents_environment_not_the_clusters(cluster, drivers, tmp_path, monkeypatch):
    monkeypatch.setenv("SCALE_SECRET_FOR_TEST", "database-password")  # in the cluster's own environment
    out = tmp_path / "env.txt"
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    task = task_info("env-1", offer, ["/bin/sh", "-c", f"env > {out}"], env={"FROM_COMMAND": "yes"})
    driver.launchTasks(offer["id"], [task])
    assert take(sched.updates, lambda s: s["task_id"]["value"] == "env-1" and s["state"] == "TASK_FINISHED")
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert "SCALE_SECRET_FOR_TEST" not in seen and "VIRTUAL_ENV" not in seen
    assert seen["FROM_COMMAND"] == "yes" and seen["MESOS_TASK_ID"] == "env-1"
    assert seen["PATH"] == "/usr/local/bin:/usr/bin:/bin"


def test_reserved_resources_go_to_their_role_and_multi_role_tasks_must_name_their_allocation(tmp_path, drivers):
    """As a real master: a MULTI_ROLE framework's offers and their resources carry `allocation_info`, and a
    task whose resources do not is refused. pymesos declares GPU_RESOURCES to any master from 1.0 on, so
    GPU agents are offered too (the scheduler never puts gpus in a task: tests/test_scheduler_parts.py)."""
    specs = [
        {"hostname": "split", "resources": "cpus:1;cpus(scale):2;mem(scale):1024;disk:500"},
        {"hostname": "gpu", "resources": "cpus:4;mem:4096;gpus:1"},
    ]
    c = LocalCluster(port=0, agents=specs, var_dir=tmp_path / "var", offer_interval=0.05, retry_interval=0.5)
    with c:
        framework = {"roles": ["scale"], "capabilities": [{"type": "MULTI_ROLE"}]}
        driver, sched = drivers(c, framework=framework)
        offer = take(sched.offers, lambda o: o["hostname"] == "split")
        assert offer["allocation_info"] == {"role": "scale"}
        entries = {(r["name"], r["role"]): r.get("scalar", r.get("ranges")) for r in offer["resources"]}
        assert entries == {
            ("cpus", "*"): {"value": 1.0},
            ("cpus", "scale"): {"value": 2.0},
            ("mem", "scale"): {"value": 1024.0},
            ("disk", "*"): {"value": 500.0},
            ("ports", "*"): {"range": [{"begin": 31000, "end": 32000}]},
        }
        assert all(r["allocation_info"] == {"role": "scale"} for r in offer["resources"])
        gpu = take(sched.offers, lambda o: o["hostname"] == "gpu")
        assert scalars(gpu)["gpus"] == 1.0

        driver.launchTasks(offer["id"], [task_info("bare-1", offer, ["/bin/true"])], filters={"refuse_seconds": 0})
        refused = take(sched.updates, state_of("bare-1"))
        assert refused["state"] == "TASK_ERROR" and "'allocation_info' set" in refused["message"]

        offer = take(sched.offers, lambda o: o["hostname"] == "split", timeout=5)
        cut = [
            {**r, "scalar": {"value": value}}
            for r in offer["resources"]
            for value in [{"cpus": 1.5, "mem": 64.0}.get(r["name"], 0.0) if r["role"] == "scale" else 0.0]
            if value
        ]
        too_much = {**task_info("wide-1", offer, ["/bin/true"]), "resources": cut}
        driver.launchTasks(offer["id"], [too_much])
        finished = take(sched.updates, lambda s: s["task_id"]["value"] == "wide-1" and s["state"] != "TASK_RUNNING")
        assert finished["state"] == "TASK_FINISHED", finished
        driver.declineOffer(gpu["id"], filters={"refuse_seconds": 60})
        driver.stop()
        other = drivers(c)[1]  # role "*": only the unreserved resources
        plain = take(other.offers, lambda o: o["hostname"] == "split", timeout=5)
        assert {r["role"] for r in plain["resources"]} == {"*"} and "allocation_info" not in plain


def test_test_routes_and_shell_tasks_are_off_unless_enabled(tmp_path, drivers):
    with LocalCluster(port=0, agents=1, cpus=2, mem=1024, disk=1000, var_dir=tmp_path, offer_interval=0.05) as cluster:
        refused = requests.post(f"{cluster.url}/local/agents/add", json={"cpus": 1}, timeout=5)
        assert refused.status_code == 404 and "LOCAL_CLUSTER_TEST_ROUTES" in refused.text
        assert len(cluster.agents()) == 1
        driver, sched = drivers(cluster)
        offer = take(sched.offers)
        driver.launchTasks(offer["id"], [task_info("shell-2", offer, "touch should-not-exist", shell=True)])
        update = take(sched.updates, state_of("shell-2"))
        assert update["state"] == "TASK_ERROR" and update["reason"] == "REASON_TASK_INVALID"
        assert "Shell commands are refused" in update["message"]
        assert not list((cluster.var_dir / "sandboxes").rglob("should-not-exist"))
        driver.stop()  # before the master stops: the update's acknowledgement must find it
        driver.join()


def test_with_credentials_every_call_but_health_needs_them(tmp_path, drivers):
    with LocalCluster(
        port=0, agents=1, var_dir=tmp_path, offer_interval=0.05, credentials=("scale", "pa55word")
    ) as cluster:
        assert requests.get(f"{cluster.url}/health", timeout=5).status_code == 200
        state = requests.get(f"{cluster.url}/state", timeout=5)
        assert state.status_code == 401 and state.headers["WWW-Authenticate"] == 'Basic realm="mesos"'
        assert requests.get(f"{cluster.url}/state", auth=("scale", "wrong"), timeout=5).status_code == 401
        assert requests.get(f"{cluster.url}/state", auth=("scale", "pa55word"), timeout=5).status_code == 200

        subscribe = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "x", "name": "intruder"}}}
        intruder = requests.post(f"{cluster.url}/api/v1/scheduler", json=subscribe, timeout=5)
        assert intruder.status_code == 401 and not cluster.state()["frameworks"]
        _, sched = drivers(cluster, principal="scale", secret="pa55word")
        assert take(sched.registrations)[0] == "registered"
        assert take(sched.offers)["agent_id"]["value"] == cluster.agents()[0]["id"]


def test_an_agent_restarted_with_a_new_id_reports_its_tasks_lost_and_keeps_host_and_port(cluster, drivers):
    driver, sched = drivers(cluster)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("sleep-9", offer, ["sleep", "60"])])
    assert take(sched.updates, state_of("sleep-9"))["state"] == "TASK_RUNNING"
    old = cluster.agents()[0]
    answer = requests.post(f"{cluster.url}/local/agents/{old['id']}/restart", timeout=5).json()
    assert answer["agent_id"] == old["id"] and answer["lost_tasks"] == ["sleep-9"]
    lost = take(sched.updates, state_of("sleep-9"))
    assert (lost["state"], lost["reason"]) == ("TASK_LOST", "REASON_AGENT_REMOVED")
    (new,) = cluster.agents()
    assert new["id"] == answer["new_agent_id"] != old["id"]
    assert (new["hostname"], new["pid"], new["resources"]) == (old["hostname"], old["pid"], old["resources"])
    again = take(sched.offers, lambda o: o["agent_id"]["value"] == new["id"])
    assert again["url"]["address"]["port"] == offer["url"]["address"]["port"]


def test_a_task_over_its_memory_is_killed_as_the_memory_isolator_reports_it(tmp_path, drivers):
    """With memory limits on, as an agent with Mesos' cgroups memory isolator: a command using more resident
    memory than its `mem` ends TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY, from the agent."""
    import sys

    c = LocalCluster(
        port=0, agents=1, cpus=2, mem=2048, disk=1000, var_dir=tmp_path, offer_interval=0.05, memory_limits=True
    )
    c.start()
    try:
        driver, sched = drivers(c)
        offer = take(sched.offers)
        hog = [sys.executable, "-c", "import time; block = bytearray(200 * 1024 * 1024); time.sleep(30)"]
        small = [sys.executable, "-c", "print('fits')"]
        driver.launchTasks(
            offer["id"], [task_info("hog-1", offer, hog, mem=64.0), task_info("small-1", offer, small, mem=128.0)]
        )
        ended = take(sched.updates, lambda u: u["task_id"]["value"] == "hog-1" and u["state"] != "TASK_RUNNING")
        assert ended["state"] == "TASK_FAILED"
        assert ended["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY" and ended["source"] == "SOURCE_AGENT"
        assert ended["message"].startswith("Memory limit exceeded: Requested: 64MB Maximum Used: ")
        fine = take(sched.updates, lambda u: u["task_id"]["value"] == "small-1" and u["state"] != "TASK_RUNNING")
        assert fine["state"] == "TASK_FINISHED"
        driver.stop()  # before the cluster: its stop must not reach a driver still acknowledging
        driver.join()
    finally:
        c.stop()
