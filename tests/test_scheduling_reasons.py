"""Why is this job not running? Reasons from the matching pass, their sentences, and what the API shows."""

import pytest

from app.scheduling import matching as m
from app.scheduling.reasons import REASONS, ClusterView, JobTypeView, describe
from app.settings import settings
from tests.test_scheduler_core import FakeDriver, core_on, offer


def job(job_id, type_id=1, cpus=1.0, mem=64.0, disk=0.0, priority=100):
    return m.QueuedJob(job_id, type_id, priority, float(job_id), cpus, mem, disk)


def agent(agent_id="a1", cpus=4.0, mem=4096.0, disk=1000.0, **kw):
    return m.AgentResources(agent_id, None, agent_id, cpus, mem, disk, **kw)


def run(queue, agents, types=None, explain=100, **kw):
    types = types if types is not None else {1: m.JobTypeLimits(1)}
    options = dict(scheduler_paused=False, queue_mode="FIFO", max_launch=100)
    options.update(kw)
    return m.match(queue, agents, types, explain=explain, **options)


# ------------------------------------------------------------------ the pass


def test_each_job_left_queued_gets_the_reason_it_was_skipped():
    types = {1: m.JobTypeLimits(1), 2: m.JobTypeLimits(2, is_paused=True), 3: m.JobTypeLimits(3, max_scheduled=1)}
    queue = [
        job(1, type_id=3),  # placed: type 3's only slot
        job(2, type_id=3),  # max_scheduled
        job(3, type_id=2),  # paused
        job(4, type_id=9),  # unknown type
        job(5, mem=99999),  # larger than any node
        job(6),  # placed
    ]
    result = run(queue, [agent()], types)
    assert [a.job_id for a in result.assignments] == [1, 6]
    assert result.reasons == [
        (2, m.SKIP_MAX_SCHEDULED),
        (3, m.SKIP_JOB_TYPE_PAUSED),
        (4, m.SKIP_JOB_TYPE_UNKNOWN),
        (5, m.SKIP_DOES_NOT_FIT_ANYWHERE),
    ]


def test_a_job_that_fits_a_node_once_it_frees_reserves_it_and_the_next_waits():
    busy = agent(cpus=1.0, total_cpus=4.0)
    result = run([job(1, cpus=2.0), job(2, cpus=2.0)], [busy])
    assert result.reasons == [(1, m.SKIP_RESERVED), (2, m.SKIP_NO_FREE_RESOURCES)]
    other = agent("a2", cpus=1.0, total_cpus=1.0)
    result = run(
        [job(1, cpus=2.0), job(2, cpus=2.0), job(3, cpus=2.0)], [busy, agent("a3", cpus=1.0, total_cpus=4.0), other]
    )
    assert result.reasons == [(1, m.SKIP_RESERVED), (2, m.SKIP_RESERVED), (3, m.SKIP_INSUFFICIENT_RESOURCES)]


def test_jobs_the_pass_never_reached_say_why_it_stopped():
    result = run([job(i) for i in range(1, 6)], [agent()], max_launch=2)
    assert result.reasons == [(i, m.SKIP_MAX_LAUNCH) for i in (3, 4, 5)]
    result = run([job(i, cpus=2.0) for i in range(1, 5)], [agent(cpus=4.0, mem=128.0, disk=0.0)])
    assert result.reasons == [(3, m.SKIP_NO_FREE_RESOURCES), (4, m.SKIP_NO_FREE_RESOURCES)]


@pytest.mark.parametrize(
    "kw, agents, reason",
    [
        ({"scheduler_paused": True}, [agent()], m.SKIP_SCHEDULER_PAUSED),
        ({}, [agent(is_paused=True)], m.SKIP_NO_FREE_RESOURCES),
        ({}, [], m.SKIP_NO_FREE_RESOURCES),
        ({"max_launch": 0}, [agent()], m.SKIP_MAX_LAUNCH),
    ],
)
def test_a_pass_that_places_nothing_explains_the_head_of_the_queue(kw, agents, reason):
    queue = [job(3), job(1), job(2)]
    result = run(queue, agents, explain=2, **kw)
    assert result.reasons == [(1, reason), (2, reason)]  # queue order, at most `explain`


