"""Tests of the pure matching functions (app.scheduling.matching) and the in-memory queue
(app.scheduling.queue_state).  No database, no Mesos: plain data in, plain data out."""

from __future__ import annotations

import copy
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.scheduling import matching
from app.scheduling.matching import (
    EPSILON,
    AgentResources,
    Assignment,
    JobTypeLimits,
    MatchResult,
    QueuedJob,
    match,
    order_queue,
)
from app.scheduling.queue_state import QueueState


# --------------------------------------------------------------------------- helpers


def job(job_id, job_type_id=1, priority=5, queued=None, cpus=1.0, mem=100.0, disk=0.0):
    return QueuedJob(job_id, job_type_id, priority, float(job_id if queued is None else queued), cpus, mem, disk)


def agent(agent_id, cpus=4.0, mem=4000.0, disk=4000.0, *, paused=False, active=True, total=None, running=None):
    tc, tm, td = total if total is not None else (0.0, 0.0, 0.0)
    rc, rm, rd = running if running is not None else (0.0, 0.0, 0.0)
    return AgentResources(
        agent_id,
        None,
        f"host-{agent_id}",
        cpus,
        mem,
        disk,
        paused,
        active,
        total_cpus=tc,
        total_mem=tm,
        total_disk=td,
        running_cpus=rc,
        running_mem=rm,
        running_disk=rd,
    )


def types(*ids, **limits):
    return {i: JobTypeLimits(i, **limits) for i in ids}


def run(queue, agents, job_types=None, *, paused=False, mode="FIFO", max_launch=1000, presorted=False):
    if job_types is None:
        job_types = types(*{j.job_type_id for j in queue})
    return match(
        queue,
        agents,
        job_types,
        scheduler_paused=paused,
        queue_mode=mode,
        max_launch=max_launch,
        presorted=presorted,
    )


def placed(result):
    return {a.job_id: a.agent_id for a in result.assignments}


# --------------------------------------------------------------------------- ordering


def test_order_queue_priority_then_fifo_then_job_id():
    jobs = [
        job(1, priority=5, queued=10),
        job(2, priority=1, queued=30),
        job(3, priority=5, queued=5),
        job(4, priority=1, queued=30),
        job(5, priority=9, queued=1),
    ]
    assert [j.job_id for j in order_queue(jobs, "FIFO")] == [2, 4, 3, 1, 5]


def test_order_queue_lifo_keeps_priority_first():
    jobs = [
        job(1, priority=5, queued=10),
        job(2, priority=1, queued=30),
        job(3, priority=5, queued=5),
        job(4, priority=1, queued=40),
        job(5, priority=9, queued=1),
        job(6, priority=5, queued=10),
    ]
    assert [j.job_id for j in order_queue(jobs, "LIFO")] == [4, 2, 1, 6, 3, 5]


def test_order_queue_rejects_unknown_mode():
    with pytest.raises(ValueError):
        order_queue([job(1)], "RANDOM")
    with pytest.raises(ValueError):
        run([job(1)], [agent("a")], mode="fifo")


# --------------------------------------------------------------------------- basic rules


def test_priority_order_wins_over_queue_order():
    # room for one job only: the higher priority (lower number) one, although queued later
    queue = [job(1, priority=5, queued=1), job(2, priority=1, queued=100)]
    result = run(queue, [agent("a", cpus=1, total=(1, 4000, 4000))])
    assert placed(result) == {2: "a"}


@pytest.mark.parametrize("mode, expected", [("FIFO", 1), ("LIFO", 3)])
def test_fifo_and_lifo(mode, expected):
    queue = [job(1, queued=10), job(2, queued=20), job(3, queued=30)]
    result = run(queue, [agent("a", cpus=1)], mode=mode)
    assert placed(result) == {expected: "a"}


def test_lifo_places_newest_first_within_priority():
    queue = [job(1, queued=10), job(2, queued=20), job(3, queued=30), job(4, queued=5, priority=1)]
    result = run(queue, [agent("a", cpus=3)], mode="LIFO")
    assert [a.job_id for a in result.assignments] == [4, 3, 2]


def test_paused_job_type_is_skipped():
    queue = [job(1, job_type_id=1), job(2, job_type_id=2), job(3, job_type_id=1)]
    job_types = {1: JobTypeLimits(1, is_paused=True), 2: JobTypeLimits(2)}
    result = run(queue, [agent("a")], job_types)
    assert placed(result) == {2: "a"}
    assert result.skipped == {"job_type_paused": 2}


def test_unknown_job_type_is_skipped():
    result = run([job(1, job_type_id=7), job(2, job_type_id=1)], [agent("a")], types(1))
    assert placed(result) == {2: "a"}
    assert result.skipped == {"job_type_unknown": 1}


