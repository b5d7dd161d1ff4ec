"""The local cluster's master on its own: scheduler calls, offers and status updates, with a recording
task runner in place of the agents' executor (no HTTP, no processes)."""

from __future__ import annotations

import json
import time

import pytest

from workers.local_cluster.allocator import Allocator
from workers.local_cluster.checkpoint import Checkpoint
from workers.local_cluster.master import CallRefused, Master
from workers.local_cluster.model import Agent, Stream, Task
from workers.local_cluster.resources import parse_resource_text


class RecordingRunner:
    def __init__(self) -> None:
        self.launched: list[str] = []
        self.killed: list[tuple[str, float]] = []
        self.killed_now: list[str] = []

    def launch(self, task: Task) -> None:
        self.launched.append(task.id)

    def kill(self, task: Task, grace: float) -> None:
        task.kill_requested = True
        self.killed.append((task.id, grace))

    def kill_now(self, task: Task) -> None:
        self.killed_now.append(task.id)


@pytest.fixture
def make_master(tmp_path):
    """A master with one agent of `resources` (the agents' --resources text); its checkpoint freed after."""
    checkpoints = []

    def make(resources: str) -> Master:
        checkpoint = Checkpoint(tmp_path / f"m{len(checkpoints)}")
        checkpoint.lock()
        checkpoints.append(checkpoint)
        m = Master(
            master_id="m1",
            hostname="host",
            checkpoint=checkpoint,
            heartbeat_interval=15.0,
            retry_interval=3.0,
            kill_grace=3.0,
        )
        m.runner = RecordingRunner()
        m.add_agent(Agent("m1-S0", 0, "host", parse_resource_text(resources), {}))
        return m

    yield make
    for checkpoint in checkpoints:
        checkpoint.unlock()


@pytest.fixture
def master(make_master):
    return make_master("cpus:4;mem:4096;disk:1000")


def events(stream: Stream) -> list[dict]:
    out = []
    while not stream.queue.empty():
        record = stream.queue.get_nowait()
        if record is not None:
            out.append(json.loads(record))
    return out


