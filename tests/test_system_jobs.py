"""Strike and the clock as system jobs: a RUNNING job per Strike, a new execution per run, FAILED when silent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import session_scope, utcnow, with_retry
from app.models import Job, JobExecution, Strike
from app.services import system_jobs
from tests.test_strike import make_strike, make_workspace
from tests.test_strike_watcher import running_watcher, wait_for

pytestmark = pytest.mark.timeout(60)
ELSEWHERE = system_jobs.Process("strike-host-2", 4242, None)


def strike_job(strike_id: int) -> tuple[Job, list[JobExecution]]:
    with session_scope() as s:
        strike = s.get(Strike, strike_id)
        job = s.get(Job, strike.job_id) if strike.job_id else None
        exes = (
            list(s.scalars(select(JobExecution).where(JobExecution.job_id == job.id).order_by(JobExecution.id)))
            if job
            else []
        )
        s.expunge_all()
        return job, exes


def test_a_watched_strike_is_a_running_system_job_and_a_clean_stop_ends_it(scale_env, client):
    make_workspace(scale_env)
    strike_id, _ = make_strike()
    with running_watcher():
        job, exes = wait_for(lambda: (lambda j: j if j[0] is not None else None)(strike_job(strike_id)))
        assert job.status == "RUNNING"
        (exe,) = exes
        assert exe.status == "RUNNING" and exe.task_id is None
        assert exe.command_arguments.startswith("pid ")
        body = client.get(f"/jobs/{job.id}/").get_json()
        assert body["job_type"]["name"] == "scale-strike"
        assert body["job_type"]["is_system"] is True
        strike = client.get(f"/strikes/{strike_id}/").get_json()
        assert strike["job"]["id"] == job.id and strike["job"]["status"] == "RUNNING"
    job, exes = strike_job(strike_id)
    assert job.status == "CANCELED"
    assert exes[-1].status == "CANCELED" and exes[-1].task_message == "the Strike process stopped"

    with running_watcher():  # a restart is a new execution of the same job
        wait_for(lambda: strike_job(strike_id)[0].status == "RUNNING")
    job, exes = strike_job(strike_id)
    assert [e.exe_num for e in exes] == [1, 2]
    assert job.num_exes == 2


def test_a_silent_strike_fails_with_the_reason_and_a_new_process_starts_a_new_run(scale_env, client):
    make_workspace(scale_env)
    strike_id, _ = make_strike()
    exe_id = with_retry(lambda s: system_jobs.strike_job(s, strike_id, ELSEWHERE))
    with session_scope() as session:  # 61 s after what the execution recorded, not after this test's clock
        recorded = session.get(JobExecution, exe_id)
        later = recorded.heartbeat + timedelta(seconds=61)
    assert with_retry(lambda s: system_jobs.fail_silent(s, later)) == [exe_id]
    job, (exe,) = strike_job(strike_id)
    assert job.status == "FAILED"
    assert exe.status == "FAILED" and "pid 4242 on strike-host-2 was silent for 61 s" == exe.task_message
    detail = client.get(f"/jobs/{job.id}/").get_json()
    assert detail["error"]["name"] == "system-process-lost"

    with running_watcher():
        wait_for(lambda: strike_job(strike_id)[0].status == "RUNNING")
        job, exes = strike_job(strike_id)
        assert [e.status for e in exes] == ["FAILED", "RUNNING"]
        assert job.error_id is None


def test_a_run_left_running_by_a_process_that_vanished_fails_when_another_starts(scale_env):
    make_workspace(scale_env)
    strike_id, _ = make_strike()
    first = with_retry(lambda s: system_jobs.strike_job(s, strike_id, ELSEWHERE))
    second = with_retry(lambda s: system_jobs.strike_job(s, strike_id, system_jobs.Process("host-3", 7, None)))
    _, exes = strike_job(strike_id)
    assert [e.id for e in exes] == [first, second]
    assert exes[0].status == "FAILED"
    assert exes[0].task_message == "pid 7 on host-3 started while this run had not ended: it stopped unseen"
    assert with_retry(lambda s: system_jobs.beat(s, [first, second])) == {first}


def test_the_clock_beats_on_one_execution_and_is_lost_after_three_silent_periods(scale_env, monkeypatch):
    from app.settings import settings

    monkeypatch.setattr(settings, "CLOCK_PERIOD", "PT1M", raising=False)
    here = system_jobs.Process("clock-host", 1, None)
    first = with_retry(lambda s: system_jobs.clock_beat(s, here))
    assert with_retry(lambda s: system_jobs.clock_beat(s, here)) == first
    assert with_retry(lambda s: system_jobs.fail_silent(s, utcnow() + timedelta(seconds=100))) == []
    assert with_retry(lambda s: system_jobs.fail_silent(s, utcnow() + timedelta(seconds=181))) == [first]
    assert with_retry(lambda s: system_jobs.clock_beat(s, here)) != first  # the next tick starts a new run


def test_system_jobs_cannot_be_queued_or_requeued_and_the_scheduler_ignores_them(scale_env, client):
    from app.models import JobType
    from tests.test_scheduler_core import FakeDriver, core_on

    make_workspace(scale_env)
    strike_id, _ = make_strike()
    exe_id = with_retry(lambda s: system_jobs.strike_job(s, strike_id, ELSEWHERE))
    with session_scope() as s:
        type_id = s.scalar(select(JobType.id).where(JobType.name == "scale-strike"))
    queued = client.post("/queue/new-job/", json={"job_type_id": type_id, "job_data": {"version": "1.0"}})
    assert queued.status_code == 400
    assert "is a system job type: its own process runs it" in queued.get_json()["detail"]

    core = core_on(FakeDriver())
    core.load_running()
    assert len(core.running) == 0  # no Mesos task: never reconciled, killed or timed out

    with_retry(lambda s: system_jobs.fail_silent(s, utcnow() + timedelta(seconds=61)))
    job, _ = strike_job(strike_id)
    answer = client.post("/queue/requeue-jobs/", json={"job_ids": [job.id]})
    assert answer.status_code in (200, 202)
    assert strike_job(strike_id)[0].status == "FAILED"  # left for its process to start again
    assert exe_id


def test_a_system_run_shows_its_process_log_and_nothing_else_of_the_machine(scale_env, client):
    from app.settings import settings

    make_workspace(scale_env)
    strike_id, _ = make_strike()
    logs = settings.var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "strike.log").write_text("watching Strike 1\n")
    exe_id = with_retry(lambda s: system_jobs.strike_job(s, strike_id, system_jobs.Process.this("strike")))
    answer = client.get(f"/job-executions/{exe_id}/logs/stdout/")
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == "watching Strike 1\n"
    with session_scope() as s:
        s.get(JobExecution, exe_id).stdout_path = str(scale_env / "scale.db")  # not a process log
    assert client.get(f"/job-executions/{exe_id}/logs/stdout/").get_data(as_text=True) == ""