def test_max_scheduled_counts_running_and_this_pass():
    queue = [job(i, job_type_id=1) for i in range(1, 6)] + [job(10, job_type_id=2)]
    job_types = {1: JobTypeLimits(1, max_scheduled=3, running=1), 2: JobTypeLimits(2, max_scheduled=1)}
    result = run(queue, [agent("a", cpus=100)], job_types)
    assert sorted(placed(result)) == [1, 2, 10]
    assert result.skipped == {"max_scheduled": 3}


def test_max_scheduled_zero_or_already_reached():
    queue = [job(1, job_type_id=1), job(2, job_type_id=2)]
    job_types = {1: JobTypeLimits(1, max_scheduled=0), 2: JobTypeLimits(2, max_scheduled=2, running=5)}
    result = run(queue, [agent("a")], job_types)
    assert result.assignments == []
    assert result.skipped == {"max_scheduled": 2}


def test_max_scheduled_none_is_unlimited():
    queue = [job(i) for i in range(1, 51)]
    result = run(queue, [agent("a", cpus=100, mem=1e9)], {1: JobTypeLimits(1, max_scheduled=None, running=10**6)})
    assert len(result.assignments) == 50


def test_paused_node_takes_no_work():
    result = run([job(1), job(2)], [agent("a", paused=True), agent("b", cpus=1)])
    assert placed(result) == {1: "b"}


def test_inactive_node_takes_no_work():
    result = run([job(1), job(2)], [agent("a", active=False), agent("b", cpus=1)])
    assert placed(result) == {1: "b"}


def test_no_usable_agent():
    result = run([job(1), job(2)], [agent("a", paused=True), agent("b", active=False)])
    assert result.assignments == [] and result.reserved_agents == {} and result.warnings == []
    assert result.skipped == {"no_free_resources": 2}


def test_scheduler_pause_places_nothing_and_leaves_inputs_alone():
    agents = [agent("a"), agent("b", paused=True)]
    before = copy.deepcopy(agents)
    queue = [job(1), job(2)]
    result = run(queue, agents, paused=True)
    assert result == MatchResult(skipped={"scheduler_paused": 2})
    assert agents == before  # node pause flags are input, not output


def test_inputs_are_not_mutated():
    agents = [agent("a", cpus=2), agent("b", cpus=1, total=(8, 4000, 4000))]
    queue = [job(1, cpus=4), job(2), job(3)]
    job_types = types(1, max_scheduled=10)
    snapshot = copy.deepcopy((agents, queue, job_types))
    run(queue, agents, job_types)
    assert (agents, queue, job_types) == snapshot


def test_empty_queue():
    assert run([], [agent("a")]) == MatchResult()


# --------------------------------------------------------------------------- resources


@pytest.mark.parametrize("limiting", ["cpus", "mem", "disk"])
def test_each_resource_can_be_the_limit(limiting):
    need = {"cpus": 1.0, "mem": 100.0, "disk": 100.0}
    offer = {"cpus": 10.0, "mem": 1000.0, "disk": 1000.0}
    offer[limiting] = need[limiting] * 2.5  # room for two jobs in that resource only
    queue = [job(i, **need) for i in range(1, 6)]
    # capacity equal to the offer: the other jobs wait (reserve) rather than being impossible
    result = run(queue, [agent("a", **offer)], max_launch=10)
    assert [a.job_id for a in result.assignments] == [1, 2]
    assert result.assignments[0] == Assignment(1, "a", 1.0, 100.0, 100.0)
    assert result.reserved_agents == {"a": 3}
    assert result.skipped == {"reserved": 1, "no_free_resources": 2}


@pytest.mark.parametrize("limiting", ["cpus", "mem", "disk"])
def test_job_too_big_in_one_resource_goes_elsewhere(limiting):
    need = {"cpus": 2.0, "mem": 200.0, "disk": 200.0}
    small = {"cpus": 4.0, "mem": 400.0, "disk": 400.0}
    small[limiting] = need[limiting] / 2
    result = run([job(1, **need)], [agent("a", **small), agent("b", cpus=8, mem=800, disk=800)])
    assert placed(result) == {1: "b"}


def test_float_leftovers_still_fit():
    queue = [job(1, cpus=0.1), job(2, cpus=0.2)]
    result = run(queue, [agent("a", cpus=0.3)])
    assert placed(result) == {1: "a", 2: "a"}
    assert 0.3 - 0.1 < 0.2  # the reason for EPSILON
    assert EPSILON > 0


def test_float_shortfall_below_epsilon_counts_as_fitting():
    just_under = 0.1 + 0.7  # 0.7999999999999999
    assert just_under < 0.8
    # offered: placed (its free score is a hair below the job's, the search must still find it)
    result = run([job(1, cpus=0.8, mem=0)], [agent("a", cpus=just_under, mem=0, disk=0)])
    assert placed(result) == {1: "a"}
    # capacity (offered + running): the job is not impossible, it reserves
    result = run([job(1, cpus=0.8, mem=0)], [agent("a", cpus=0.1, mem=0, disk=0, running=(0.7, 0, 0))])
    assert result.reserved_agents == {"a": 1} and result.warnings == []