def test_with_nowhere_to_place_a_job_its_type_still_says_it_is_paused():
    types = {1: m.JobTypeLimits(1, is_paused=True), 2: m.JobTypeLimits(2, max_scheduled=1, running=1)}
    result = run([job(1), job(2, type_id=2), job(3, type_id=3)], [], types)
    assert result.reasons == [(1, m.SKIP_JOB_TYPE_PAUSED), (2, m.SKIP_MAX_SCHEDULED), (3, m.SKIP_JOB_TYPE_UNKNOWN)]
    paused = run([job(1)], [], types, scheduler_paused=True)
    assert paused.reasons == [(1, m.SKIP_SCHEDULER_PAUSED)]


def test_only_the_first_jobs_are_explained_and_explaining_changes_no_placement():
    types = {1: m.JobTypeLimits(1, is_paused=True), 2: m.JobTypeLimits(2)}
    queue = [job(i, type_id=1 + i % 2) for i in range(1, 40)]
    agents = [agent(cpus=3.0)]
    explained = run(queue, agents, types, explain=5)
    assert [job_id for job_id, _ in explained.reasons] == [2, 4, 6, 7, 8]  # 1, 3, 5 placed; even ones paused
    silent = run(queue, agents, types, explain=0)
    assert silent.reasons == []
    assert silent.assignments == explained.assignments
    assert silent.skipped == explained.skipped


# ------------------------------------------------------------------ the sentences


def test_a_job_too_large_for_every_node_says_by_how_much():
    cluster = ClusterView.of([agent(mem=8192.0, total_mem=8192.0), agent("a2", mem=1024.0)], max_launch=10)
    text = describe(m.SKIP_DOES_NOT_FIT_ANYWHERE, job(1, mem=16384.0), None, cluster)
    assert text == "needs 16384 MiB memory; the largest node offers 8192"
    both = describe(m.SKIP_DOES_NOT_FIT_ANYWHERE, job(1, cpus=8.0, mem=16384.0), None, cluster)
    assert both == "needs 8 CPUs; the largest node offers 4; needs 16384 MiB memory; the largest node offers 8192"


def test_sentences_name_the_job_type_the_limit_and_paused_nodes():
    cluster = ClusterView.of([agent(cpus=0.5), agent("a2", is_paused=True)], max_launch=7)
    kind = JobTypeView("ingest 1.0", max_scheduled=3, running=3)
    assert describe(m.SKIP_JOB_TYPE_PAUSED, job(1), kind, cluster) == "job type ingest 1.0 is paused"
    assert (
        describe(m.SKIP_MAX_SCHEDULED, job(1), kind, cluster)
        == "job type ingest 1.0 already runs 3 jobs, its max_scheduled"
    )
    waiting = describe(m.SKIP_INSUFFICIENT_RESOURCES, job(1, cpus=2.0), kind, cluster)
    assert "needs 2 CPUs, 64 MiB memory, 0 MiB disk" in waiting
    assert "the most free on any node now is 0.5 CPUs" in waiting
    assert waiting.endswith("(1 paused node is not counted)")
    assert "maximum of 7" in describe(m.SKIP_MAX_LAUNCH, job(1), kind, cluster)
    all_paused = ClusterView.of([agent(is_paused=True)], max_launch=7)
    assert "every node offering resources is paused" in describe(m.SKIP_NO_FREE_RESOURCES, job(1), kind, all_paused)
    nothing = ClusterView.of([], max_launch=7)
    assert "no node is offering any" in describe(m.SKIP_NO_FREE_RESOURCES, job(1), kind, nothing)


def test_every_reason_the_pass_reports_is_documented():
    codes = {v for k, v in vars(m).items() if k.startswith("SKIP_")} - {m.SKIP_DUPLICATE}
    assert codes <= set(REASONS)


# ------------------------------------------------------------------ through the scheduler and the API


@pytest.fixture
def explain_every_pass(monkeypatch):
    monkeypatch.setattr(settings, "SCHEDULER_EXPLAIN_INTERVAL", 0.0, raising=False)
    # An agent's first offer goes to its storage probe; the probe test below keeps it.
    monkeypatch.setattr(settings, "SCHEDULER_STORAGE_PROBES", False, raising=False)


def scheduling_of(client, job):
    body = client.get(f"/jobs/{job.id}/").get_json()
    return body["scheduling"]


