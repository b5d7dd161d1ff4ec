"""GET /status/ and GET /v6/status/: built from the scheduler's report and the database; 503 when stale."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis

from app.db import utcnow
from app.models import Scheduler
from app.settings import settings
from tests.conftest import free_port
from tests.factories import error_by_name, make_execution, make_job, make_job_type, make_node


def node_report(node, online: bool = True, total=(4.0, 4096.0, 10000.0), running=(1.0, 512.0, 100.0), **extra) -> dict:
    """One node's entry of the scheduler's status report (docs/design.md)."""
    total_d = dict(zip(("cpus", "mem", "disk"), total))
    running_d = dict(zip(("cpus", "mem", "disk"), running))
    offered = {k: total_d[k] - running_d[k] for k in total_d}
    return {
        "agent_id": node.slave_id,
        "hostname": node.hostname,
        "node_id": node.id,
        "online": online,
        "last_offer": utcnow().isoformat(),
        "total": total_d,
        "offered": offered,
        "running": running_d,
        "free": dict.fromkeys(total_d, 0.0),
        "unavailable": dict.fromkeys(total_d, 0.0),
        **extra,
    }


def write_report(session, nodes=(), age: float = 0.0, state: str = "READY", **extra) -> Scheduler:
    """Write the Scheduler row's status as the scheduler process would, `age` seconds ago, and commit."""
    scheduler = session.get(Scheduler, 1)
    scheduler.status = {
        "state": state,
        "hostname": "scheduler.test",
        "framework_id": "fw-1",
        "master": {"hostname": "master.test", "port": 5050, "is_online": True},
        "metrics": {
            "new_offers_per_sec": 2.5,
            "jobs_launched_per_sec": 1.0,
            "tasks_launched_per_sec": 1.0,
            "offers_launched_per_sec": 0.5,
            "task_updates_per_sec": 3.0,
            "jobs_finished_per_sec": 0.5,
            "new_offers": 100,
            "jobs_launched": 40,
            "tasks_launched": 40,
            "offers_launched": 20,
            "task_updates": 120,
            "jobs_finished": 30,
        },
        "queue_depth": 0,
        "warnings": [],
        "nodes": [node_report(n) if not isinstance(n, dict) else n for n in nodes],
        **extra,
    }
    scheduler.status_updated = utcnow() - timedelta(seconds=age)
    session.commit()
    return scheduler


# ---------------------------------------------------------------- 503


@pytest.mark.parametrize("url", ["/status/", "/v6/status/"])
def test_status_is_503_without_a_report(client, url):
    response = client.get(url)
    assert response.status_code == 503
    assert "not reported" in response.get_json()["detail"]


@pytest.mark.parametrize("url", ["/status/", "/v6/status/"])
def test_status_is_503_when_the_report_is_stale(client, session, url, redis_server):
    write_report(session, age=settings.SCHEDULER_STATUS_STALE + 5)
    response = client.get(url)
    assert response.status_code == 503
    assert "stale" in response.get_json()["detail"]

    write_report(session, age=0)
    assert client.get(url).status_code == 200


# ---------------------------------------------------------------- /status/


def test_status_reports_master_scheduler_queue_and_resources(client, session):
    job_type = make_job_type(session)
    node_a, node_b = make_node(session), make_node(session)
    for _ in range(3):
        make_job(session, job_type, "QUEUED")
    running = make_job(session, job_type, "RUNNING")
    make_execution(
        session, running, "RUNNING", node_a, cpus_scheduled=1.5, mem_scheduled=256.0, disk_total_scheduled=10.0
    )
    session.get(Scheduler, 1).is_paused = True
    write_report(session, [node_a, node_b])

    body = client.get("/status/").get_json()

    assert body["master"] == {"is_online": True, "hostname": "master.test", "port": 5050}
    assert body["scheduler"] == {"is_online": True, "is_paused": True, "hostname": "scheduler.test"}
    assert body["queue_depth"] == 3
    assert body["resources"]["total"] == {"cpus": 8.0, "mem": 8192.0, "disk": 20000.0}
    assert body["resources"]["scheduled"] == {"cpus": 1.5, "mem": 256.0, "disk": 10.0}
    assert body["resources"]["used"] == {"cpus": 2.0, "mem": 1024.0, "disk": 200.0}


