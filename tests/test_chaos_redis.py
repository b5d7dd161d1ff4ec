"""Redis killed and started empty, five times, while jobs run: the worker (started with the Procfile's own
command line) survives every restart and every job completes. Redis runs without persistence, so a
finish message it held when killed is gone: beat's reconcile sends it again, as in production."""

import shlex
import sqlite3
import time

import pytest

from bench.processes import BIN, ROOT, System
from workers.supervision import expand, read_procfile

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

JOBS = 30
KILLS = 5


def procfile_worker_argv(env: dict[str, str]) -> list[str]:
    argv = shlex.split(expand(read_procfile(ROOT / "Procfile")["worker"], env))
    argv[0] = str(BIN / argv[0])
    return argv


@pytest.fixture
def system():
    system = System(cluster_cpus=4, cluster_mem=4096).start(beat=True)
    system.stop_process(system.named_processes()["worker"])
    system.start_process("worker", procfile_worker_argv(system.env))
    yield system
    system.stop()


def counts(system: System) -> dict[str, int]:
    with sqlite3.connect(system.dir / "scale.db", timeout=30) as db:
        # the test's jobs only: beat's clock is a system job that stays RUNNING while beat runs
        query = (
            "select job.status, count(*) from job join job_type on job_type.id = job.job_type_id"
            " where not job_type.is_system group by job.status"
        )
        return dict(db.execute(query).fetchall())


def test_the_worker_survives_redis_restarting_empty_and_every_job_finishes(system):
    job_type = system.post(
        "/job-types/",
        {
            "name": "short-sleep",
            "version": "1.0",
            "title": "Short sleep",
            "description": "sleeps a second",
            "max_tries": 1,
            "cpus_required": 0.1,
            "mem_required": 1.0,
            "disk_out_const_required": 0.0,
            "interface": {
                "version": "1.0",
                "command": "/bin/sleep",
                "command_arguments": "1",
                "input_data": [],
                "output_data": [],
            },
        },
    )
    body = {"job_type_id": job_type["id"], "job_data": {"version": "1.0", "input_data": [], "output_data": []}}
    system.post("/queue/new-jobs/", {"jobs": [body] * JOBS})
    worker = system.named_processes()["worker"]
    for _ in range(KILLS):
        time.sleep(2)
        system.kill_and_restart("redis")
        assert worker.poll() is None, f"the worker exited ({worker.returncode}); see {system.dir}/worker.log"
    deadline = time.time() + 180
    while time.time() < deadline and counts(system).get("COMPLETED", 0) < JOBS:
        assert worker.poll() is None, f"the worker exited ({worker.returncode}); see {system.dir}/worker.log"
        time.sleep(0.5)
    assert counts(system) == {"COMPLETED": JOBS}, f"see {system.dir}"
    assert worker.poll() is None
