"""Node services: list, details, PUT/PATCH (pause, archive), status, and the automatic pause on system failures."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.db import utcnow
from app.models import Node
from app.services import executions
from app.services.nodes import paused_node_ids
from app.settings import settings
from tests.factories import error_by_name, make_execution, make_job, make_job_type, make_node
from tests.test_status import write_report


def test_list_shows_active_nodes_unless_inactive_ones_are_asked_for(client, session):
    a = make_node(session, hostname="a.test")
    b = make_node(session, hostname="b.test")
    gone = make_node(session, hostname="c.test", is_active=False, archived=utcnow())
    session.commit()

    body = client.get("/nodes/").get_json()
    assert body["count"] == 2
    assert [n["hostname"] for n in body["results"]] == ["a.test", "b.test"]
    assert set(body["results"][0]) >= {
        "id",
        "hostname",
        "port",
        "slave_id",
        "pause_reason",
        "is_paused",
        "is_paused_errors",
        "is_active",
        "archived",
        "created",
        "last_offer",
        "last_modified",
    }

    body = client.get("/nodes/?include_inactive=true&order=-hostname").get_json()
    assert [n["id"] for n in body["results"]] == [gone.id, b.id, a.id]
    assert body["results"][0]["archived"] is not None


def test_list_refuses_bad_parameters(client):
    assert "Invalid value for 'order'" in client.get("/nodes/?order=nope").get_json()["detail"]
    assert client.get("/nodes/?include_inactive=maybe").status_code == 400
    assert client.get("/nodes/?started=2015-01-01T00:00:00").status_code == 400  # no time zone


def test_details_include_running_executions_and_404(client, session):
    job_type = make_job_type(session)
    node = make_node(session)
    running = make_execution(session, make_job(session, job_type, "RUNNING"), "RUNNING", node, cpus_scheduled=2.0)
    make_execution(session, make_job(session, job_type, "COMPLETED"), "COMPLETED", node)
    session.commit()

    body = client.get(f"/nodes/{node.id}/").get_json()
    assert body["hostname"] == node.hostname
    assert [e["id"] for e in body["job_exes_running"]] == [running.id]
    assert body["job_exes_running"][0]["cpus_scheduled"] == 2.0
    assert body["job_exes_running"][0]["job"]["job_type"]["id"] == job_type.id
    assert "resources" not in body  # no scheduler report yet

    response = client.get("/nodes/999999/")
    assert response.status_code == 404
    assert response.get_json()["detail"] == "Node 999999 does not exist"


def test_details_include_reported_resources(client, session):
    job_type = make_job_type(session)
    node = make_node(session)
    missing = make_node(session)
    make_execution(
        session,
        make_job(session, job_type, "RUNNING"),
        "RUNNING",
        node,
        cpus_scheduled=1.0,
        mem_scheduled=128.0,
        disk_total_scheduled=5.0,
    )
    write_report(session, [node])

    body = client.get(f"/nodes/{node.id}/").get_json()
    assert body["resources"]["total"] == {"cpus": 4.0, "mem": 4096.0, "disk": 10000.0}
    assert body["resources"]["scheduled"] == {"cpus": 1.0, "mem": 128.0, "disk": 5.0}
    assert "disconnected" not in body
    assert client.get(f"/nodes/{missing.id}/").get_json()["disconnected"] is True


def test_patch_pauses_with_a_reason_and_unpausing_clears_it(client, session):
    node = make_node(session, is_paused_errors=True)
    session.commit()

    response = client.patch(f"/nodes/{node.id}/", json={"is_paused": True, "pause_reason": "disk swap"})
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/nodes/{node.id}/")
    body = response.get_json()
    assert (body["is_paused"], body["pause_reason"], body["is_paused_errors"]) == (True, "disk swap", False)
    assert node.id in paused_node_ids(session)

    body = client.patch(f"/nodes/{node.id}/", json={"is_paused": False}).get_json()
    assert (body["is_paused"], body["pause_reason"]) == (False, None)
    session.expire_all()
    assert node.id not in paused_node_ids(session)


def test_patch_is_active_false_archives_the_node(client, session):
    node = make_node(session)
    session.commit()

    body = client.patch(f"/nodes/{node.id}/", json={"is_active": False}).get_json()
    assert body["is_active"] is False
    assert body["archived"] is not None
    assert client.get("/nodes/").get_json()["count"] == 0
    assert node.id in paused_node_ids(session)

    body = client.patch(f"/nodes/{node.id}/", json={"is_active": True}).get_json()
    assert (body["is_active"], body["archived"]) == (True, None)


def test_patch_refuses_bad_bodies_and_writes_nothing(client, session):
    node = make_node(session, hostname="one.test")
    make_node(session, hostname="two.test")
    session.commit()
    url = f"/nodes/{node.id}/"

    assert "No fields" in client.patch(url, json={}).get_json()["detail"]
    assert (
        client.patch(url, json={"is_paused": True, "color": "red", "size": 1}).get_json()["detail"]
        == "Unknown fields: color, size"
    )
    detail = client.patch(url, json={"is_paused": "perhaps", "port": "x"}).get_json()["detail"]
    assert "'port' must be an integer" in detail and "'is_paused' must be true or false" in detail
    response = client.patch(url, json={"hostname": "two.test", "is_paused": True})
    assert response.status_code == 400
    assert "already used" in response.get_json()["detail"]
    assert client.patch("/nodes/999999/", json={"is_paused": True}).status_code == 404

    session.expire_all()
    stored = session.get(Node, node.id)
    assert (stored.hostname, stored.is_paused) == ("one.test", False)


def test_put_requires_the_replaced_fields(client, session):
    node = make_node(session, is_paused=True, pause_reason="old reason")
    session.commit()
    url = f"/nodes/{node.id}/"

    detail = client.put(url, json={"hostname": "new.test"}).get_json()["detail"]
    assert detail == "Missing required fields: port, is_paused"

    response = client.put(url, json={"hostname": "new.test", "port": 5052, "is_paused": True})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["hostname"], body["port"], body["is_paused"], body["pause_reason"]) == ("new.test", 5052, True, None)


def test_nodes_status_counts_recent_executions_by_status(client, session):
    job_type = make_job_type(session)
    node = make_node(session, hostname="a.test", last_offer=utcnow())
    idle = make_node(session, hostname="b.test")
    make_node(session, hostname="c.test", is_active=False)
    running = make_execution(
        session, make_job(session, job_type, "RUNNING"), "RUNNING", node, started=utcnow() - timedelta(hours=10)
    )  # running ones count whatever the range
    for _ in range(2):
        make_execution(session, make_job(session, job_type, "COMPLETED"), "COMPLETED", node)
    make_execution(
        session, make_job(session, job_type, "FAILED"), "FAILED", node, error_id=error_by_name(session, "timeout").id
    )
    make_execution(
        session, make_job(session, job_type, "COMPLETED"), "COMPLETED", node, ended=utcnow() - timedelta(hours=5)
    )
    session.commit()

    body = client.get("/nodes/status/").get_json()
    assert body["count"] == 2
    first, second = body["results"]
    assert first["node"]["id"] == node.id and second["node"]["id"] == idle.id
    assert first["is_online"] is True and second["is_online"] is False
    counts = {(c["status"], c["category"]): c["count"] for c in first["job_exe_counts"]}
    assert counts == {("COMPLETED", None): 2, ("FAILED", "SYSTEM"): 1, ("RUNNING", None): 1}
    assert [e["id"] for e in first["job_exes_running"]] == [running.id]
    assert second["job_exe_counts"] == [] and second["job_exes_running"] == []

    wider = client.get("/nodes/status/?started=PT6H").get_json()["results"][0]
    assert {c["status"]: c["count"] for c in wider["job_exe_counts"] if c["category"] is None}["COMPLETED"] == 3
    assert client.get("/nodes/status/?started=PT1H&ended=PT2H").status_code == 400


# ---------------------------------------------------------------- automatic pause


def _failing_system_execution(session, job_type, node):
    """A running execution whose task just failed with an exit code the job type does not map."""
    job = make_job(session, job_type, "RUNNING", max_tries=1)
    return make_execution(session, job, "RUNNING", node, task_state="TASK_FAILED", job_exit_code=42, kill_reason=None)


def _failed_system_job(session, job_type, node):
    job = make_job(session, job_type, "FAILED")
    make_execution(session, job, "FAILED", node, error_id=error_by_name(session, "unknown").id)


def test_too_many_system_failures_pause_the_node(client, session, monkeypatch):
    monkeypatch.setenv("NODE_MAX_ERRORS", "3")
    settings.reload()
    system_type = make_job_type(session, is_system=True)
    node = make_node(session)
    for _ in range(2):
        _failed_system_job(session, system_type, node)
    exe = _failing_system_execution(session, system_type, node)
    session.commit()

    outcome = executions.finish_execution(session, exe.id)
    session.commit()

    assert outcome.paused_node_id == node.id
    body = client.get(f"/nodes/{node.id}/").get_json()
    assert body["is_paused"] is True and body["is_paused_errors"] is True
    assert "System failure rate too high" in body["pause_reason"]
    assert node.id in paused_node_ids(session)

    body = client.patch(f"/nodes/{node.id}/", json={"is_paused": False}).get_json()
    assert (body["is_paused"], body["is_paused_errors"], body["pause_reason"]) == (False, False, None)


def test_a_few_system_failures_do_not_pause_the_node(session, monkeypatch):
    monkeypatch.setenv("NODE_MAX_ERRORS", "3")
    settings.reload()
    system_type = make_job_type(session, is_system=True)
    node = make_node(session)
    _failed_system_job(session, system_type, node)
    exe = _failing_system_execution(session, system_type, node)
    session.commit()

    outcome = executions.finish_execution(session, exe.id)
    session.commit()

    assert outcome.paused_node_id is None
    assert session.scalar(select(Node.is_paused).where(Node.id == node.id)) is False
    assert node.id not in paused_node_ids(session)


def test_the_list_shows_each_nodes_state_and_filters_by_state_and_host_name(client, session):
    from tests.test_status import node_report

    ready = make_node(session, hostname="ready.test")
    held = make_node(session, hostname="held.test", is_paused=True, pause_reason="maintenance")
    gone = make_node(session, hostname="gone.test")
    archived = make_node(session, hostname="archived.test", is_active=False)
    session.commit()
    write_report(session, nodes=[ready, held, node_report(gone, online=False)])

    body = client.get("/nodes/?order=host_name").get_json()
    assert [(n["hostname"], n["state"]["name"]) for n in body["results"]] == [
        ("gone.test", "OFFLINE"),
        ("held.test", "PAUSED"),
        ("ready.test", "READY"),
    ]
    paused = client.get("/nodes/?state=PAUSED&state=OFFLINE").get_json()
    assert sorted(n["hostname"] for n in paused["results"]) == ["gone.test", "held.test"] and paused["count"] == 2
    deleted = client.get("/nodes/?state=DELETED").get_json()["results"]
    assert [n["id"] for n in deleted] == [archived.id]
    one = client.get("/nodes/?hostname=held.test").get_json()
    assert one["count"] == 1 and one["results"][0]["id"] == held.id  # a lookup by host name
    response = client.get("/nodes/?state=ASLEEP")
    assert response.status_code == 400 and "Choices: READY" in response.get_json()["detail"]
