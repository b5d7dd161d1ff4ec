"""GET /job-executions/, GET /job-executions/<id>/, GET /job-executions/<id>/logs/ (+ stdout, stderr)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.mesos import sandbox_path
from tests import factories as f
from tests.test_api_jobs import EXE_FIELDS, ids
from workers.local_cluster.agent_http import AgentServer, run_dir


@pytest.fixture
def executions(session):
    base = utcnow() - timedelta(hours=1)
    alpha = f.make_job_type(session, name="alpha", category="imagery")
    beta = f.make_job_type(session, name="beta", category="text")
    node1, node2 = f.make_node(session, hostname="n1.test"), f.make_node(session, hostname="n2.test")
    job_a = f.make_job(session, alpha, "COMPLETED")
    job_b = f.make_job(session, beta, "RUNNING")
    exes = [
        f.make_execution(
            session,
            job_a,
            "FAILED",
            node=node1,
            last_modified=base + timedelta(minutes=1),
            error_id=f.error_by_name(session, "timeout").id,
        ),
        f.make_execution(session, job_a, "COMPLETED", node=node2, last_modified=base + timedelta(minutes=2)),
        f.make_execution(session, job_b, "RUNNING", node=node1, last_modified=base + timedelta(minutes=3)),
    ]
    session.commit()
    return dict(alpha=alpha, beta=beta, node1=node1, node2=node2, job_a=job_a, job_b=job_b, exes=exes)


def test_list_shape(client, executions):
    body = client.get("/job-executions/").get_json()
    assert body["count"] == 3
    first = body["results"][0]
    assert set(first) == EXE_FIELDS
    assert first["id"] == executions["exes"][0].id
    assert first["status"] == "FAILED" and first["error"]["name"] == "timeout"
    assert first["job"]["id"] == executions["job_a"].id and first["job"]["job_type"]["name"] == "alpha"
    assert first["job"]["status"] == "COMPLETED" and first["job"]["num_exes"] == 1
    assert first["node"] == {
        "id": executions["node1"].id,
        "hostname": "n1.test",
        "port": 5051,
        "slave_id": executions["node1"].slave_id,
    }


def test_list_filters_and_order(client, executions):
    exes = [e.id for e in executions["exes"]]
    assert ids(client.get("/job-executions/?status=RUNNING")) == [exes[2]]
    assert ids(client.get("/job-executions/?status=RUNNING&status=FAILED")) == [exes[0], exes[2]]
    assert ids(client.get(f"/job-executions/?node_id={executions['node1'].id}")) == [exes[0], exes[2]]
    assert ids(client.get(f"/job-executions/?job_type_id={executions['beta'].id}")) == [exes[2]]
    response = client.get("/job-executions/?job_type_name=alpha&status=COMPLETED")
    assert ids(response) == [exes[1]] and response.get_json()["count"] == 1
    assert ids(client.get("/job-executions/?job_type_category=text")) == [exes[2]]
    assert ids(client.get("/job-executions/?order=-job_type__name&order=id")) == [exes[2], exes[0], exes[1]]
    assert ids(client.get("/job-executions/?order=node__hostname&order=-id")) == [exes[2], exes[0], exes[1]]
    ended = (executions["exes"][0].last_modified + timedelta(seconds=1)).isoformat()
    assert ids(client.get("/job-executions/", query_string={"ended": ended})) == [exes[0]]


def test_ordering_by_a_related_field_works_beside_a_filter_on_the_same_table(client, executions):
    """A job-type filter joins jobs into the page query; ordering by the job's status must still work."""
    exes = [e.id for e in executions["exes"]]
    assert ids(client.get("/job-executions/?job_type_name=alpha&order=job__status&order=id")) == [exes[0], exes[1]]
    beta = executions["beta"].id
    assert ids(client.get(f"/job-executions/?job_type_id={beta}&order=-job_type__id")) == [exes[2]]
    from api.resources.job_executions import EXE_ORDER_FIELDS

    for name in EXE_ORDER_FIELDS:
        response = client.get(f"/job-executions/?job_type_category=text&order=-{name}")
        assert response.status_code == 200 and ids(response) == [exes[2]], name