def test_best_fit_picks_least_leftover():
    agents = [
        agent("big", cpus=16, mem=16000, disk=16000),
        agent("snug", cpus=2, mem=2000, disk=2000),
        agent("mid", cpus=4, mem=4000, disk=4000),
    ]
    result = run([job(1, cpus=2, mem=1500, disk=1000)], agents)
    assert placed(result) == {1: "snug"}


def test_best_fit_ties_go_to_lowest_agent_id():
    agents = [agent(name, cpus=2) for name in ("c", "a", "b")]
    result = run([job(1), job(2), job(3)], agents)
    # a gets the first job; then a has the least left, so it takes the second too
    assert placed(result) == {1: "a", 2: "a", 3: "b"}


def test_best_fit_fills_agents_before_opening_new_ones():
    agents = [agent("a", cpus=4, mem=400, disk=0), agent("b", cpus=4, mem=400, disk=0)]
    queue = [job(i, cpus=1, mem=100) for i in range(1, 9)]
    result = run(queue, agents)
    assert [a.agent_id for a in result.assignments] == ["a"] * 4 + ["b"] * 4


def test_resources_are_consumed_across_jobs():
    result = run([job(i, cpus=1.5) for i in range(1, 5)], [agent("a", cpus=3, total=(3, 4000, 4000))])
    assert sorted(placed(result)) == [1, 2]


def test_duplicate_queue_entries_are_placed_once():
    queue = [job(1), job(1), job(2)]
    result = run(queue, [agent("a")], presorted=True)
    assert [a.job_id for a in result.assignments] == [1, 2]
    assert result.skipped == {"duplicate": 1}


def test_duplicate_agent_ids_are_an_error():
    with pytest.raises(ValueError):
        run([job(1)], [agent("a"), agent("a")])


# --------------------------------------------------------------------------- reservation


def test_reservation_protects_big_job_from_small_ones():
    # "a" could hold the big job once its running work ends; small low-priority jobs must
    # not eat what "a" offers now, but may use "b".
    agents = [agent("a", cpus=4, total=(8, 8000, 8000), running=(4, 0, 0)), agent("b", cpus=2)]
    queue = [job(1, priority=1, cpus=8)] + [job(i, priority=5, cpus=1) for i in range(2, 10)]
    result = run(queue, agents)
    assert placed(result) == {2: "b", 3: "b"}
    # job 4 fits nowhere now: it reserves "b" (it fits there once 2 and 3 end); the pass ends
    assert result.reserved_agents == {"a": 1, "b": 4}
    assert result.skipped == {"reserved": 2, "no_free_resources": 5}


def test_without_reservation_small_jobs_would_take_the_space():
    # same picture, but the big job is paused: the small ones use both agents
    agents = [agent("a", cpus=4, total=(8, 8000, 8000)), agent("b", cpus=2)]
    queue = [job(1, job_type_id=2, priority=1, cpus=8)] + [job(i, priority=5, cpus=1) for i in range(2, 10)]
    job_types = {1: JobTypeLimits(1), 2: JobTypeLimits(2, is_paused=True)}
    result = run(queue, agents, job_types)
    assert len(result.assignments) == 6
    assert 1 not in result.reserved_agents.values()


def test_reservation_blocks_equal_priority_later_jobs_too():
    agents = [agent("a", cpus=2, total=(4, 4000, 4000))]
    result = run([job(1, cpus=4), job(2, cpus=1)], agents)
    assert result.assignments == []
    assert result.reserved_agents == {"a": 1}
    assert result.skipped == {"reserved": 1, "no_free_resources": 1}


def test_each_big_job_reserves_its_own_agent():
    agents = [agent(f"a{i}", cpus=2, total=(8, 4000, 4000)) for i in range(3)] + [agent("z", cpus=4)]
    queue = [job(1, priority=1, cpus=8), job(2, priority=1, cpus=8), job(3, cpus=1), job(4, cpus=1)]
    result = run(queue, agents)
    assert set(result.reserved_agents.values()) == {1, 2}
    assert "z" not in result.reserved_agents  # z can never hold an 8-cpu job
    assert len(result.assignments) == 2 and all(a.job_id in (3, 4) for a in result.assignments)


def test_reservation_prefers_agent_freed_by_our_own_work():
    # "x" has more free now but its capacity is held by someone else's tasks;
    # on "y" our own running tasks will free enough.
    agents = [
        agent("x", cpus=6, total=(16, 4000, 4000), running=(0, 0, 0)),
        agent("y", cpus=2, total=(8, 4000, 4000), running=(6, 0, 0)),
    ]
    result = run([job(1, cpus=8)], agents)
    assert result.reserved_agents == {"y": 1}


