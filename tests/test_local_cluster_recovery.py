"""`python -m workers.local_cluster` stopped, killed and started again: what a restarted agent recovers.

Each test runs the real command with its own SCALE_VAR_DIR and drives it with pymesos, as the scheduler does.
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pymesos import MesosSchedulerDriver

from tests.conftest import ROOT, free_port
from workers.local_cluster.checkpoint import kill_orphans
from tests.test_local_cluster import Recorder, is_pid_alive, nothing, scalars, state_of, take, task_info

pytestmark = pytest.mark.timeout(60)

# Waits for the file `go` in its sandbox, then exits with status 3.
WAIT_FOR_GO = ["sh", "-c", "while [ ! -e go ]; do sleep 0.05; done; exit 3"]


class CliCluster:
    """The cluster's command on one port and var dir, started and restarted; its log in <var_dir>/cluster.log."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.drivers: list[MesosSchedulerDriver] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "CliCluster":
        env = dict(
            os.environ,
            LOCAL_CLUSTER_PORT=str(self.port),
            SCALE_VAR_DIR=str(self.var_dir),
            LOCAL_CLUSTER_CPUS="2",
            LOCAL_CLUSTER_MEM="1024",
            LOCAL_CLUSTER_DISK="1000",
            LOG_LEVEL="INFO",
        )
        with open(self.var_dir / "cluster.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers.local_cluster"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise AssertionError(self.log())
            time.sleep(0.05)

    def log(self) -> str:
        return (self.var_dir / "cluster.log").read_text()

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to stop its tasks."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=15) == 0

    def subscribe(self, framework_id: str | None = None) -> tuple[MesosSchedulerDriver, Recorder, str]:
        sched = Recorder()
        info = {"user": getpass.getuser(), "name": "cli", "failover_timeout": 60.0}
        if framework_id:
            info["id"] = {"value": framework_id}
        driver = MesosSchedulerDriver(sched, info, f"127.0.0.1:{self.port}")
        driver.start()
        self.drivers.append(driver)
        _, registered_id, _ = take(sched.registrations)
        return driver, sched, registered_id or framework_id or ""

    def disconnect(self, driver: MesosSchedulerDriver) -> None:
        driver.stop(failover=True)  # the framework stays registered, as a scheduler that crashed
        driver.join()
        self.drivers.remove(driver)

    def launch(self, sched: Recorder, driver: MesosSchedulerDriver, task_id: str, argv: list[str]) -> int:
        """Launch a task, wait for TASK_RUNNING; its pid."""
        offer = take(sched.offers)
        driver.launchTasks(offer["id"], [task_info(task_id, offer, argv)])
        assert take(sched.updates, state_of(task_id))["state"] == "TASK_RUNNING"
        return self.task(task_id)["pid"]

    def task(self, task_id: str) -> dict:
        state = requests.get(self.url + "/state", timeout=5).json()
        return next(t for f in state["frameworks"] for t in f["tasks"] if t["id"] == task_id)

    def sandbox(self, task_id: str) -> Path:
        return Path(self.task(task_id)["sandbox"])

    def close(self) -> None:
        for driver in self.drivers:
            driver.stop()
            driver.join()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def cli(tmp_path):
    cluster = CliCluster(tmp_path)
    yield cluster
    cluster.close()
    kill_orphans(tmp_path / "sandboxes", keep=set())  # whatever a failed test left running


def wait_dead(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while is_pid_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still alive"
        time.sleep(0.05)


def test_cli_serves_and_stops_cleanly_killing_tasks(cli):
    cli.start()
    driver, sched, _ = cli.subscribe()
    pid = cli.launch(sched, driver, "cli-1", ["sleep", "60"])
    cli.disconnect(driver)
    cli.terminate()
    assert not is_pid_alive(pid)
    assert "local cluster stopped" in cli.log()


def test_a_crashed_cluster_recovers_its_running_tasks_and_reports_their_real_end(cli):
    cli.start()
    driver, sched, framework_id = cli.subscribe()
    agent = requests.get(cli.url + "/state", timeout=5).json()["slaves"][0]
    agent_id = agent["id"]
    pid = cli.launch(sched, driver, "wait-1", WAIT_FOR_GO)
    cli.disconnect(driver)
    cli.kill()
    assert is_pid_alive(pid), "the task outlives the crashed cluster (its own session), as on a real agent"

    cli.start()
    assert is_pid_alive(pid), "a task the restarted cluster accounts for keeps running"
    state = requests.get(cli.url + "/state", timeout=5).json()
    assert state["slaves"][0]["id"] == agent_id, "agent ids survive a restart"
    assert state["slaves"][0]["pid"] == agent["pid"], "so do their ports: executions name them to read logs"
    assert state["slaves"][0]["used_resources"]["cpus"] == 0.5, "the recovered task still holds its resources"
    assert cli.task("wait-1")["pid"] == pid

    driver, sched, again = cli.subscribe(framework_id)
    assert again == framework_id
    assert take(sched.updates, state_of("wait-1"))["state"] == "TASK_RUNNING"
    assert scalars(take(sched.offers))["cpus"] == 1.5
    (cli.sandbox("wait-1") / "go").touch()
    ended = take(sched.updates, state_of("wait-1"))
    assert (ended["state"], ended["message"]) == ("TASK_FAILED", "Command exited with status 3")


def test_a_task_that_ended_while_the_cluster_was_down_is_reported_with_its_exit_status(cli):
    cli.start()
    driver, sched, framework_id = cli.subscribe()
    pid = cli.launch(sched, driver, "done-1", ["sh", "-c", "while [ ! -e go ]; do sleep 0.05; done"])
    killed_pid = cli.launch(sched, driver, "killed-1", ["sleep", "60"])
    driver.killTask({"value": "killed-1"})
    assert take(sched.updates, state_of("killed-1"))["state"] == "TASK_KILLED"
    cli.disconnect(driver)  # the TASK_KILLED above was acknowledged; nothing more to say about killed-1
    sandbox = cli.sandbox("done-1")
    cli.kill()
    (sandbox / "go").touch()
    wait_dead(pid)
    assert not is_pid_alive(killed_pid)

    cli.start()
    driver, sched, _ = cli.subscribe(framework_id)
    ended = take(sched.updates, state_of("done-1"))
    assert (ended["state"], ended["message"]) == ("TASK_FINISHED", "Command exited with status 0")
    nothing(sched.updates, state_of("killed-1"))


def test_a_task_no_checkpoint_accounts_for_is_killed_before_the_cluster_answers(cli):
    cli.start()
    driver, sched, framework_id = cli.subscribe()
    pid = cli.launch(sched, driver, "stray-1", ["sleep", "60"])
    cli.disconnect(driver)
    cli.kill()
    for path in (cli.var_dir / "local-cluster" / "tasks" / "stray-1").iterdir():
        path.unlink()  # as if the cluster crashed before it wrote the checkpoint

    cli.start()
    assert not is_pid_alive(pid)
    driver, sched, _ = cli.subscribe(framework_id)
    driver.reconcileTasks([{"task_id": {"value": "stray-1"}}])
    assert take(sched.updates, state_of("stray-1"))["state"] == "TASK_LOST"


def test_tasks_a_normal_stop_killed_are_reported_lost_by_the_agent_restart(cli):
    cli.start()
    driver, sched, framework_id = cli.subscribe()
    pid = cli.launch(sched, driver, "stopped-1", WAIT_FOR_GO)
    cli.disconnect(driver)
    cli.terminate()
    assert not is_pid_alive(pid)

    cli.start()
    driver, sched, _ = cli.subscribe(framework_id)
    lost = take(sched.updates, state_of("stopped-1"))
    assert (lost["state"], lost["reason"]) == ("TASK_LOST", "REASON_AGENT_RESTARTED")
    assert "agent was stopped" in lost["message"]
    assert scalars(take(sched.offers))["cpus"] == 2.0


def test_a_recovered_task_can_be_killed_and_a_second_cluster_cannot_share_the_directory(cli, tmp_path):
    cli.start()
    driver, sched, framework_id = cli.subscribe()
    pid = cli.launch(sched, driver, "adopted-1", ["sleep", "60"])
    cli.disconnect(driver)
    cli.kill()
    cli.start()
    driver, sched, _ = cli.subscribe(framework_id)
    assert take(sched.updates, state_of("adopted-1"))["state"] == "TASK_RUNNING"
    driver.killTask({"value": "adopted-1"})
    killed = take(sched.updates, state_of("adopted-1"))
    assert (killed["state"], killed["message"]) == ("TASK_KILLED", "Command terminated with signal Terminated")
    wait_dead(pid)

    second = CliCluster(tmp_path)
    try:
        with pytest.raises(AssertionError, match="another local cluster is using"):
            second.start()
    finally:
        second.close()