def subscribe(master: Master, **info) -> tuple[str, Stream]:
    stream = master.subscribe({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", **info}}})
    subscribed = events(stream)[0]
    assert subscribed["type"] == "SUBSCRIBED"
    return subscribed["subscribed"]["framework_id"]["value"], stream


def call(master: Master, fw_id: str, stream: Stream, kind: str, **body) -> None:
    master.call({"type": kind, "framework_id": {"value": fw_id}, **body}, stream.id)


def one_offer(master: Master, stream: Stream) -> dict:
    Allocator(master, 1.0).allocate()
    (event,) = events(stream)
    assert event["type"] == "OFFERS"
    (offer,) = event["offers"]["offers"]
    return offer


def task_info(task_id: str, offer: dict, cpus: float = 1.0, mem: float = 128.0) -> dict:
    return {
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "name": task_id,
        "command": {"shell": False, "value": "/bin/true", "arguments": ["/bin/true"]},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
    }


def launch(master: Master, fw_id: str, stream: Stream, *infos: dict, offer: dict) -> None:
    operations = [{"type": "LAUNCH", "launch": {"task_infos": list(infos)}}]
    call(master, fw_id, stream, "ACCEPT", accept={"offer_ids": [offer["id"]], "operations": operations})


def updates(stream: Stream) -> list[dict]:
    return [e["update"]["status"] for e in events(stream) if e["type"] == "UPDATE"]


def test_an_accepted_task_is_handed_to_the_runner_and_holds_its_resources(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    assert {r["name"]: r["scalar"]["value"] for r in offer["resources"]} == {"cpus": 4.0, "mem": 4096.0, "disk": 1000.0}
    launch(master, fw_id, stream, task_info("t1", offer, cpus=1.5), offer=offer)
    assert master.runner.launched == ["t1"]
    agent = master.agents["m1-S0"]
    assert agent.used == {"cpus": 1.5, "mem": 128.0} and agent.offered == {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
    assert master.tasks["t1"].state == "TASK_STAGING"


def test_a_task_asking_more_than_the_offer_is_an_error_and_uses_nothing(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    launch(master, fw_id, stream, task_info("big", offer, cpus=5), offer=offer)
    (status,) = updates(stream)
    assert status["state"] == "TASK_ERROR" and status["reason"] == "REASON_TASK_INVALID"
    assert "more resources" in status["message"] and status["uuid"]
    assert master.runner.launched == [] and not master.agents["m1-S0"].used


def test_an_offer_used_twice_is_refused_as_invalid(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    launch(master, fw_id, stream, task_info("a", offer), offer=offer)
    launch(master, fw_id, stream, task_info("b", offer), offer=offer)
    (status,) = updates(stream)
    assert status["task_id"]["value"] == "b" and status["state"] == "TASK_LOST"
    assert status["reason"] == "REASON_INVALID_OFFERS" and master.runner.launched == ["a"]


def test_declined_resources_are_not_offered_again_until_revive(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    call(master, fw_id, stream, "DECLINE", decline={"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 60}})
    Allocator(master, 1.0).allocate()
    assert events(stream) == []
    call(master, fw_id, stream, "REVIVE")
    assert one_offer(master, stream)["agent_id"] == offer["agent_id"]


def test_suppressed_frameworks_get_no_offers(master):
    fw_id, stream = subscribe(master)
    call(master, fw_id, stream, "SUPPRESS")
    Allocator(master, 1.0).allocate()
    assert events(stream) == []


def test_updates_are_delivered_one_at_a_time_until_acknowledged(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    launch(master, fw_id, stream, task_info("t1", offer), offer=offer)
    task = master.tasks["t1"]
    master.update(task, "TASK_RUNNING", None, "SOURCE_EXECUTOR")
    master.update(task, "TASK_FINISHED", "Command exited with status 0", "SOURCE_EXECUTOR")
    (running,) = updates(stream)  # the second waits for the first's acknowledgement
    assert running["state"] == "TASK_RUNNING"
    assert master.agents["m1-S0"].used == {"cpus": 0.0, "mem": 0.0}  # a terminal state frees resources at once

    call(master, fw_id, stream, "ACKNOWLEDGE", acknowledge={"task_id": {"value": "t1"}, "uuid": "not-it"})
    assert updates(stream) == []
    call(master, fw_id, stream, "ACKNOWLEDGE", acknowledge={"task_id": {"value": "t1"}, "uuid": running["uuid"]})
    (finished,) = updates(stream)
    assert finished["state"] == "TASK_FINISHED"
    call(master, fw_id, stream, "ACKNOWLEDGE", acknowledge={"task_id": {"value": "t1"}, "uuid": finished["uuid"]})
    assert "t1" not in master.tasks and "t1" in master.completed


def test_unacknowledged_updates_are_resent_after_the_retry_interval(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    launch(master, fw_id, stream, task_info("t1", offer), offer=offer)
    master.update(master.tasks["t1"], "TASK_RUNNING", None, "SOURCE_EXECUTOR")
    first = updates(stream)
    master.retry_updates()
    assert updates(stream) == []
    master.tasks["t1"].last_sent -= master.retry_interval
    master.retry_updates()
    assert updates(stream) == first


def test_reconciliation_answers_known_tasks_with_their_latest_state_and_unknown_ones_lost(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    launch(master, fw_id, stream, task_info("t1", offer), offer=offer)
    wanted = [{"task_id": {"value": "t1"}}, {"task_id": {"value": "nobody"}}]
    call(master, fw_id, stream, "RECONCILE", reconcile={"tasks": wanted})
    known, unknown = updates(stream)
    assert (known["state"], known["reason"]) == ("TASK_STAGING", "REASON_RECONCILIATION")
    assert (unknown["state"], unknown["reason"]) == ("TASK_LOST", "REASON_RECONCILIATION")
    assert "uuid" not in known and "uuid" not in unknown  # answers need no acknowledgement


def test_kill_uses_the_kill_policy_grace_and_unknown_tasks_are_answered_lost(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    launch(master, fw_id, stream, task_info("t1", offer), offer=offer)
    policy = {"grace_period": {"nanoseconds": 7_000_000_000}}
    call(master, fw_id, stream, "KILL", kill={"task_id": {"value": "t1"}, "kill_policy": policy})
    call(master, fw_id, stream, "KILL", kill={"task_id": {"value": "ghost"}})
    assert master.runner.killed == [("t1", 7.0)]
    (ghost,) = updates(stream)
    assert ghost["task_id"]["value"] == "ghost" and ghost["state"] == "TASK_LOST"


def test_a_removed_agent_rescinds_its_offers_and_loses_its_tasks(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    launch(master, fw_id, stream, task_info("t1", offer, cpus=1), offer=offer)
    call(master, fw_id, stream, "REVIVE")  # the rest of the offer was filtered for 5 s
    second = one_offer(master, stream)
    _, lost = master.remove_agent("m1-S0")
    assert lost == ["t1"] and master.runner.killed_now == ["t1"]
    kinds = [(e["type"], e.get("rescind", {}).get("offer_id", {}).get("value")) for e in events(stream)]
    assert kinds[0] == ("RESCIND", second["id"]["value"]) and kinds[-1] == ("FAILURE", None)
    assert master.tasks["t1"].status["reason"] == "REASON_AGENT_REMOVED"


def test_calls_need_a_subscribed_framework_and_its_stream_id(master):
    fw_id, stream = subscribe(master)
    with pytest.raises(CallRefused, match="not subscribed"):
        master.call({"type": "REVIVE", "framework_id": {"value": "other"}}, stream.id)
    with pytest.raises(CallRefused, match="Mesos-Stream-Id"):
        master.call({"type": "REVIVE", "framework_id": {"value": fw_id}}, None)
    with pytest.raises(CallRefused, match="didn't match"):
        master.call({"type": "REVIVE", "framework_id": {"value": fw_id}}, "stale")
    with pytest.raises(CallRefused, match="Unsupported call type") as refused:
        master.call({"type": "NONSENSE", "framework_id": {"value": fw_id}}, stream.id)
    assert refused.value.status == 400
    master.stopping.set()
    with pytest.raises(CallRefused, match="stopping") as refused:
        master.call({"type": "REVIVE", "framework_id": {"value": fw_id}}, stream.id)
    assert refused.value.status == 503


def test_a_subscribe_without_a_user_is_refused(master):
    with pytest.raises(CallRefused, match="framework_info.user"):
        master.subscribe({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}})


def test_a_second_subscribe_takes_the_framework_over(master):
    fw_id, old = subscribe(master)
    new = master.subscribe(
        {"type": "SUBSCRIBE", "framework_id": {"value": fw_id}, "subscribe": {"framework_info": {"user": "root"}}}
    )
    assert [e["type"] for e in events(old)] == ["ERROR"] and old.closed
    assert events(new)[0]["subscribed"]["framework_id"]["value"] == fw_id


def test_a_framework_gone_past_its_failover_timeout_is_removed_and_its_tasks_killed(master):
    fw_id, stream = subscribe(master, failover_timeout=5)
    offer = one_offer(master, stream)
    launch(master, fw_id, stream, task_info("t1", offer), offer=offer)
    master.tasks["t1"].pid = 12345  # started by the executor
    master.stream_ended(stream)
    master.expire_frameworks()
    assert fw_id in master.frameworks  # still within its failover timeout
    master.frameworks[fw_id].disconnected_at = time.monotonic() - 6
    master.expire_frameworks()
    assert fw_id not in master.frameworks and master.runner.killed == [("t1", 3.0)]


def test_a_task_info_a_master_cannot_parse_refuses_the_whole_call_and_keeps_the_offer(master):
    """stout's JSON-to-protobuf parse: a required field missing or a value of the wrong JSON type fails
    the call (400) before any of it is acted on."""
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    broken = task_info("t1", offer)
    broken["container"] = {"type": "DOCKER", "docker": {"privileged": "yes"}, "volumes": [{"container_path": "/x"}]}
    with pytest.raises(CallRefused) as refused:
        launch(master, fw_id, stream, broken, offer=offer)
    assert refused.value.status == 400
    for part in (
        "Missing required fields: container.docker.image",
        "Not expecting a JSON string for field 'container.docker.privileged'",
        "Missing required fields: container.volumes[0].mode",
    ):
        assert part in str(refused.value)
    assert master.runner.launched == [] and offer["id"]["value"] in master.offers


def test_a_task_info_that_parses_but_breaks_the_masters_rules_is_a_task_error(master):
    fw_id, stream = subscribe(master)
    offer = one_offer(master, stream)
    no_docker = task_info("no-docker", offer)
    no_docker["container"] = {"type": "DOCKER"}
    named = task_info("named", offer)
    named["container"] = {"type": "DOCKER", "docker": {"image": "a", "parameters": [{"key": "name", "value": "x"}]}}
    no_value = task_info("no-value", offer)
    no_value["command"]["environment"] = {"variables": [{"name": "A"}]}
    two_sources = task_info("two-sources", offer)
    volume = {"container_path": "/d", "host_path": "/d", "image": {"type": "DOCKER"}, "mode": "RO"}
    two_sources["container"] = {"type": "DOCKER", "docker": {"image": "a"}, "volumes": [volume]}
    launch(master, fw_id, stream, no_docker, named, no_value, two_sources, offer=offer)
    messages = {s["task_id"]["value"]: s["message"] for s in updates(stream) if s["state"] == "TASK_ERROR"}
    assert "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo" in messages["no-docker"]
    assert "Parameter in DockerInfo must not be 'name'" in messages["named"]
    assert "Environment variable 'A' of type 'VALUE' must have a value set" in messages["no-value"]
    assert "Only one of them should be set: 'host_path', 'image' and 'source'" in messages["two-sources"]
    assert master.runner.launched == []


def test_port_ranges_are_offered_taken_by_tasks_and_given_back(make_master):
    m = make_master("cpus:4;mem:4096;ports:[31000-31009,32000-32000]")
    fw_id, stream = subscribe(m)
    offer = one_offer(m, stream)
    (ports,) = [r for r in offer["resources"] if r["name"] == "ports"]
    assert ports["type"] == "RANGES"
    assert ports["ranges"]["range"] == [{"begin": 31000, "end": 31009}, {"begin": 32000, "end": 32000}]

    def with_ports(task_id: str, *spans: tuple[int, int]) -> dict:
        info = task_info(task_id, offer)
        ranges = {"range": [{"begin": b, "end": e} for b, e in spans]}
        info["resources"].append({"name": "ports", "type": "RANGES", "ranges": ranges})
        return info

    operations = [
        {
            "type": "LAUNCH",
            "launch": {"task_infos": [with_ports("web", (31000, 31001)), with_ports("clash", (31001, 31001))]},
        }
    ]
    accept = {"offer_ids": [offer["id"]], "operations": operations, "filters": {"refuse_seconds": 0}}
    call(m, fw_id, stream, "ACCEPT", accept=accept)
    launch_errors = {s["task_id"]["value"]: s["message"] for s in updates(stream) if s["state"] == "TASK_ERROR"}
    assert "ports [31001-31001]" in launch_errors["clash"] and m.runner.launched == ["web"]
    assert m.state()["slaves"][0]["resources"]["ports"] == "[31000-31009, 32000-32000]"

    offer = one_offer(m, stream)
    (ports,) = [r for r in offer["resources"] if r["name"] == "ports"]
    assert ports["ranges"]["range"] == [{"begin": 31002, "end": 31009}, {"begin": 32000, "end": 32000}]
    m.update(m.tasks["web"], "TASK_FINISHED", None, "SOURCE_EXECUTOR")
    assert [u["state"] for u in updates(stream)] == ["TASK_FINISHED"]
    call(m, fw_id, stream, "DECLINE", decline={"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 0}})
    offer = one_offer(m, stream)
    (ports,) = [r for r in offer["resources"] if r["name"] == "ports"]
    assert ports["ranges"]["range"][0] == {"begin": 31000, "end": 31009}


def test_attributes_of_every_mesos_type_are_offered_in_their_own_shape():
    from workers.local_cluster.resources import attributes_json, parse_attributes
    from workers.scheduler.offers import attribute_value

    attributes = parse_attributes("rack:r1;zone:2;slots:[1-4,8-9];disks:{ssd,nvme}")
    shapes = {a["name"]: a for a in attributes_json(attributes)}
    assert shapes["rack"]["text"] == {"value": "r1"} and shapes["zone"]["scalar"] == {"value": 2.0}
    assert shapes["slots"]["ranges"] == {"range": [{"begin": 1, "end": 4}, {"begin": 8, "end": 9}]}
    assert shapes["disks"] == {"name": "disks", "type": "SET", "set": {"item": ["ssd", "nvme"]}}
    assert {name: attribute_value(a) for name, a in shapes.items()} == attributes  # the scheduler reads them back
    with pytest.raises(ValueError, match="not a range"):
        parse_attributes("slots:[4-1]")


def test_a_mount_disk_is_taken_whole_and_revocable_resources_go_only_to_frameworks_that_ask(make_master):
    m = make_master("cpus:2;mem:1024;disk[MOUNT:/mnt/d1]:1000;cpus{revocable}:3")
    fw_id, stream = subscribe(m)
    offer = one_offer(m, stream)
    (disk,) = [r for r in offer["resources"] if r["name"] == "disk"]
    assert disk["disk"] == {"source": {"type": "MOUNT", "mount": {"root": "/mnt/d1"}}}
    assert not any("revocable" in r for r in offer["resources"])  # the framework did not declare REVOCABLE_RESOURCES

    def using_disk(task_id: str, amount: float) -> dict:
        info = task_info(task_id, offer)
        info["resources"].append({**disk, "scalar": {"value": amount}})
        return info

    operations = [{"type": "LAUNCH", "launch": {"task_infos": [using_disk("part", 100), using_disk("whole", 1000)]}}]
    call(m, fw_id, stream, "ACCEPT", accept={"offer_ids": [offer["id"]], "operations": operations})
    (refused,) = updates(stream)
    assert refused["task_id"]["value"] == "part" and refused["state"] == "TASK_ERROR"
    assert "MOUNT disk /mnt/d1, which is offered whole" in refused["message"]
    assert m.runner.launched == ["whole"]

    capable, capable_stream = subscribe(m, capabilities=[{"type": "REVOCABLE_RESOURCES"}])
    Allocator(m, 1.0).allocate()
    offers = [o for e in events(capable_stream) if e["type"] == "OFFERS" for o in e["offers"]["offers"]]
    revocable = [r for o in offers for r in o["resources"] if "revocable" in r]
    assert [(r["name"], r["scalar"]["value"], r["revocable"]) for r in revocable] == [("cpus", 3.0, {})]