def test_reservation_otherwise_prefers_most_free():
    agents = [agent("x", cpus=2, total=(16, 4000, 4000)), agent("y", cpus=6, total=(16, 4000, 4000))]
    result = run([job(1, cpus=8)], agents)
    assert result.reserved_agents == {"y": 1}


def test_reservation_tie_goes_to_lowest_agent_id():
    agents = [agent(n, cpus=2, total=(16, 4000, 4000)) for n in ("q", "p", "r")]
    result = run([job(1, cpus=8)], agents)
    assert result.reserved_agents == {"p": 1}


def test_no_reservation_left_means_insufficient_resources():
    # two agents, both already reserved by the first two jobs: the third big job waits,
    # and the small job may still not use them (it fits nowhere else).
    agents = [
        agent("a", cpus=1, total=(8, 4000, 4000)),
        agent("b", cpus=1, total=(8, 4000, 4000)),
        agent("c", cpus=1, total=(1, 4000, 4000)),
    ]
    queue = [job(1, priority=1, cpus=8), job(2, priority=1, cpus=8), job(3, priority=1, cpus=8), job(4, cpus=1)]
    result = run(queue, agents)
    assert set(result.reserved_agents) == {"a", "b"}
    assert result.skipped["insufficient_resources"] == 1
    assert placed(result) == {4: "c"}


def test_impossible_job_warns_and_does_not_block():
    agents = [
        agent("a", cpus=4, total=(8, 4000, 4000)),
        agent("b", cpus=4, total=(8, 4000, 4000)),
        agent("huge-but-paused", cpus=64, paused=True),
    ]
    queue = [job(i, job_type_id=9, priority=1, cpus=32) for i in range(1, 501)]  # #1801: 500 of them
    queue += [job(1000 + i, job_type_id=1, priority=5, cpus=1) for i in range(8)]
    result = run(queue, agents)
    assert len(result.assignments) == 8
    assert result.reserved_agents == {}
    assert result.skipped == {"does_not_fit_anywhere": 500}
    assert result.warnings == ["job type 9 requires more resources than any node offers (cpus=32, mem=100, disk=0)"]


def test_impossible_in_mixed_resources_is_detected():
    # every resource alone is available somewhere, but no single agent has all of them
    agents = [agent("cpu-rich", cpus=16, mem=100, disk=100), agent("mem-rich", cpus=1, mem=9000, disk=100)]
    result = run([job(1, cpus=8, mem=8000), job(2, cpus=1, mem=50)], agents)
    assert result.skipped == {"does_not_fit_anywhere": 1}
    assert list(placed(result)) == [2]
    assert len(result.warnings) == 1


def test_one_warning_per_job_type():
    queue = [job(1, job_type_id=3, cpus=100), job(2, job_type_id=3, cpus=200), job(3, job_type_id=4, mem=1e9)]
    result = run(queue, [agent("a")])
    assert [w.split(" requires")[0] for w in result.warnings] == ["job type 3", "job type 4"]


# --------------------------------------------------------------------------- limits and stops


def test_max_launch():
    queue = [job(i) for i in range(1, 21)]
    result = run(queue, [agent("a", cpus=100, mem=1e9)], max_launch=5)
    assert [a.job_id for a in result.assignments] == [1, 2, 3, 4, 5]
    assert result.skipped == {"max_launch": 15}


def test_max_launch_zero():
    assert run([job(1)], [agent("a")], max_launch=0).skipped == {"max_launch": 1}


def test_stops_when_no_resources_are_left():
    queue = [job(i) for i in range(1, 101)]
    result = run(queue, [agent("a", cpus=2, mem=200, disk=0)])
    assert len(result.assignments) == 2
    assert result.skipped == {"no_free_resources": 98}


# --------------------------------------------------------------------------- fast path


class Counting:
    """Counts calls to the pool's placement and reservation searches."""

    def __init__(self, monkeypatch):
        self.place = 0
        self.reserve = 0
        place, reserve = matching._Pool.place, matching._Pool.reserve

        def counting_place(pool, *args):
            self.place += 1
            return place(pool, *args)

        def counting_reserve(pool, *args):
            self.reserve += 1
            return reserve(pool, *args)

        monkeypatch.setattr(matching._Pool, "place", counting_place)
        monkeypatch.setattr(matching._Pool, "reserve", counting_reserve)


def test_failed_shape_is_not_searched_again(monkeypatch):
    calls = Counting(monkeypatch)
    agents = [agent(f"a{i:03}", cpus=1, total=(4, 4000, 4000)) for i in range(50)]
    queue = [job(i, cpus=2) for i in range(10_000)]
    result = run(queue, agents, presorted=True)
    assert calls.place == 1  # the first 2-cpu job failed; the others never search agents
    assert calls.reserve == 50  # each of the next 50 jobs reserves one agent, then the pass ends
    assert len(result.reserved_agents) == 50
    assert result.skipped == {"reserved": 50, "no_free_resources": 10_000 - 50}


