"""Autoscaling through the API and the service, without a running cluster: validation, claiming a pass,
and a provider that cannot be reached."""

from datetime import timedelta

from app.db import utcnow
from app.models import AutoscaleDecision, ScaledNode
from app.services import autoscale
from app.settings import settings

POOL = {
    "name": "burst",
    "attribute_name": "pool",
    "provider": "local",
    "max_nodes": 2,
    "node_cpus": 2,
    "node_mem": 4096,
}


def test_an_autoscaled_pool_lists_everything_wrong_with_it(client):
    body = {**POOL, "provider": "ec2", "min_nodes": 3, "node_mem": 0, "hostname_pattern": "gpu-??"}
    answer = client.post("/resource-pools/", json=body)
    assert answer.status_code == 400
    detail = answer.get_json()["detail"]
    assert "'min_nodes' (3) must not exceed 'max_nodes' (2)" in detail
    assert "no node provider 'ec2' (known: local)" in detail
    assert "needs 'node_mem' greater than 0" in detail
    assert "may only use '*' wildcards" in detail
    no_provider = client.post("/resource-pools/", json={**POOL, "provider": None})
    assert "needs 'provider'" in no_provider.get_json()["detail"]
    bad_number = client.post("/resource-pools/", json={**POOL, "max_nodes": -1, "node_cpus": "2"})
    assert bad_number.status_code == 400
    assert "'max_nodes' must be at least 0" in bad_number.get_json()["detail"]
    assert "'node_cpus' must be a finite number" in bad_number.get_json()["detail"]


def test_a_pool_shows_its_scaling_fields_and_launches_are_refused_when_they_cannot_happen(client):
    created = client.post("/resource-pools/", json=POOL)
    assert created.status_code == 201, created.get_json()
    pool = created.get_json()
    assert (pool["provider"], pool["min_nodes"], pool["max_nodes"], pool["scaled_nodes"]) == ("local", 0, 2, [])
    too_many = client.post(f"/resource-pools/{pool['id']}/launch/", json={"num": 3})
    assert too_many.status_code == 400
    assert "3 more would exceed it" in too_many.get_json()["detail"]
    assert client.post(f"/resource-pools/{pool['id']}/launch/", json={"num": 0}).status_code == 400
    assert client.post(f"/resource-pools/{pool['id']}/freeze/", json={}).status_code == 200
    frozen = client.post(f"/resource-pools/{pool['id']}/launch/", json={})
    assert "is FROZEN: restore it first" in frozen.get_json()["detail"]
    plain = client.post("/resource-pools/", json={"name": "plain", "hostname_pattern": "x*"}).get_json()
    assert "has no node provider" in client.post(f"/resource-pools/{plain['id']}/launch/", json={}).get_json()["detail"]


def test_a_pass_runs_only_in_auto_mode_and_once_per_interval(client, session, monkeypatch):
    monkeypatch.setattr(settings, "AUTOSCALE_INTERVAL", 10.0, raising=False)
    now = utcnow()

    def claim(at):
        claimed = autoscale.claim_pass(session, at)
        session.commit()
        return claimed

    assert not claim(now)  # auto mode is off
    assert client.patch("/cluster/auto-mode/", json={"auto_mode": True}).status_code == 200
    assert claim(now)
    assert not claim(now + timedelta(seconds=1))  # a second tick, or the same task twice
    assert claim(now + timedelta(seconds=6))


def test_a_provider_that_cannot_be_reached_fails_the_launch_with_its_reason(client, session, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setattr(settings, "MESOS_MASTER", f"127.0.0.1:{free_port()}", raising=False)  # nothing listens
    pool = client.post("/resource-pools/", json=POOL).get_json()
    answer = client.post(f"/resource-pools/{pool['id']}/launch/", json={})
    assert answer.status_code == 200
    (hostname,) = answer.get_json()["launched"]
    session.expire_all()
    row = session.query(ScaledNode).filter_by(hostname=hostname).one()
    assert row.state == "FAILED"
    failed = session.query(AutoscaleDecision).filter_by(action="LAUNCH_FAILED").one()
    assert failed.hostnames == [hostname]
    assert "did not answer" in failed.reason


def test_a_draining_node_an_operator_unheld_serves_again_and_is_not_terminated(client, session, monkeypatch):
    from app.models import Node, ResourcePool
    from tests.factories import make_node

    monkeypatch.setattr(settings, "AUTOSCALE_INTERVAL", 0.0, raising=False)
    pool = client.post("/resource-pools/", json=POOL).get_json()
    assert client.patch("/cluster/auto-mode/", json={"auto_mode": True}).status_code == 200
    now = utcnow()
    node = make_node(session, hostname="burst-1", attributes={"pool": "x"})
    row = ScaledNode(
        pool_id=pool["id"], hostname="burst-1", provider="local", state="DRAINING", launched=now, state_changed=now
    )
    session.add(row)
    session.commit()
    assert autoscale.plan(session, utcnow()) == []
    session.commit()
    session.expire_all()
    assert session.get(ScaledNode, row.id).state == "RUNNING"
    assert session.get(Node, node.id).is_active
    assert session.query(AutoscaleDecision).filter_by(action="TERMINATE").count() == 0
    assert session.get(ResourcePool, pool["id"]).state == "ACTIVE"
