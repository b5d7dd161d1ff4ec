"""Autoscaling on the running system: the local cluster's agents are the nodes a provider launches."""

from __future__ import annotations

import time

import pytest

from app.services import autoscale
from app.settings import settings
from tests.test_e2e_scheduler import _sleep_type

BIG = 6000.0  # MiB: more than the stack's own agent (4096), less than a pool node


@pytest.fixture
def auto(stack, monkeypatch):
    """Auto mode on, a pool `burst` of 8192 MiB nodes launched by the local provider, fast policy settings."""
    stack.cluster.test_routes = True  # the local provider adds and removes agents through them
    for name, value in (("AUTOSCALE_INTERVAL", "0"), ("AUTOSCALE_QUEUE_WAIT", "0"), ("AUTOSCALE_IDLE_TIME", "1")):
        monkeypatch.setenv(name, value)
    settings.reload()
    body = {
        "name": "burst",
        "attribute_name": "pool",
        "attribute_value": "burst",
        "provider": "local",
        "min_nodes": 0,
        "max_nodes": 2,
        "node_cpus": 2,
        "node_mem": 8192,
        "node_disk": 1000,
    }
    created = stack.client.post("/resource-pools/", json=body)
    assert created.status_code == 201, created.get_json()
    assert stack.client.patch("/cluster/auto-mode/", json={"auto_mode": True}).status_code == 200
    return created.get_json()


def passes_until(stack, predicate, what, timeout=40.0):
    """Run autoscaling passes (as beat would) until `predicate()` holds."""

    def step():
        autoscale.run_pass()
        return predicate()

    return stack.wait(step, timeout=timeout, what=what)


def agent_hostnames(stack):
    return sorted(a["hostname"] for a in stack.cluster.agents())


def test_a_burst_grows_the_cluster_and_it_shrinks_back_when_idle(stack, auto):
    before = agent_hostnames(stack)
    job_type = _sleep_type(stack, "1", name="needs-a-big-node", mem_required=BIG)
    jobs = [stack.queue_job(job_type["id"]) for _ in range(3)]

    passes_until(stack, lambda: len(agent_hostnames(stack)) == len(before) + 2, "two nodes launched")
    launched = sorted(set(agent_hostnames(stack)) - set(before))
    assert all(h.startswith("burst-") for h in launched)
    for job in jobs:
        passes_until(stack, lambda job=job: stack.job(job["id"])["status"] == "COMPLETED", "the burst to finish")

    passes_until(stack, lambda: agent_hostnames(stack) == before, "the launched nodes terminated")
    pool = stack.client.get(f"/resource-pools/{auto['id']}/").get_json()
    assert pool["scaled_nodes"] == []
    decisions = stack.client.get("/v6/status/").get_json()["autoscaling"]["decisions"]
    made = [(d["action"], sorted(d["hostnames"])) for d in reversed(decisions)]
    assert made[0] == ("LAUNCH", launched)
    assert {h for action, hostnames in made if action == "TERMINATE" for h in hostnames} == set(launched)
    assert {h for action, hostnames in made if action == "HOLD" for h in hostnames} == set(launched)
    assert "need" in decisions[-1]["reason"] and "limited by max_nodes 2" in decisions[-1]["reason"]


def test_a_held_node_with_work_is_never_terminated(stack, auto):
    assert stack.client.patch(f"/resource-pools/{auto['id']}/", json={"max_nodes": 1}).status_code == 200
    job_type = _sleep_type(stack, "60", name="long-on-big-node", mem_required=BIG)
    job = stack.queue_job(job_type["id"])
    passes_until(stack, lambda: stack.job(job["id"])["status"] == "RUNNING", "the job running on a launched node")
    (scaled,) = stack.client.get(f"/resource-pools/{auto['id']}/").get_json()["scaled_nodes"]
    node = stack.client.get(f"/nodes/?hostname={scaled['hostname']}").get_json()["results"][0]
    assert stack.client.post(f"/nodes/{node['id']}/hold/", json={}).status_code in (200, 201)

    for _ in range(5):  # idle time passes several times over; the node has work and is held by an operator
        autoscale.run_pass()
        time.sleep(0.3)
    assert scaled["hostname"] in agent_hostnames(stack)
    assert stack.job(job["id"])["status"] == "RUNNING"

    assert stack.client.patch(f"/jobs/{job['id']}/", json={"status": "CANCELED"}).status_code == 200
    stack.wait_job(job["id"], "CANCELED")
    for _ in range(5):  # idle now, but the operator's hold still says hands off
        autoscale.run_pass()
        time.sleep(0.3)
    assert scaled["hostname"] in agent_hostnames(stack)

    assert stack.client.post(f"/nodes/{node['id']}/unhold/", json={}).status_code in (200, 201)
    passes_until(stack, lambda: scaled["hostname"] not in agent_hostnames(stack), "the idle node terminated")


def test_an_operator_launches_nodes_into_a_pool_within_its_maximum(stack, auto):
    before = len(stack.cluster.agents())
    launched = stack.client.post(f"/resource-pools/{auto['id']}/launch/", json={"num": 2})
    assert launched.status_code == 200, launched.get_json()
    assert len(launched.get_json()["launched"]) == 2
    assert len(stack.cluster.agents()) == before + 2
    too_many = stack.client.post(f"/resource-pools/{auto['id']}/launch/", json={"num": 1})
    assert too_many.status_code == 400
    assert "max_nodes 2" in too_many.get_json()["detail"]
    config = stack.client.get("/cluster/config/").get_json()
    (pool,) = config["resource_pools"]
    assert (pool["name"], pool["current_nodes"], pool["max_nodes"]) == ("burst", 2, 2)
    assert config["auto_mode"] is True and config["autoscale"]["idle_time"] == 1.0