def test_larger_disk_of_a_failed_shape_is_skipped(monkeypatch):
    calls = Counting(monkeypatch)
    agents = [agent("a", cpus=8, mem=8000, disk=100, total=(8, 8000, 100)), agent("b", cpus=1, disk=1000)]
    # 2-cpu jobs: only "a" has the cpus, with 100 disk; disks grow along the queue
    queue = [job(i, cpus=2, disk=50 + i) for i in range(1000)]
    result = run(queue, agents, presorted=True)
    assert placed(result) == {0: "a"}  # 50 fits, 51 no longer does (100 - 50 = 50 left)
    assert calls.place == 2  # job 0 placed, job 1 failed; jobs 2.. skipped on the disk threshold
    # disk 51..100 could fit "a" once job 0 ends: job 1 reserves it, jobs 2..50 wait
    assert result.reserved_agents == {"a": 1}
    assert result.skipped == {"reserved": 1, "insufficient_resources": 49, "does_not_fit_anywhere": 949}
    assert result.warnings


def test_impossible_and_paused_jobs_never_search_agents(monkeypatch):
    calls = Counting(monkeypatch)
    queue = [job(i, job_type_id=1 + i % 2, cpus=100) for i in range(10_000)]
    job_types = {1: JobTypeLimits(1, is_paused=True), 2: JobTypeLimits(2)}
    result = run(queue, [agent("a")], job_types, presorted=True)
    assert calls.place == 0 and calls.reserve == 0
    assert result.skipped == {"job_type_paused": 5000, "does_not_fit_anywhere": 5000}


def test_waiting_shape_is_not_searched_again(monkeypatch):
    calls = Counting(monkeypatch)
    # the only agent big enough for 8 cpus is reserved by job 0; the rest of the 8-cpu jobs wait
    agents = [agent("big", cpus=1, total=(8, 4000, 4000))] + [agent(f"s{i}", cpus=4) for i in range(5)]
    queue = [job(i, priority=1, cpus=8) for i in range(5000)] + [job(9000 + i, cpus=1) for i in range(30)]
    result = run(queue, agents, presorted=True)
    assert result.reserved_agents["big"] == 0
    assert result.skipped["insufficient_resources"] == 4999
    assert len(result.assignments) == 20
    # job 0 reserved, job 1 found nothing and jobs 2.. were skipped without a search;
    # then 5 small jobs that no longer fit reserved the 5 small agents
    assert calls.reserve == 2 + 5
    assert result.skipped["no_free_resources"] == 5


def test_large_pass_is_fast():
    rng = random.Random(7)
    agents = [
        agent(
            f"agent-{i:04}",
            cpus=rng.choice([1, 2, 4, 8]),
            mem=rng.choice([2e3, 8e3, 3e4]),
            disk=rng.choice([1e4, 1e5]),
            total=(16, 64e3, 1e6),
        )
        for i in range(1000)
    ]
    queue = order_queue(
        [
            job(
                i,
                job_type_id=i % 20,
                priority=rng.randint(1, 10),
                queued=rng.random() * 1e6,
                cpus=rng.choice([0.5, 1, 2, 4]),
                mem=rng.choice([512, 1024, 4096]),
                disk=rng.random() * 5e3,
            )
            for i in range(100_000)
        ],
        "FIFO",
    )
    job_types = {t: JobTypeLimits(t, is_paused=(t == 3), max_scheduled=(50 if t == 4 else None)) for t in range(20)}
    started = time.perf_counter()
    result = match(queue, agents, job_types, scheduler_paused=False, queue_mode="FIFO", max_launch=2000, presorted=True)
    elapsed = time.perf_counter() - started
    assert len(result.assignments) > 1000
    assert elapsed < 1.0  # the benchmark holds the real target (well under 100 ms); this catches blow-ups


# --------------------------------------------------------------------------- reference model


