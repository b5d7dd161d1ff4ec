"""The scheduler's pieces on their own: held offers and the hold rule, running tasks, the report, the loop's table."""

from __future__ import annotations

from workers.scheduler.loop import IntervalJob, run_due
from workers.scheduler.offers import AgentPool, HeldOffers, by_agent, offered_resources, to_decline
from workers.scheduler.report import Counters, node_report
from workers.scheduler.running import RunningTask, RunningTasks


def offer(offer_id: str, agent_id: str, cpus: float = 1.0, **extra) -> dict:
    return {
        "id": {"value": offer_id},
        "agent_id": {"value": agent_id},
        "hostname": f"host-{agent_id}",
        "url": {"address": {"port": 5052}},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 256.0}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}},
        ],
        **extra,
    }


def test_held_offers_keep_resources_attributes_and_forget_rescinded_and_lost_agents():
    held = HeldOffers()
    attributes = [
        {"name": "rack", "type": "TEXT", "text": {"value": "a"}},
        {"name": "zone", "type": "SCALAR", "scalar": {"value": 2.0}},
        {"name": "slots", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 4}, {"begin": 8, "end": 9}]}},
        {"name": "disks", "type": "SET", "set": {"item": ["ssd", "nvme"]}},
    ]
    assert held.add([offer("o1", "a1", attributes=attributes), offer("o2", "a1"), offer("o3", "a2")], now=10.0) == 3
    (first, *_) = held.snapshot()
    assert first.resources == {"cpus": 1.0, "mem": 256.0, "disk": 0.0}
    assert first.attributes == {"rack": "a", "zone": 2.0, "slots": "[1-4,8-9]", "disks": "{ssd,nvme}"}
    assert first.port == 5052
    held.rescind("o2")
    held.drop_agent("a2")
    assert [o.offer_id for o in held.snapshot()] == ["o1"]


def test_unused_offers_are_declined_only_after_the_hold_and_never_those_launched_on():
    held = HeldOffers()
    held.add([offer("old", "a1")], now=0.0)
    held.add([offer("new", "a2"), offer("used", "a3")], now=9.0)
    grouped = by_agent(held.snapshot())
    declined = to_decline(grouped, launched_agents={"a3"}, now=10.0, hold=5.0)
    assert [o.offer_id for o in declined] == ["old"]
    assert offered_resources(held.snapshot())["a2"]["cpus"] == 1.0


def test_running_tasks_total_per_agent_and_type_and_find_timeouts():
    running = RunningTasks()
    running["t1"] = RunningTask(1, 10, 7, "a1", 1.0, 64.0, 0.0, started=100.0, timeout=30)
    running["t2"] = RunningTask(2, 11, 7, "a1", 0.5, 32.0, 5.0, started=100.0, timeout=0)
    running["t3"] = RunningTask(3, 12, 8, "a2", 2.0, 128.0, 0.0, started=100.0, timeout=30, kill_sent=120.0)
    by_agent_totals, by_type = running.totals()
    assert by_agent_totals["a1"] == {"cpus": 1.5, "mem": 96.0, "disk": 5.0}
    assert dict(by_type) == {7: 2, 8: 1}
    assert running.timed_out(now=131.0) == [1]  # no timeout for t2; t3 was already sent a kill
    assert running.on_agent("a1") == ["t1", "t2"]


def test_a_node_without_a_recent_offer_is_offline_and_all_of_it_unavailable():
    total = {"cpus": 4.0, "mem": 1024.0, "disk": 100.0}
    args = dict(agent_id="a1", hostname="h", node_id=3, total=total, running=dict.fromkeys(total, 0.0))
    online = node_report(
        **args, offered={"cpus": 1.0, "mem": 0.0, "disk": 0.0}, last_offer=95.0, now=100.0, offline_after=10
    )
    assert online["online"] and online["free"]["cpus"] == 3.0 and online["unavailable"]["cpus"] == 0.0
    offline = node_report(**args, offered=dict.fromkeys(total, 0.0), last_offer=50.0, now=100.0, offline_after=10)
    assert not offline["online"] and offline["unavailable"] == total


def test_counter_rates_are_per_second_since_the_previous_report():
    previous = Counters(jobs_launched=10)
    now = Counters(jobs_launched=30, task_updates=5)
    rates = now.rates(previous, elapsed=4.0)
    assert rates["jobs_launched_per_sec"] == 5.0 and rates["task_updates_per_sec"] == 1.25


def test_the_loop_runs_jobs_when_their_interval_passed_or_when_wanted_at_once():
    ran: list[str] = []
    wanted = {"now": False}
    jobs = [
        IntervalJob("every 10 s", lambda: 10.0, lambda: ran.append("slow"), lambda: wanted["now"]),
        IntervalJob("every pass", lambda: 0.0, lambda: ran.append("pass")),
        IntervalJob("disabled", lambda: 0.0, lambda: ran.append("never"), enabled=lambda: False),
    ]
    assert run_due(jobs, now=100.0) == ["every 10 s", "every pass"]
    assert run_due(jobs, now=105.0) == ["every pass"]
    wanted["now"] = True
    assert run_due(jobs, now=106.0) == ["every 10 s", "every pass"]
    assert ran == ["slow", "pass", "pass", "slow", "pass"]


def _scalar(name: str, value: float, role: str = "*", **extra) -> dict:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}, "role": role, **extra}


def test_only_entries_a_task_can_take_part_of_count_in_an_offer():
    allocated = {"allocation_info": {"role": "scale"}}
    resources = [
        _scalar("cpus", 1.0, **allocated),
        _scalar("cpus", 2.0, "scale", **allocated),
        _scalar("cpus", 8.0, revocable={}, **allocated),
        _scalar("mem", 512.0, **allocated),
        _scalar("disk", 100.0, **allocated),
        _scalar("disk", 5000.0, disk={"source": {"type": "MOUNT", "mount": {"root": "/mnt/a"}}}, **allocated),
        _scalar("disk", 700.0, "scale", disk={"persistence": {"id": "v1"}, "volume": {"container_path": "d"}}),
        _scalar("gpus", 1.0, **allocated),
    ]
    held = HeldOffers()
    held.add([{**offer("o1", "a1"), "resources": resources}], now=0.0)
    (only,) = held.snapshot()
    assert only.resources == {"cpus": 3.0, "mem": 512.0, "disk": 100.0}


def test_task_resources_are_cut_from_the_offered_entries_reserved_ones_first():
    allocated = {"allocation_info": {"role": "scale"}}
    held = HeldOffers()
    held.add(
        [
            {**offer("o1", "a1"), "resources": [_scalar("cpus", 1.0, **allocated), _scalar("mem", 512.0, **allocated)]},
            {**offer("o2", "a1"), "resources": [_scalar("cpus", 2.0, "scale", **allocated)]},
        ],
        now=0.0,
    )
    pool = AgentPool(held.snapshot())
    first = pool.take({"cpus": 2.5, "mem": 100.0, "disk": 0.0})
    assert first == [
        _scalar("cpus", 2.0, "scale", **allocated),
        _scalar("cpus", 0.5, **allocated),
        _scalar("mem", 100.0, **allocated),
    ]
    # the next task of the pass gets what the first one left
    assert pool.take({"cpus": 0.5, "mem": 412.0}) == [
        _scalar("cpus", 0.5, **allocated),
        _scalar("mem", 412.0, **allocated),
    ]
