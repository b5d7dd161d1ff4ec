"""Chaos: kill -9 one process of a running system while jobs and a three-step recipe run, start it again,
and check what an operator cares about: every job ends COMPLETED (each has max_tries 1, so a try spent on
the infrastructure would fail it), no job's command ran to completion twice, and the recipe completes."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from bench.processes import System
from tests.stack import script_command

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

JOBS = 8
RUN_SECONDS = 3
# Reconcile quickly so a lost message or a lost task is repaired within the test's patience.
CHAOS_ENV = {"RECONCILE_INTERVAL": "3", "SCHEDULER_RECONCILE_INTERVAL": "5"}


@pytest.fixture(scope="module")
def system():
    system = System(cluster_cpus=8, cluster_mem=8192)
    system.env.update(CHAOS_ENV)
    system.start(beat=True)
    system.record = system.dir / "runs.txt"
    interface = {
        "version": "1.0",
        "command": script_command("record_run.py"),
        "command_arguments": f"{system.record} {RUN_SECONDS}",
        "input_data": [],
        "output_data": [],
    }
    job_type = system.post(
        "/job-types/",
        {
            "name": "recorded",
            "version": "1.0",
            "title": "Recorded",
            "description": "records each real run",
            "max_tries": 1,
            "cpus_required": 0.25,
            "mem_required": 16.0,
            "disk_out_const_required": 0.0,
            "interface": interface,
        },
    )
    step = {"name": "recorded", "version": "1.0"}
    system.recipe_type = system.post(
        "/recipe-types/",
        {
            "name": "chain",
            "version": "1.0",
            "title": "Chain",
            "description": "three steps",
            "definition": {
                "version": "1.0",
                "input_data": [],
                "jobs": [
                    {"name": "a", "job_type": step},
                    {"name": "b", "job_type": step, "dependencies": [{"name": "a", "connections": []}]},
                    {"name": "c", "job_type": step, "dependencies": [{"name": "b", "connections": []}]},
                ],
            },
        },
    )
    system.job_type = job_type
    yield system
    system.stop()


def query(system: System, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(system.dir / "scale.db", timeout=30) as db:
        return db.execute(sql, args).fetchall()


def wait(predicate, timeout: float, what: str, system: System):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; see {system.dir}")


def completed_runs(record: Path) -> Counter:
    """Completed runs by Mesos task id (one task id per execution)."""
    if not record.exists():
        return Counter()
    return Counter(line.split()[1] for line in record.read_text().splitlines() if line.startswith("end "))


PROCESSES = ["worker", "scheduler", "cluster", "beat", "redis", "web"]


@pytest.mark.parametrize("victim", PROCESSES)
def test_killing_a_process_mid_run_loses_nothing_and_runs_nothing_twice(system, victim):
    body = {"job_type_id": system.job_type["id"], "job_data": {"version": "1.0", "input_data": [], "output_data": []}}
    jobs = [j["id"] for j in system.post("/queue/new-jobs/", {"jobs": [body] * JOBS})["jobs"]]
    recipe = system.post(
        "/queue/new-recipe/",
        {"recipe_type_id": system.recipe_type["id"], "recipe_data": {"version": "1.0", "input_data": []}},
    )
    marks = ",".join("?" * len(jobs))
    wait(
        lambda: (
            query(system, f"select count(*) from job where status = 'RUNNING' and id in ({marks})", *jobs)[0][0] >= 3
        ),
        60,
        "jobs running",
        system,
    )
    system.kill_and_restart(victim)  # at once, as the supervisor of `make run` does

    def settled() -> bool:
        recipe_jobs = query(system, "select job_id from recipe_job where recipe_id = ?", recipe["id"])
        ids = jobs + [r[0] for r in recipe_jobs]
        marks = ",".join("?" * len(ids))
        open_jobs = query(
            system,
            f"select count(*) from job where id in ({marks}) and status not in ('COMPLETED','FAILED','CANCELED')",
            *ids,
        )[0][0]
        done = query(system, "select completed from recipe where id = ?", recipe["id"])
        return open_jobs == 0 and len(recipe_jobs) == 3 and bool(done and done[0][0])

    wait(settled, 180, "every job and the recipe to finish", system)
    statuses = dict(query(system, f"select id, status from job where id in ({marks})", *jobs))
    assert set(statuses.values()) == {"COMPLETED"}, f"{statuses}; see {system.dir}"
    runs = completed_runs(system.record)
    executions = query(system, "select job_id, id from job_exe")
    by_job = Counter(job for job, exe in executions if runs[f"scale-exe-{exe}"])
    twice = {job: n for job, n in by_job.items() if n > 1}
    assert not twice, f"jobs whose command ran to completion more than once: {twice}; see {system.dir}"
    assert requests.get(f"{system.api}/recipes/{recipe['id']}/", timeout=10).json()["completed"]