def reference_match(queue, agents, job_types, *, scheduler_paused, queue_mode, max_launch, explain=0):
    """Straightforward O(jobs x agents) statement of the rules, to check the fast version."""
    ordered, seen = [], set()
    for j in order_queue(queue, queue_mode):  # a job_id seen earlier in queue order makes a duplicate
        if j.job_id not in seen:
            seen.add(j.job_id)
            ordered.append(j)
    counts = {"duplicate": len(queue) - len(ordered)} if len(ordered) < len(queue) else {}
    reasons = []

    def type_reason(j, otherwise):
        lim = job_types.get(j.job_type_id)
        if otherwise == "scheduler_paused":
            return otherwise
        if lim is None:
            return "job_type_unknown"
        if lim.is_paused:
            return "job_type_paused"
        if lim.max_scheduled is not None and lim.running >= lim.max_scheduled:
            return "max_scheduled"
        return otherwise

    def whole_queue(reason):
        head = [(j.job_id, type_reason(j, reason)) for j in ordered[:explain]]
        return MatchResult(skipped={**counts, reason: len(ordered)} if ordered else counts, reasons=head)

    if not ordered:
        return MatchResult(skipped=counts)
    if scheduler_paused:
        return whole_queue("scheduler_paused")
    if max_launch <= 0:
        return whole_queue("max_launch")
    usable = sorted((a for a in agents if a.is_active and not a.is_paused), key=lambda a: a.agent_id)
    free = {a.agent_id: [max(0.0, float(a.cpus)), max(0.0, float(a.mem)), max(0.0, float(a.disk))] for a in usable}
    reclaim = {
        a.agent_id: tuple(
            f + max(0.0, r) for f, r in zip(free[a.agent_id], (a.running_cpus, a.running_mem, a.running_disk))
        )
        for a in usable
    }
    cap = {
        a.agent_id: tuple(
            max(float(t), r) for t, r in zip((a.total_cpus, a.total_mem, a.total_disk), reclaim[a.agent_id])
        )
        for a in usable
    }
    inv = [1.0 / (max((c[k] for c in cap.values()), default=0.0) or 1.0) for k in range(3)]

    def score(agent_id):
        f = free[agent_id]
        return f[0] * inv[0] + f[1] * inv[1] + f[2] * inv[2]

    def fits(have, need):
        return all(h + EPSILON >= n for h, n in zip(have, need))

    def has_free(agent_id):
        return any(v > EPSILON for v in free[agent_id])

    open_agents = {a for a in free if has_free(a)}
    if not open_agents:
        return whole_queue("no_free_resources")
    slots = {
        t: "paused"
        if lim.is_paused
        else (None if lim.max_scheduled is None else max(0, lim.max_scheduled - max(0, lim.running)))
        for t, lim in job_types.items()
    }
    assignments, reserved, warnings = [], {}, []
    warned = set()

    def skip(reason, n=1, jobs=()):
        counts[reason] = counts.get(reason, 0) + n
        reasons.extend((k.job_id, reason) for k in jobs[: explain - len(reasons)])

    for pos, j in enumerate(ordered, 1):
        if j.job_type_id not in slots:
            skip("job_type_unknown", jobs=[j])
            continue
        left = slots[j.job_type_id]
        if left == "paused":
            skip("job_type_paused", jobs=[j])
            continue
        if left is not None and left <= 0:
            skip("max_scheduled", jobs=[j])
            continue
        need = (j.cpus, j.mem, j.disk)
        candidates = [a for a in open_agents if fits(free[a], need)]
        if candidates:
            best = min(candidates, key=lambda a: (score(a), a))
            for k in range(3):
                free[best][k] = max(0.0, free[best][k] - need[k])
            if not has_free(best):
                open_agents.discard(best)
            assignments.append(Assignment(j.job_id, best, j.cpus, j.mem, j.disk))
            if left is not None:
                slots[j.job_type_id] = left - 1
            if len(assignments) >= max_launch:
                skip("max_launch", len(ordered) - pos, ordered[pos:])
                break
            if not open_agents:
                skip("no_free_resources", len(ordered) - pos, ordered[pos:])
                break
            continue
        if not any(fits(cap[a], need) for a in free):
            skip("does_not_fit_anywhere", jobs=[j])
            if j.job_type_id not in warned:
                warned.add(j.job_type_id)
                warnings.append(
                    f"job type {j.job_type_id} requires more resources than any node offers "
                    f"(cpus={j.cpus:g}, mem={j.mem:g}, disk={j.disk:g})"
                )
            continue
        holders = [a for a in open_agents if fits(cap[a], need)]
        if not holders:
            skip("insufficient_resources", jobs=[j])
            continue
        preferred = [a for a in holders if fits(reclaim[a], need)] or holders
        best = min(preferred, key=lambda a: (-score(a), a))
        open_agents.discard(best)
        reserved[best] = j.job_id
        skip("reserved", jobs=[j])
        if not open_agents:
            skip("no_free_resources", len(ordered) - pos, ordered[pos:])
            break
    return MatchResult(assignments, reserved, {k: v for k, v in counts.items() if v}, warnings, reasons)


job_amounts = st.sampled_from([0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0])
agent_amounts = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0, 8.0, 16.0])
rarely = st.sampled_from([False] * 7 + [True])


