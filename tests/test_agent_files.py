"""Each local agent serves its own sandboxes through Mesos' files/read, laid out as a real agent lays them
out, and the scheduler's side (app.agent_files) reads them there, page by page."""

from __future__ import annotations

import sys

import pytest
import requests

from app.agent_files import AgentFile
from app.mesos import sandbox_path
from app.settings import settings
from tests.test_local_cluster import drivers, sandbox_of, state_of, take, task_info  # noqa: F401 - fixture
from workers.local_cluster import LocalCluster
from workers.local_cluster.agent_http import MAX_READ_LENGTH, resolve


@pytest.fixture
def two_agents(tmp_path):
    c = LocalCluster(
        port=0, agents=2, cpus=2, mem=1024, disk=1000, var_dir=tmp_path / "var", offer_interval=0.05, kill_grace=1.0
    )
    c.start()
    yield c
    c.stop()


def agent_url(offer) -> str:
    address = offer["url"]["address"]
    return f"{offer['url']['scheme']}://{address['ip']}:{address['port']}"


def test_a_task_sandbox_is_read_through_its_own_agent_only(two_agents, drivers):  # noqa: F811
    driver, sched = drivers(two_agents)
    kind, framework_id, _ = take(sched.registrations)
    offers = [take(sched.offers), take(sched.offers)]
    here, other = offers
    size = 3 * MAX_READ_LENGTH + 123  # more than one answer holds: the reader pages
    script = f"import sys; sys.stdout.write('x' * {size - 4} + 'end\\n'); sys.stderr.write('é\\n')"
    driver.launchTasks(here["id"], [task_info("big-1", here, [sys.executable, "-c", script])])
    updates = [take(sched.updates, state_of("big-1")) for _ in range(2)]
    assert [u["state"] for u in updates] == ["TASK_RUNNING", "TASK_FINISHED"]
    container_id = updates[0]["container_status"]["container_id"]["value"]
    assert updates[1]["container_status"]["container_id"]["value"] == container_id

    # <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor = task>/runs/<container>, runs/latest linked
    sandbox = sandbox_of(two_agents, "big-1")
    agent_id = here["agent_id"]["value"]
    assert sandbox.parts[-8:] == (
        "slaves",
        agent_id,
        "frameworks",
        framework_id,
        "executors",
        "big-1",
        "runs",
        container_id,
    )
    assert (sandbox.parent / "latest").resolve() == sandbox

    stdout = AgentFile(agent_url(here), sandbox_path(framework_id, "big-1") + "/stdout")
    assert stdout.size() == size
    data = b"".join(stdout.chunks())
    assert len(data) == size and data.endswith(b"xend\n")
    assert stdout.tail(4) == (b"end\n", size - 4)
    stderr = AgentFile(agent_url(here), str(sandbox / "stderr"))  # its real path is served too
    assert b"".join(stderr.chunks()).decode() == "é\n"
    # another agent has no such file: its endpoint serves its own work directory only
    assert AgentFile(agent_url(other), stdout.path).size() is None
    assert AgentFile(agent_url(other), stderr.path).size() is None


def test_files_read_answers_as_mesos(two_agents, drivers):  # noqa: F811
    driver, sched = drivers(two_agents)
    _, framework_id, _ = take(sched.registrations)
    offer = take(sched.offers)
    driver.launchTasks(offer["id"], [task_info("echo-1", offer, ["/bin/echo", "hello"])])
    assert take(sched.updates, lambda u: state_of("echo-1")(u) and u["state"] != "TASK_RUNNING")["state"] == (
        "TASK_FINISHED"
    )
    url = agent_url(offer) + "/files/read"
    run = sandbox_path(framework_id, "echo-1")

    def read(**params):
        return requests.get(url, params=params, timeout=5)

    assert read(path=run + "/stdout", offset=0).json() == {"data": "hello\n", "offset": 0}
    assert read(path=run + "/stdout", offset=2, length=2).json() == {"data": "ll", "offset": 2}
    assert read(path=run + "/stdout", offset=-1).json() == {"data": "", "offset": 6}
    assert read(path=run + "/stdout", offset=99).json() == {"data": "", "offset": 6}
    assert read().status_code == 400 and "Expecting 'path=value'" in read().text
    assert read(path=run + "/stdout", offset="x").status_code == 400
    assert read(path=run + "/stdout", offset=0, length=-1).status_code == 400
    assert read(path=run, offset=0).status_code == 400  # a directory
    assert read(path=run + "/nothing", offset=0).status_code == 404
    assert read(path="/etc/passwd", offset=0).status_code == 404
    assert read(path=run + "/../../../../../../etc/passwd", offset=0).status_code == 404


def test_only_run_directories_are_served(tmp_path):
    work = tmp_path / "work"
    run = work / "slaves" / "S1" / "frameworks" / "F" / "executors" / "T" / "runs" / "C1"
    run.mkdir(parents=True)
    (run.parent / "latest").symlink_to("C1")
    (run / "stdout").write_text("out")
    (tmp_path / "secret").write_text("no")
    (run / "escape").symlink_to(tmp_path / "secret")
    (work / "slaves" / "S1" / "meta").write_text("agent's own")

    assert resolve(work, "S1", "/frameworks/F/executors/T/runs/latest/stdout") == (run / "stdout").resolve()
    assert resolve(work, "S1", str(run / "stdout")) == (run / "stdout").resolve()
    for path in (
        "/frameworks/F/executors/T/runs/C1/stdout",  # only `latest` is attached virtually
        "/frameworks/F/executors/T/runs/latest/escape",  # a link out of the run directory
        "/frameworks/F/executors/T/runs/latest/../../../../../meta",
        str(work / "slaves" / "S1" / "meta"),
        str(tmp_path / "secret"),
        "relative/stdout",
    ):
        assert resolve(work, "S1", path) is None, path
    assert resolve(work, "S2", str(run / "stdout")) is None  # another agent's id


def test_agents_require_the_credentials_the_master_does(tmp_path, monkeypatch):
    cluster = LocalCluster(port=0, agents=1, cpus=1, mem=256, disk=100, var_dir=tmp_path, credentials=("p", "s"))
    with cluster:
        port = cluster.master.agents[next(iter(cluster.master.agents))].port
        url = f"http://127.0.0.1:{port}"
        assert requests.get(url + "/health", timeout=5).status_code == 200
        refused = requests.get(url + "/files/read", params={"path": "/x"}, timeout=5)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
        assert requests.get(url + "/files/read", params={"path": "/x"}, auth=("p", "s"), timeout=5).status_code == 404
        monkeypatch.setenv("MESOS_PRINCIPAL", "p")
        monkeypatch.setenv("MESOS_SECRET", "s")
        settings.reload()
        try:
            assert AgentFile(url, "/x").size() is None  # the reader sends them
        finally:
            monkeypatch.undo()
            settings.reload()
