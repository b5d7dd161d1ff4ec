"""Start the real processes (Redis, local cluster, scheduler, Celery worker, API) on free ports
against a fresh database in a temporary directory, for the benchmarks that need the whole system."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def wait_port_free(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return
        time.sleep(0.1)
    raise RuntimeError(f"something still listens on {port}")


class System:
    def __init__(
        self, cluster_cpus: float = 8, cluster_mem: float = 16384, worker_concurrency: int = 2, keep: bool = False
    ):
        self.dir = Path(tempfile.mkdtemp(prefix="scale-bench-"))
        self.redis_port, self.cluster_port, self.api_port = free_port(), free_port(), free_port()
        self.env = dict(
            os.environ,
            SCALE_VAR_DIR=str(self.dir),
            DATABASE_URL=f"sqlite:///{self.dir}/scale.db",
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            MESOS_MASTER=f"127.0.0.1:{self.cluster_port}",
            LOCAL_CLUSTER_PORT=str(self.cluster_port),
            LOCAL_CLUSTER_CPUS=str(cluster_cpus),
            LOCAL_CLUSTER_MEM=str(cluster_mem),
            LOCAL_CLUSTER_DISK="100000",
            API_PORT=str(self.api_port),
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        self.worker_concurrency = worker_concurrency
        self.procs: list[subprocess.Popen] = []
        self.names: list[str] = []
        self.commands: dict[str, tuple[list[str], dict[str, str] | None]] = {}
        self.api = f"http://127.0.0.1:{self.api_port}"

    def _start(self, name: str, argv: list[str]) -> None:
        self.start_process(name, argv)

    def start_process(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start one more process (logged to <dir>/<name>.log) that stop() also stops."""
        log = open(self.dir / f"{name}.log", "a")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.names.append(name)
        self.commands[name] = (argv, env)
        return proc

    def kill_and_restart(self, name: str) -> subprocess.Popen:
        """SIGKILL the named process, then start it again with the same command (a crash and a supervisor's restart)."""
        proc = self.named_processes()[name]
        proc.kill()
        proc.wait(timeout=15)
        index = self.procs.index(proc)
        del self.procs[index], self.names[index]
        argv, env = self.commands[name]
        port = {"web": self.api_port, "cluster": self.cluster_port, "redis": self.redis_port}.get(name)
        if port is not None:
            wait_port_free(port)  # gunicorn's workers outlive their killed master for a moment
        proc = self.start_process(name, argv, env)
        if port is not None:
            wait_port(port)  # the next request finds it serving, as after a supervisor's restart
        return proc

    def stop_process(self, proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        index = self.procs.index(proc)
        del self.procs[index], self.names[index]

    def named_processes(self) -> dict[str, subprocess.Popen]:
        return dict(zip(self.names, self.procs))

    def start(self, api: bool = True, scheduler: bool = True, beat: bool = False) -> "System":
        subprocess.run([sys.executable, "-m", "app.migrate"], cwd=ROOT, env=self.env, check=True, capture_output=True)
        self._start(
            "redis",
            [
                str(BIN / "redis-server"),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
        )
        wait_port(self.redis_port)
        self._start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tasks.celery_app",
                "worker",
                "--loglevel",
                "WARNING",
                "--concurrency",
                str(self.worker_concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        if beat:
            schedule = str(self.dir / "celerybeat-schedule")
            self._start(
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tasks.celery_app",
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "-s",
                    schedule,
                ],
            )
        if scheduler:
            self._start("cluster", [sys.executable, "-m", "workers.local_cluster"])
            wait_port(self.cluster_port)
            self._start("scheduler", [sys.executable, "-m", "workers.scheduler"])
        if api:
            self._start(
                "web", [str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{self.api_port}", "api.wsgi:app"]
            )
            wait_port(self.api_port)
            if scheduler:
                self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Measure a running system, not its start: wait until the scheduler reports (GET /status/ is 200)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if requests.get(f"{self.api}/status/", timeout=10).status_code == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the scheduler did not report within {timeout} s; see {self.dir}")

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()

    def post(self, path: str, body: dict) -> dict:
        response = requests.post(self.api + path, json=body, timeout=30)
        if response.status_code >= 300:
            raise RuntimeError(f"{path}: {response.status_code} {response.text}")
        return response.json()