def test_status_leaves_out_resources_when_no_node_was_reported(client, session):
    write_report(session, [])
    body = client.get("/status/").get_json()
    assert "resources" not in body
    assert body["queue_depth"] == 0


# ---------------------------------------------------------------- /v6/status/


def test_v6_status_nodes_states_and_execution_counts(client, session, redis_server):
    system_type = make_job_type(session, is_system=True)
    algo_type = make_job_type(session)
    ready = make_node(session, last_offer=utcnow())
    paused = make_node(session, last_offer=utcnow(), is_paused=True, pause_reason="maintenance")
    offline = make_node(session, last_offer=utcnow())
    make_node(session, is_active=False, archived=utcnow())  # archived nodes are not listed

    make_execution(session, make_job(session, algo_type, "RUNNING"), "RUNNING", ready)
    make_execution(session, make_job(session, algo_type, "COMPLETED"), "COMPLETED", ready)
    make_execution(
        session,
        make_job(session, system_type, "FAILED"),
        "FAILED",
        ready,
        error_id=error_by_name(session, "node-lost").id,
    )
    make_execution(
        session,
        make_job(session, algo_type, "FAILED"),
        "FAILED",
        ready,
        error_id=error_by_name(session, "algorithm-unknown").id,
    )
    old = utcnow() - timedelta(hours=4)
    make_execution(session, make_job(session, algo_type, "COMPLETED"), "COMPLETED", ready, ended=old)  # too old
    write_report(session, [ready, paused, node_report(offline, online=False)])

    body = client.get("/v6/status/").get_json()

    assert body["timestamp"].endswith("Z")
    nodes = {n["id"]: n for n in body["nodes"]}
    assert set(nodes) == {ready.id, paused.id, offline.id}
    assert nodes[ready.id]["state"]["name"] == "READY"
    assert nodes[paused.id]["state"]["name"] == "PAUSED"
    assert nodes[offline.id]["state"]["name"] == "OFFLINE"
    assert nodes[ready.id]["agent_id"] == ready.slave_id
    assert nodes[ready.id]["resources"]["cpus"] == {
        "offered": 3.0,
        "total": 4.0,
        "running": 1.0,
        "free": 0.0,
        "unavailable": 0.0,
    }

    executions = nodes[ready.id]["job_executions"]
    assert executions["running"] == {"total": 1, "by_job_type": [{"job_type_id": algo_type.id, "count": 1}]}
    assert executions["completed"]["total"] == 1
    assert executions["failed"]["total"] == 2
    assert executions["failed"]["system"] == {"total": 1, "by_job_type": [{"job_type_id": system_type.id, "count": 1}]}
    assert executions["failed"]["algorithm"]["total"] == 1
    assert executions["failed"]["data"]["total"] == 0
    assert nodes[paused.id]["job_executions"]["running"]["total"] == 0
    assert {jt["id"] for jt in body["job_types"]} == {system_type.id, algo_type.id}

    assert body["resources"]["cpus"]["total"] == 12.0
    assert body["dependencies"]["nodes"]["OK"] is True
    assert body["dependencies"]["nodes"]["warnings"] == [{"NODES_OFFLINE": "1 of 3 nodes are offline."}]
    assert body["scheduler"]["state"]["name"] == "READY"
    assert body["scheduler"]["metrics"]["jobs_launched_per_sec"] == 1.0
    assert body["scheduler"]["mesos"]["framework_id"] == "fw-1"

    # every section of the specification's example, honest about what this system does without
    assert {"logs", "msg_queue", "database", "elasticsearch", "nodes", "idam", "silo"} <= set(body["dependencies"])
    assert "not used" in body["dependencies"]["elasticsearch"]["detail"]["msg"]
    assert body["dependencies"]["idam"]["detail"]["geoaxis_enabled"] is False
    assert body["vault"] == {"status": "Not used", "sealed": False, "message": body["vault"]["message"]}
    assert body["system"]["database_update"] == {"is_completed": True, "completed": None}
    services = {svc["name"]: svc for svc in body["system"]["services"]}
    assert services["scheduler"]["actual_count"] == 1 and services["messaging"]["desired_count"] >= 1


