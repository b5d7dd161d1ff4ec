"""Cluster operator routes: hold, unhold, vacate and delete nodes; resource pools; auto mode."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import db
from app.models import Job, JobExecution, ResourcePool, Scheduler
from app.services import executions
from app.services.nodes import paused_node_ids, register_agents
from tests.factories import make_execution, make_job, make_job_type, make_node


def _running(session, node, **kw):
    job = make_job(session, make_job_type(session), "RUNNING", **kw)
    return make_execution(session, job, "RUNNING", node, task_id=f"scale-exe-test-{job.id}")


def _kill_and_finish(session, exe_id: int):
    """What the scheduler and the finish task do after a kill: record TASK_KILLED, then finish."""
    exe = session.get(JobExecution, exe_id)
    exe.task_id = executions.task_id_for(exe.id)
    assert executions.record_task_updates(
        session, [{"task_id": exe.task_id, "state": "TASK_KILLED", "message": "killed"}]
    ) == [exe.id]
    outcome = executions.finish_execution(session, exe.id)
    session.commit()
    return outcome


# ---------------------------------------------------------------- hold / unhold


def test_hold_and_unhold(client, session):
    node = make_node(session)
    session.commit()

    response = client.post(f"/nodes/{node.id}/hold/", json={"pause_reason": "kernel upgrade"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["is_paused"], body["pause_reason"]) == (True, "kernel upgrade")
    assert node.id in paused_node_ids(session)

    response = client.post(f"/nodes/{node.id}/hold/")
    assert response.status_code == 400
    assert response.get_json()["detail"] == f"Node {node.id} ({node.hostname}) cannot go from PAUSED to PAUSED"

    body = client.post(f"/nodes/{node.id}/unhold/").get_json()
    assert (body["is_paused"], body["pause_reason"], body["is_paused_errors"]) == (False, None, False)
    session.expire_all()
    assert node.id not in paused_node_ids(session)

    response = client.post(f"/nodes/{node.id}/unhold/")
    assert response.status_code == 400
    assert "cannot go from" in response.get_json()["detail"]


def test_hold_has_a_default_reason_and_refuses_unknown_fields(client, session):
    node = make_node(session)
    session.commit()
    assert client.post(f"/nodes/{node.id}/hold/", json={"why": "x"}).get_json()["detail"] == "Unknown fields: why"
    assert client.post(f"/nodes/{node.id}/hold/").get_json()["pause_reason"] == "Held by an operator"


@pytest.mark.parametrize("action", ["hold", "unhold", "vacate"])
def test_actions_on_unknown_nodes_are_404(client, action):
    response = client.post(f"/nodes/999999/{action}/")
    assert response.status_code == 404
    assert response.get_json()["detail"] == "Node 999999 does not exist"


# ---------------------------------------------------------------- vacate


def test_vacate_requeues_without_spending_a_try(client, session):
    node = make_node(session)
    other = make_node(session)
    exe = _running(session, node, max_tries=3)
    canceled = _running(session, node)
    canceled.kill_reason = "canceled"
    elsewhere = _running(session, other)
    session.commit()

    body = client.post(f"/nodes/{node.id}/vacate/").get_json()
    assert body["vacated_job_exe_ids"] == [exe.id]

    session.expire_all()
    assert session.get(JobExecution, exe.id).kill_reason == "vacate"
    assert session.get(JobExecution, canceled.id).kill_reason == "canceled"  # an earlier reason is kept
    assert session.get(JobExecution, elsewhere.id).kill_reason is None

    outcome = _kill_and_finish(session, exe.id)
    assert outcome.job_status == "QUEUED"
    job = session.get(Job, exe.job_id)
    assert (job.status, job.max_tries, job.error_id) == ("QUEUED", 4, None)
    assert session.get(JobExecution, exe.id).status == "CANCELED"


# ---------------------------------------------------------------- delete


def test_delete_only_a_held_idle_node(client, session):
    node = make_node(session)
    exe = _running(session, node)
    session.commit()

    response = client.delete(f"/nodes/{node.id}/")
    assert response.status_code == 400
    assert "cannot go from READY to DELETED" in response.get_json()["detail"]

    client.post(f"/nodes/{node.id}/hold/")
    response = client.delete(f"/nodes/{node.id}/")
    assert response.status_code == 400
    assert "still has 1 running job execution" in response.get_json()["detail"]
    assert client.get(f"/nodes/{node.id}/").get_json()["is_active"] is True

    session.expire_all()
    running = session.get(JobExecution, exe.id)
    running.status = "COMPLETED"
    session.commit()

    response = client.delete(f"/nodes/{node.id}/")
    assert response.status_code == 200
    body = response.get_json()
    assert body["is_active"] is False and body["archived"] is not None
    assert client.delete(f"/nodes/{node.id}/").status_code == 400
    assert client.delete("/nodes/999999/").status_code == 404


def test_a_deleted_node_stays_out_when_its_agent_offers_again(client, session):
    node = make_node(session)
    session.commit()
    client.post(f"/nodes/{node.id}/hold/")
    client.delete(f"/nodes/{node.id}/")

    session.expire_all()
    register_agents(session, [{"agent_id": "new-agent", "hostname": node.hostname, "port": 5051}])
    session.commit()

    assert node.id in paused_node_ids(session)
    body = client.get(f"/nodes/{node.id}/").get_json()
    assert (body["is_active"], body["slave_id"]) == (False, "new-agent")


def test_an_archived_node_that_was_not_held_comes_back(client, session):
    node = make_node(session)
    session.commit()
    client.patch(f"/nodes/{node.id}/", json={"is_active": False})

    session.expire_all()
    register_agents(session, [{"agent_id": "again", "hostname": node.hostname}])
    session.commit()
    assert node.id not in paused_node_ids(session)


# ---------------------------------------------------------------- resource pools


def _pool_count(session) -> int:
    return session.scalar(select(func.count()).select_from(ResourcePool))


def test_create_pool_checks_every_field(client, session):
    assert client.post("/resource-pools/", json={}).get_json()["detail"] == "Missing required fields: name"
    assert (
        client.post("/resource-pools/", json={"name": "gpu", "zone": 1}).get_json()["detail"] == "Unknown fields: zone"
    )
    detail = client.post("/resource-pools/", json={"name": "gpu"}).get_json()["detail"]
    assert "needs 'hostname_pattern' and/or 'attribute_name'" in detail
    detail = client.post("/resource-pools/", json={"name": "bad name", "hostname_pattern": 5}).get_json()["detail"]
    assert "'hostname_pattern' must be a string" in detail and "'name' may only hold" in detail
    detail = client.post("/resource-pools/", json={"name": "x", "attribute_value": "a"}).get_json()["detail"]
    assert "'attribute_value' needs 'attribute_name'" in detail
    assert _pool_count(session) == 0

    response = client.post("/resource-pools/", json={"name": "gpu", "hostname_pattern": "gpu-*"})
    assert response.status_code == 201
    pool_id = response.get_json()["id"]
    assert response.headers["Location"].endswith(f"/resource-pools/{pool_id}/")
    response = client.post("/resource-pools/", json={"name": "gpu", "hostname_pattern": "x*"})
    assert response.status_code == 400
    assert "already exists" in response.get_json()["detail"]
    assert _pool_count(session) == 1


def test_pool_membership_by_hostname_and_attribute(client, session):
    gpu1 = make_node(session, hostname="gpu-1.test", attributes={"zone": "east"})
    gpu2 = make_node(session, hostname="GPU-2.test", attributes={"zone": "west"})
    make_node(session, hostname="cpu-1.test", attributes={"zone": "east"})
    session.commit()

    by_host = client.post("/resource-pools/", json={"name": "gpus", "hostname_pattern": "gpu-*"}).get_json()
    assert [n["id"] for n in by_host["nodes"]] == [gpu1.id, gpu2.id]
    assert (by_host["state"], by_host["num_nodes"]) == ("ACTIVE", 2)

    both = client.post(
        "/resource-pools/",
        json={"name": "east-gpus", "hostname_pattern": "gpu-*", "attribute_name": "zone", "attribute_value": "east"},
    ).get_json()
    assert [n["id"] for n in both["nodes"]] == [gpu1.id]

    body = client.patch(f"/resource-pools/{both['id']}/", json={"attribute_value": "west"}).get_json()
    assert [n["id"] for n in body["nodes"]] == [gpu2.id]
    assert client.get("/resource-pools/").get_json()["count"] == 2
    assert client.get("/resource-pools/999999/").status_code == 404


def test_freeze_blocks_new_work_and_restore_keeps_individual_holds(client, session):
    held = make_node(session, hostname="pool-1.test")
    free = make_node(session, hostname="pool-2.test")
    outside = make_node(session, hostname="other.test")
    session.commit()
    client.post(f"/nodes/{held.id}/hold/")
    pool = client.post("/resource-pools/", json={"name": "p", "hostname_pattern": "pool-*"}).get_json()

    body = client.post(f"/resource-pools/{pool['id']}/freeze/").get_json()
    assert body["state"] == "FROZEN"
    assert paused_node_ids(session) >= {held.id, free.id}
    assert outside.id not in paused_node_ids(session)
    assert client.get(f"/nodes/{free.id}/").get_json()["is_paused"] is False  # the pool's state, not the node's

    response = client.post(f"/resource-pools/{pool['id']}/freeze/")
    assert response.status_code == 400
    assert response.get_json()["detail"] == "Resource pool {} (p) cannot go from FROZEN to FROZEN".format(pool["id"])

    assert client.post(f"/resource-pools/{pool['id']}/restore/").get_json()["state"] == "ACTIVE"
    session.expire_all()
    assert paused_node_ids(session) == {held.id}
    assert client.post(f"/resource-pools/{pool['id']}/restore/").status_code == 400


def test_drain_vacates_and_survives_a_restart(client, session):
    node = make_node(session, hostname="drain-1.test")
    exe = _running(session, node)
    session.commit()
    pool = client.post("/resource-pools/", json={"name": "d", "hostname_pattern": "drain-*"}).get_json()

    body = client.post(f"/resource-pools/{pool['id']}/drain/").get_json()
    assert (body["state"], body["vacated_job_exe_ids"], body["is_drained"]) == ("DRAINING", [exe.id], False)

    _kill_and_finish(session, exe.id)
    assert client.get(f"/resource-pools/{pool['id']}/").get_json()["is_drained"] is True

    # A restart: every engine and session is dropped; a new app and session read the database again.
    session.close()
    db.dispose_all()
    from api import create_app

    fresh_client = create_app().test_client()
    assert fresh_client.get(f"/resource-pools/{pool['id']}/").get_json()["state"] == "DRAINING"
    fresh = db.get_sessionmaker()()
    try:
        assert node.id in paused_node_ids(fresh)
    finally:
        fresh.close()


def test_pool_transitions_and_delete(client, session):
    make_node(session, hostname="t-1.test")
    session.commit()
    pool = client.post("/resource-pools/", json={"name": "t", "hostname_pattern": "t-*"}).get_json()
    url = f"/resource-pools/{pool['id']}/"

    assert client.post(url + "drain/").get_json()["state"] == "DRAINING"
    response = client.post(url + "freeze/")
    assert response.status_code == 400 and "cannot go from DRAINING to FROZEN" in response.get_json()["detail"]
    response = client.delete(url)
    assert response.status_code == 400 and "restore it before deleting it" in response.get_json()["detail"]

    client.post(url + "restore/")
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.post(url + "drain/").status_code == 404


# ---------------------------------------------------------------- auto mode


def test_auto_mode_is_recorded_on_the_scheduler_row(client, session):
    assert client.get("/cluster/auto-mode/").get_json() == {"auto_mode": False}
    assert client.patch("/cluster/auto-mode/", json={"auto_mode": True}).get_json() == {"auto_mode": True}
    assert session.get(Scheduler, 1).auto_mode is True
    assert client.get("/cluster/auto-mode/").get_json() == {"auto_mode": True}

    assert client.patch("/cluster/auto-mode/", json={}).get_json()["detail"] == "Missing required fields: auto_mode"
    assert client.patch("/cluster/auto-mode/", json={"auto_mode": "sometimes"}).status_code == 400
    assert client.patch("/cluster/auto-mode/", json={"auto_mode": False, "x": 1}).status_code == 400
    session.expire_all()
    assert session.get(Scheduler, 1).auto_mode is True