def one_pass(offers, core=None):
    core = core or core_on(FakeDriver())
    core.on_offers(offers)
    core.step()
    return core


def test_the_api_says_why_each_queued_job_waits(client, session, explain_every_pass):
    from tests.factories import make_job, make_job_type

    small = make_job_type(session, name="small", cpus_required=1.0, mem_required=64.0, max_scheduled=1)
    huge = make_job_type(session, name="huge", cpus_required=1.0, mem_required=16384.0)
    held = make_job_type(session, name="held", is_paused=True)
    first = make_job(session, small, status="QUEUED", cpus_required=1.0, mem_required=64.0)
    second = make_job(session, small, status="QUEUED", cpus_required=1.0, mem_required=64.0)
    too_big = make_job(session, huge, status="QUEUED", cpus_required=1.0, mem_required=16384.0)
    paused = make_job(session, held, status="QUEUED", cpus_required=1.0, mem_required=64.0)
    session.commit()
    assert scheduling_of(client, first)["reason"] == "not_examined"

    one_pass([offer(cpus=4.0, mem=8192.0)])

    assert scheduling_of(client, first) is None  # launched: no longer queued
    assert scheduling_of(client, second)["reason"] == "max_scheduled"
    assert scheduling_of(client, second)["detail"] == "job type small 1.0 already runs 1 jobs, its max_scheduled"
    big = scheduling_of(client, too_big)
    assert big["reason"] == "does_not_fit_anywhere"
    assert big["detail"] == "needs 16384 MiB memory; the largest node offers 8192"
    assert big["since"].endswith("Z")
    assert scheduling_of(client, paused)["detail"] == "job type held 1.0 is paused"
    status = client.get("/queue/status/").get_json()
    assert status["reasons"] == {"does_not_fit_anywhere": 1, "job_type_paused": 1, "max_scheduled": 1}


def test_paused_scheduler_and_paused_nodes_are_named(client, session, explain_every_pass):
    from app.models import Scheduler
    from tests.factories import make_job, make_job_type

    queued = make_job(session, make_job_type(session), status="QUEUED", cpus_required=1.0, mem_required=64.0)
    row = session.get(Scheduler, 1) or Scheduler(id=1)
    row.is_paused = True
    session.add(row)
    session.commit()
    core = one_pass([offer(cpus=4.0, mem=1024.0)])
    assert scheduling_of(client, queued)["reason"] == "scheduler_paused"

    row.is_paused = False
    session.commit()
    core.sync(full=True)
    core.paused_nodes = set(core.agent_nodes.values())  # the node was held (PATCH /nodes/<id>/ is_paused)
    core.sync = lambda full: None  # keep the hold without a database round trip
    core.idle_pass = None
    core.step()
    waiting = scheduling_of(client, queued)
    assert waiting["reason"] == "no_free_resources"
    assert "every node offering resources is paused (1)" in waiting["detail"]


def test_a_job_waiting_for_a_busy_node_is_told_so_and_the_reason_keeps_its_start(client, session, explain_every_pass):
    from tests.factories import make_job, make_job_type

    kind = make_job_type(session, cpus_required=2.0, mem_required=64.0)
    running = make_job(session, kind, status="QUEUED", cpus_required=2.0, mem_required=64.0)
    session.commit()
    core = one_pass([offer(cpus=3.0, mem=1024.0)])  # launches `running`, 1 cpu left on the agent
    assert scheduling_of(client, running) is None
    waiting = [make_job(session, kind, status="QUEUED", cpus_required=2.0, mem_required=64.0) for _ in range(2)]
    session.commit()
    core.sync(full=True)
    one_pass([offer("o-2", cpus=1.0, mem=960.0)], core)
    first = scheduling_of(client, waiting[0])
    assert first["reason"] == "reserved"
    assert "a node is kept for this job" in first["detail"]
    assert scheduling_of(client, waiting[1])["reason"] == "no_free_resources"

    core.idle_pass = None
    core.step()
    assert scheduling_of(client, waiting[0])["since"] == first["since"]  # same reason: same start


