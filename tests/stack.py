"""The whole system in one test: real Redis, a real Celery worker process, the local cluster
(Mesos v1 HTTP API), the pymesos scheduler, and the API through Flask's test client."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis as redis_client

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "scripts"
PYTHON = sys.executable


def script_command(name: str) -> str:
    """A job interface `command` running one of tests/scripts with this interpreter."""
    return f"{PYTHON} {SCRIPTS / name}"


class Stack:
    def __init__(self, client, var_dir: Path, cluster) -> None:
        self.client = client
        self.var_dir = var_dir
        self.cluster = cluster
        self.core = None
        self.thread = None

    def start_scheduler(self) -> None:
        from workers.scheduler import SchedulerCore

        self.core = SchedulerCore()
        self.thread = threading.Thread(target=self.core.run, name="scheduler", daemon=True)
        self.thread.start()

    def stop_scheduler(self) -> None:
        if self.core is not None:
            self.core.stop()
            self.thread.join(timeout=15)
            self.core = None

    def job(self, job_id: int) -> dict:
        response = self.client.get(f"/jobs/{job_id}/")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def wait_job(self, job_id: int, statuses: str | tuple[str, ...], timeout: float = 30.0) -> dict:
        statuses = (statuses,) if isinstance(statuses, str) else statuses
        deadline = time.time() + timeout
        job = self.job(job_id)
        while job["status"] not in statuses:
            if time.time() > deadline:
                raise AssertionError(f"job {job_id} is {job['status']}, expected {statuses}: {job}")
            time.sleep(0.1)
            job = self.job(job_id)
        return job

    def wait(self, predicate, timeout: float = 30.0, what: str = "condition"):
        deadline = time.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def create_job_type(self, **fields) -> dict:
        body = {
            "name": "test-job",
            "version": "1.0",
            "title": "Test",
            "description": "test",
            "max_tries": 1,
            "cpus_required": 0.1,
            "mem_required": 16.0,
            "disk_out_const_required": 0.0,
        }
        body.update(fields)
        response = self.client.post("/job-types/", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def create_workspace(self, name: str = "products") -> dict:
        path = self.var_dir / "workspaces" / name
        path.mkdir(parents=True, exist_ok=True)
        body = {
            "name": name,
            "title": name,
            "description": name,
            "base_url": f"http://files/{name}",
            "is_active": True,
            "json_config": {"version": "1.0", "broker": {"type": "host", "host_path": str(path)}},
        }
        response = self.client.post("/workspaces/", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def queue_job(self, job_type_id: int, job_data: dict | None = None) -> dict:
        response = self.client.post(
            "/queue/new-job/",
            json={
                "job_type_id": job_type_id,
                "job_data": job_data or {"version": "1.0", "input_data": [], "output_data": []},
            },
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()


def _start_worker(var_dir: Path, name: str) -> subprocess.Popen:
    log_path = var_dir / "worker.log"
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "tasks.celery_app",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
    )


def _stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()


@pytest.fixture
def celery_worker(scale_env, redis_server):
    """A real Celery worker process on this test's database and the tests' Redis (emptied first)."""
    from tests.conftest import free_port

    redis_client.Redis.from_url(redis_server).flushdb()  # no message from an earlier test
    worker = _start_worker(scale_env, f"test-{free_port()}")
    yield worker
    _stop_worker(worker)


@pytest.fixture
def stack(scale_env, redis_server, app, monkeypatch):
    """Start the worker, the local cluster and the scheduler against this test's database."""
    from app.settings import settings
    from workers.local_cluster import LocalCluster
    from tests.conftest import free_port

    redis_client.Redis.from_url(redis_server).flushdb()  # no message from an earlier test
    port = free_port()
    monkeypatch.setenv("MESOS_MASTER", f"127.0.0.1:{port}")
    monkeypatch.setenv("LOCAL_CLUSTER_PORT", str(port))
    monkeypatch.setenv("LOCAL_CLUSTER_CPUS", "4")
    monkeypatch.setenv("LOCAL_CLUSTER_MEM", "4096")
    monkeypatch.setenv("LOCAL_CLUSTER_DISK", "10000")
    monkeypatch.setenv("SCHEDULER_STATUS_INTERVAL", "0.5")
    monkeypatch.setenv("SCHEDULER_SYNC_INTERVAL", "0.1")
    settings.reload()

    worker = _start_worker(scale_env, f"test-{port}")
    cluster = LocalCluster(port=port, agents=1, var_dir=str(scale_env))
    cluster.start()
    system = Stack(app.test_client(), scale_env, cluster)
    system.start_scheduler()
    try:
        yield system
    finally:
        system.stop_scheduler()
        cluster.stop()
        _stop_worker(worker)