@pytest.mark.parametrize(
    "query, message",
    [
        ("node_id=first", "node_id"),
        ("status=PENDING", "status"),
        ("order=bogus", "order"),
        ("ended=2020-01-01T00:00:00", "time zone"),
        ("started=2021-01-01T00:00:00Z&ended=2020-01-01T00:00:00Z", "before"),
    ],
)
def test_list_refuses_bad_parameters(client, session, query, message):
    response = client.get(f"/job-executions/?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["detail"]


def test_details_shape_and_log_urls(client, executions):
    exe = executions["exes"][1]
    response = client.get(f"/job-executions/{exe.id}/")
    assert response.status_code == 200
    body = response.get_json()
    assert EXE_FIELDS | {
        "environment",
        "cpus_scheduled",
        "mem_scheduled",
        "disk_in_scheduled",
        "disk_out_scheduled",
        "disk_total_scheduled",
        "results",
        "current_stdout_url",
        "current_stderr_url",
        "results_manifest",
    } <= set(body)
    assert body["node"]["hostname"] == "n2.test" and "is_paused" in body["node"]
    assert body["current_stdout_url"].endswith(f"/job-executions/{exe.id}/logs/stdout/")
    assert body["current_stderr_url"].endswith(f"/job-executions/{exe.id}/logs/stderr/")
    assert client.get(body["current_stdout_url"]).status_code == 200
    assert client.get("/job-executions/987654/").status_code == 404


@pytest.fixture
def agent(tmp_path):
    """A local agent's own HTTP endpoint over a work directory: where a task's logs are read from."""
    server = AgentServer(("127.0.0.1", 0), "S1", "n1.test", tmp_path / "agent-work").start()
    yield server
    server.stop()


def sandbox_on(agent: AgentServer, task_id: str, **files: str) -> dict:
    """Write a task's sandbox files on the agent; the execution columns that say where they are."""
    run = run_dir(agent.work_dir, agent.agent_id, "F1", task_id, "C1")
    run.mkdir(parents=True)
    (run.parent / "latest").symlink_to("C1")
    for name, text in files.items():
        (run / name).write_text(text)
    where = sandbox_path("F1", task_id)
    return dict(
        agent_id=agent.agent_id,
        agent_url=f"http://127.0.0.1:{agent.port}",
        framework_id="F1",
        stdout_path=f"{where}/stdout",
        stderr_path=f"{where}/stderr",
    )


def test_logs_are_read_from_the_agent(client, session, agent):
    job = f.make_job(session, f.make_job_type(session), "RUNNING")
    exe = f.make_execution(
        session, job, "RUNNING", **sandbox_on(agent, "scale-exe-1", stdout="line one\nARTIFACT: x\n")
    )
    session.commit()

    response = client.get(f"/job-executions/{exe.id}/logs/")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == EXE_FIELDS | {"is_finished", "stdout", "stderr"}
    assert body["stdout"] == "line one\nARTIFACT: x\n"
    assert body["stderr"] == ""  # not written yet
    assert body["is_finished"] is False

    stdout = client.get(f"/job-executions/{exe.id}/logs/stdout/")
    assert stdout.status_code == 200 and stdout.mimetype == "text/plain"
    assert stdout.get_data(as_text=True) == "line one\nARTIFACT: x\n"
    stderr = client.get(f"/job-executions/{exe.id}/logs/stderr/")
    assert stderr.status_code == 200 and stderr.mimetype == "text/plain" and stderr.get_data(as_text=True) == ""


def test_logs_of_an_agent_that_does_not_answer_are_503_naming_it(client, session, agent):
    job = f.make_job(session, f.make_job_type(session), "COMPLETED")
    exe = f.make_execution(session, job, "COMPLETED", **sandbox_on(agent, "scale-exe-2", stdout="gone"))
    session.commit()
    agent.stop()
    for path in ("logs/", "logs/stdout/", "logs/stderr/"):
        response = client.get(f"/job-executions/{exe.id}/{path}")
        assert response.status_code == 503, path
        assert "agent S1" in response.get_json()["detail"] and "cannot be read" in response.get_json()["detail"]


def test_logs_of_unknown_execution_are_404(client, session):
    for path in ("logs/", "logs/stdout/", "logs/stderr/"):
        assert client.get(f"/job-executions/31337/{path}").status_code == 404


def test_huge_log_is_cut_to_its_end_in_json(client, session, agent, monkeypatch):
    from api.resources import job_executions
    from app import agent_files

    monkeypatch.setattr(job_executions, "MAX_LOG_BYTES", 10)
    monkeypatch.setattr(agent_files, "PAGE", 7)  # the raw route pages through the agent
    job = f.make_job(session, f.make_job_type(session), "COMPLETED")
    exe = f.make_execution(session, job, "COMPLETED", **sandbox_on(agent, "scale-exe-3", stdout="0123456789abcdefghij"))
    session.commit()
    body = client.get(f"/job-executions/{exe.id}/logs/").get_json()
    assert body["stdout"].endswith("\nabcdefghij") and "10 earlier bytes omitted" in body["stdout"]
    assert body["is_finished"] is True
    assert client.get(f"/job-executions/{exe.id}/logs/stdout/").get_data(as_text=True) == "0123456789abcdefghij"


def test_list_items_have_the_serializer_shape(client, session, executions):
    """The list builds its JSON from plain rows; it must equal serializers.job_exe."""
    import json

    from api import serializers as ser
    from app.models import JobExecution

    exe = executions["exes"][0]
    session.expire_all()
    expected = json.loads(json.dumps(ser.job_exe(session.get(JobExecution, exe.id))))
    listed = client.get("/job-executions/?status=FAILED").get_json()["results"]
    assert listed == [expected]