def test_a_requeued_job_does_not_show_its_old_reason(client, session, explain_every_pass):
    from app.db import utcnow
    from tests.factories import make_job, make_job_type

    queued = make_job(session, make_job_type(session, is_paused=True), status="QUEUED")
    session.commit()
    one_pass([offer()])
    assert scheduling_of(client, queued)["reason"] == "job_type_paused"
    queued.queued = utcnow()  # queued again after the reason was written
    session.commit()
    assert scheduling_of(client, queued)["reason"] == "not_examined"
    assert client.get("/queue/status/").get_json()["reasons"] == {"not_examined": 1}


def test_with_no_offer_at_all_queued_jobs_still_say_why(client, session, explain_every_pass):
    from tests.factories import make_job, make_job_type

    queued = make_job(session, make_job_type(session), status="QUEUED")
    session.commit()
    core = core_on(FakeDriver())
    core.step()
    assert "no node is offering any" in scheduling_of(client, queued)["detail"]


def test_an_unchanged_queue_writes_no_reasons(session, explain_every_pass, monkeypatch):
    from tests.factories import make_job, make_job_type

    make_job(session, make_job_type(session, is_paused=True), status="QUEUED")
    session.commit()
    core = one_pass([offer()])
    writes = []
    original = core.reasons.write
    monkeypatch.setattr(core.reasons, "write", lambda s, now: writes.append(now) or original(s, now))
    core.reasons.next_cleanup = float("inf")
    for _ in range(3):
        core.idle_pass = None
        core.step()
    assert writes == []


def test_jobs_waiting_while_the_only_node_is_probed_say_so(client, session, monkeypatch):
    from tests.factories import make_job, make_job_type

    monkeypatch.setattr(settings, "SCHEDULER_EXPLAIN_INTERVAL", 0.0, raising=False)
    queued = make_job(session, make_job_type(session), status="QUEUED")
    session.commit()
    one_pass([offer()])
    assert "being checked for shared storage (1)" in scheduling_of(client, queued)["detail"]


# ------------------------------------------------------------------ shared resources


def test_jobs_requiring_a_used_up_shared_resource_wait_and_others_run():
    types = {
        1: m.JobTypeLimits(1, shared_resources=("license",)),
        2: m.JobTypeLimits(2, shared_resources=("license", "db")),
        3: m.JobTypeLimits(3, shared_resources=("unlimited",)),
    }
    queue = [job(1), job(2, type_id=2), job(3), job(4, type_id=2), job(5, type_id=3)]
    result = run(queue, [agent(cpus=10.0)], types, shared_left={"license": 2, "db": 5})
    assert [a.job_id for a in result.assignments] == [1, 2, 5]
    assert result.reasons == [(3, m.SKIP_SHARED_RESOURCE), (4, m.SKIP_SHARED_RESOURCE)]
    assert result.skipped[m.SKIP_SHARED_RESOURCE] == 2
    none_left = run([job(1), job(2, type_id=3)], [agent()], types, shared_left={"license": 0})
    assert [a.job_id for a in none_left.assignments] == [2]
    assert none_left.reasons == [(1, m.SKIP_SHARED_RESOURCE)]


def test_the_shared_resource_limits_setting_is_read_strictly():
    from app.settings import shared_resource_limits

    assert shared_resource_limits(" license-x=4, db=10 ,") == {"license-x": 4, "db": 10}
    assert shared_resource_limits("") == {}
    with pytest.raises(ValueError, match="expected name=count"):
        shared_resource_limits("license-x=four")


def test_a_job_waiting_for_a_shared_resource_says_which(client, session, explain_every_pass, monkeypatch):
    from tests.factories import make_job, make_job_type

    monkeypatch.setattr(settings, "SHARED_RESOURCE_LIMITS", "license=1", raising=False)
    interface = {
        "version": "1.0",
        "command": "true",
        "input_data": [],
        "output_data": [],
        "shared_resources": [{"name": "license", "type": "license", "required": True}],
    }
    licensed = make_job_type(session, interface=interface, name="licensed")
    first, second = [make_job(session, licensed, status="QUEUED") for _ in range(2)]
    session.commit()
    core = one_pass([offer(cpus=4.0, mem=1024.0)])
    assert scheduling_of(client, first) is None  # launched
    waiting = scheduling_of(client, second)
    assert waiting["reason"] == "shared_resource"
    assert (
        waiting["detail"] == "waiting for shared resource license (limit 1): as many jobs that require it already run"
    )
    assert len(core.running) == 1