@st.composite
def scenarios(draw):
    """Small random clusters and queues; few distinct amounts, so ties and exact fits are common."""
    agents = []
    for i in range(draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 6]))):
        offered = [draw(agent_amounts) for _ in range(3)]
        running = [draw(agent_amounts) for _ in range(3)]
        total = [
            draw(st.sampled_from([0.0, offered[k] + running[k], offered[k] + running[k] + draw(agent_amounts)]))
            for k in range(3)
        ]
        agents.append(
            agent(
                f"a{draw(st.integers(0, 99)):02}-{i}",
                *offered,
                paused=draw(rarely),
                active=not draw(rarely),
                total=tuple(total),
                running=tuple(running),
            )
        )
    queue = [
        QueuedJob(
            draw(st.integers(1, 40)),
            draw(st.integers(1, 4)),
            draw(st.integers(1, 3)),
            float(draw(st.integers(0, 5))),
            draw(job_amounts),
            draw(job_amounts),
            draw(job_amounts),
        )
        for _ in range(draw(st.integers(0, 30)))
    ]
    job_types = {}
    for t in range(1, 5):
        if t == 1 or not draw(rarely):
            job_types[t] = JobTypeLimits(
                t,
                is_paused=draw(rarely),
                max_scheduled=draw(st.one_of(st.none(), st.integers(0, 6))),
                running=draw(st.integers(0, 3)),
            )
    mode = draw(st.sampled_from(["FIFO", "LIFO"]))
    return queue, agents, job_types, mode, draw(st.integers(0, 15)), draw(rarely)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from([64, 64, 64, 1, 0]), st.sampled_from([0, 0, 1, 3, 100]))
def test_fast_match_equals_reference(scenario, shape_heaps, explain):
    queue, agents, job_types, mode, max_launch, paused = scenario
    kwargs = dict(scheduler_paused=paused, queue_mode=mode, max_launch=max_launch, explain=explain)
    expected = reference_match(queue, agents, job_types, **kwargs)
    saved = matching._MAX_SHAPE_HEAPS
    matching._MAX_SHAPE_HEAPS = shape_heaps  # 0/1: shapes beyond the heaps use the sorted walk
    try:
        assert match(queue, agents, job_types, **kwargs) == expected
        assert match(order_queue(queue, mode), agents, job_types, presorted=True, **kwargs) == expected
    finally:
        matching._MAX_SHAPE_HEAPS = saved


@pytest.mark.parametrize("shape_heaps", [64, 2, 0])  # 0: every shape uses the sorted walk
def test_reference_agrees_on_a_big_random_case(monkeypatch, shape_heaps):
    monkeypatch.setattr(matching, "_MAX_SHAPE_HEAPS", shape_heaps)
    rng = random.Random(3)
    agents = [
        agent(
            f"n{i:03}",
            cpus=rng.choice([0, 1, 2, 4, 8]),
            mem=rng.choice([0, 1e3, 4e3, 16e3]),
            disk=rng.choice([0, 1e3, 1e4]),
            total=(rng.choice([8, 16]), 16e3, 1e4),
            running=(rng.choice([0, 2, 4]), 0, 0),
            paused=rng.random() < 0.05,
        )
        for i in range(60)
    ]
    queue = [
        QueuedJob(
            i,
            rng.randint(1, 6),
            rng.randint(1, 4),
            rng.random(),
            rng.choice([0.5, 1, 2, 4, 12, 32]),
            rng.choice([256, 1024, 8192]),
            rng.random() * 3e3,
        )
        for i in range(3000)
    ]
    job_types = {
        t: JobTypeLimits(t, is_paused=t == 6, max_scheduled=40 if t == 5 else None, running=3) for t in range(1, 7)
    }
    for mode in ("FIFO", "LIFO"):
        kwargs = dict(scheduler_paused=False, queue_mode=mode, max_launch=500)
        assert match(queue, agents, job_types, **kwargs) == reference_match(queue, agents, job_types, **kwargs)


# --------------------------------------------------------------------------- QueueState


def ids(jobs):
    return [j.job_id for j in jobs]


def test_queue_state_add_remove_order():
    state = QueueState([job(1, priority=5, queued=10), job(2, priority=1, queued=20)])
    assert len(state) == 2 and 1 in state and 3 not in state
    assert ids(state.grouped("FIFO")) == [2, 1]
    assert state.add([job(3, priority=1, queued=5), job(4, priority=9, queued=1)]) == 2
    assert ids(state.grouped("FIFO")) == [3, 2, 1, 4]
    assert ids(state.grouped("LIFO")) == [2, 3, 1, 4]
    assert state.remove([2, 99]) == 1
    assert ids(state.grouped("FIFO")) == [3, 1, 4]
    assert ids(state.grouped("LIFO")) == [3, 1, 4]
    assert len(state) == 3 and state.get(2) is None and state.get(3).priority == 1


def test_queue_state_replaces_changed_job_and_ignores_same():
    state = QueueState([job(1, priority=5), job(2, priority=5)])
    first = state.grouped("FIFO")
    assert state.add([job(1, priority=5)]) == 0  # equal: nothing changes
    assert state.grouped("FIFO") is first  # cached: no re-sort, same object
    assert state.add([job(2, priority=1)]) == 1  # new priority moves it up
    assert ids(state.grouped("FIFO")) == [2, 1]
    assert len(state) == 2


def test_queue_state_add_then_remove_before_ordering():
    state = QueueState([job(1)])
    state.grouped("FIFO")
    state.add([job(2)])
    state.remove([2, 1])
    state.add([job(1, priority=0)])
    assert ids(state.grouped("FIFO")) == [1]
    assert state.grouped("FIFO").head(1)[0].priority == 0