def test_v6_status_shows_the_pause_and_the_automatic_pause_error(client, session, redis_server):
    node = make_node(
        session, last_offer=utcnow(), is_paused=True, is_paused_errors=True, pause_reason="System failure rate too high"
    )
    session.get(Scheduler, 1).is_paused = True
    write_report(session, [node])

    body = client.get("/v6/status/").get_json()

    assert body["scheduler"]["state"]["name"] == "PAUSED"
    (entry,) = body["nodes"]
    assert entry["state"]["name"] == "PAUSED"
    assert [e["name"] for e in entry["errors"]] == ["SYSTEM_FAILURE_RATE"]
    assert entry["errors"][0]["description"] == "System failure rate too high"
    assert body["dependencies"]["nodes"]["OK"] is False  # no node can take new work


def test_v6_status_without_nodes_reports_the_error(client, session, redis_server):
    write_report(session, [])
    nodes = client.get("/v6/status/").get_json()["dependencies"]["nodes"]
    assert nodes["OK"] is False
    assert nodes["errors"] == [{"NODES_OFFLINE": "No nodes reported."}]


def test_v6_status_database_and_message_queue_health(client, session, redis_server):
    broker = redis.Redis.from_url(redis_server)
    broker.delete("celery")
    broker.lpush("celery", "message-1", "message-2")
    write_report(session, [])
    try:
        dependencies = client.get("/v6/status/").get_json()["dependencies"]
    finally:
        broker.delete("celery")

    assert dependencies["database"]["OK"] is True
    msg_queue = dependencies["msg_queue"]
    assert msg_queue["OK"] is True
    assert msg_queue["detail"]["queue_name"] == "celery"
    assert msg_queue["detail"]["queue_depth"] == 2
    assert msg_queue["errors"] == []


def test_v6_status_reports_an_unreachable_message_queue_quickly(client, session, monkeypatch):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    settings.reload()
    write_report(session, [])

    began = time.monotonic()
    response = client.get("/v6/status/")
    elapsed = time.monotonic() - began

    assert response.status_code == 200
    msg_queue = response.get_json()["dependencies"]["msg_queue"]
    assert msg_queue["OK"] is False
    assert "MSG_QUEUE_OFFLINE" in msg_queue["errors"][0]
    assert elapsed < 3


def test_status_never_shows_a_password(client, session, monkeypatch):
    """The broker's password (and the database's) stay out of /status/ and /v6/status/, even in errors."""
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2-redis@127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("API_SECRET_KEY", "cookie-key-123")
    settings.reload()
    write_report(session, [])
    for url in ("/status/", "/v6/status/"):
        text = client.get(url).get_data(as_text=True)
        assert "hunter2" not in text and "cookie-key-123" not in text
    assert "MSG_QUEUE_OFFLINE" in client.get("/v6/status/").get_data(as_text=True)


def test_redact_secrets_removes_every_configured_password():
    from types import SimpleNamespace

    from app.settings import redact_secrets

    values = SimpleNamespace(
        DATABASE_URL="postgresql+psycopg://scale:p%40ss-word@db:5432/scale",
        REDIS_URL="redis://:r3dis-pw@host:6379/0",
        CELERY_RESULT_BACKEND="",
        API_SECRET_KEY="k3y-value",
        FLOWER_BASIC_AUTH="ops:fl0wer",
        MESOS_SECRET="m3sos-pw",
    )
    text = "failed: p@ss-word p%40ss-word r3dis-pw k3y-value ops:fl0wer m3sos-pw"
    assert redact_secrets(text, values) == "failed: *** *** *** *** *** ***"