def test_queue_state_replace_all():
    state = QueueState([job(i) for i in range(10)])
    state.grouped("LIFO")
    added, removed = state.replace_all([job(i) for i in range(5, 15)] + [job(5, priority=0)])
    assert (added, removed) == (6, 5)
    assert ids(state.grouped("LIFO")) == [5, 14, 13, 12, 11, 10, 9, 8, 7, 6]


def test_queue_state_ordered_feeds_match():
    jobs = [job(i, priority=i % 3, queued=(i * 7) % 11, cpus=1) for i in range(40)]
    state = QueueState(jobs)
    agents = [agent("a", cpus=7), agent("b", cpus=5)]
    for mode in ("FIFO", "LIFO"):
        a = run(state.grouped(mode), agents, mode=mode, presorted=True)
        b = run(jobs, agents, mode=mode)
        assert a == b and len(a.assignments) == 12


@pytest.mark.parametrize("size, batch", [(300, 3), (300, 250), (5000, 4), (5000, 20), (5000, 3000)])
def test_queue_state_matches_sorting_small_and_bulk_changes(size, batch):
    rng = random.Random(size + batch)
    state = QueueState()
    reference: dict[int, QueuedJob] = {}
    next_id = 0

    def new_job():
        nonlocal next_id
        next_id += 1
        return job(next_id, priority=rng.randint(1, 5), queued=rng.randint(0, 50))

    initial = [new_job() for _ in range(size)]
    state.add(initial)
    reference.update((j.job_id, j) for j in initial)
    for _ in range(6):
        for mode in ("FIFO", "LIFO"):
            assert list(state.grouped(mode)) == order_queue(reference.values(), mode)
        gone = rng.sample(sorted(reference), min(batch, len(reference)))
        state.remove(gone)
        for job_id in gone:
            del reference[job_id]
        changed = [
            job(j, priority=rng.randint(1, 5), queued=rng.randint(0, 50))
            for j in rng.sample(sorted(reference), min(batch // 3, len(reference)))
        ]
        fresh = [new_job() for _ in range(batch)]
        state.add(changed + fresh)
        reference.update((j.job_id, j) for j in changed + fresh)
        assert len(state) == len(reference)
    for mode in ("FIFO", "LIFO"):
        assert list(state.grouped(mode)) == order_queue(reference.values(), mode)


def test_a_slightly_smaller_job_of_a_failed_shape_is_still_tried():
    agents = [agent("a", cpus=2, mem=100, disk=10, total=(2, 100, 30)), agent("b", cpus=2, mem=100, disk=19.75)]
    queue = [job(1, cpus=1, mem=10, disk=20), job(2, cpus=1, mem=10, disk=19.5), job(3, cpus=1, mem=10, disk=19.9)]
    result = run(queue, agents)
    assert result.reserved_agents == {"a": 1}
    assert placed(result) == {2: "b"}
    assert result.skipped == {"reserved": 1, "insufficient_resources": 1}


def test_queue_state_groups_follow_jobs_that_change_type_or_shape():
    # Jobs move between groups, groups empty out and come back; the grouped queue stays the queue,
    # and a pass over it (groups settled on their loose disk bounds) equals a pass over the plain jobs.
    rng = random.Random(7)
    state = QueueState()
    reference: dict[int, QueuedJob] = {}
    agents = [agent("a", cpus=3, mem=300, disk=40, total=(4, 400, 60)), agent("b", cpus=2, mem=500, disk=25)]
    job_types = types(1, 2, 3)
    job_types[3] = JobTypeLimits(3, max_scheduled=2)

    def random_job(job_id):
        return QueuedJob(
            job_id,
            rng.randint(1, 3),
            rng.randint(1, 3),
            float(rng.randint(0, 20)),
            rng.choice([1.0, 2.0]),
            rng.choice([100.0, 200.0]),
            float(rng.randint(0, 50)),
        )

    for _ in range(40):
        for mode in ("FIFO", "LIFO"):
            grouped = state.grouped(mode)
            assert list(grouped) == order_queue(reference.values(), mode)
            kwargs = dict(scheduler_paused=False, queue_mode=mode, max_launch=4)
            assert match(grouped, agents, job_types, **kwargs) == match(
                list(reference.values()), agents, job_types, **kwargs
            )
        gone = rng.sample(sorted(reference), min(len(reference), rng.randint(0, 6)))
        state.remove(gone)
        for job_id in gone:
            del reference[job_id]
        changed = [random_job(rng.randint(1, 30)) for _ in range(rng.randint(0, 8))]
        state.add(changed)
        reference.update((j.job_id, j) for j in changed)
        assert len(state) == len(reference)


def test_a_grouped_queue_is_for_its_mode():
    with pytest.raises(ValueError, match="grouped for FIFO"):
        run(QueueState([job(1)]).grouped("FIFO"), [agent("a")], mode="LIFO")
