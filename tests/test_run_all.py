"""`make run`'s choice of processes and the one rule tying MESOS_MASTER to LOCAL_CLUSTER_PORT."""

import subprocess
import sys

import pytest

from app.settings import ROOT, settings
from workers.run_all import processes


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("MESOS_MASTER", raising=False)
    monkeypatch.delenv("LOCAL_CLUSTER_PORT", raising=False)

    def apply(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        settings.reload()

    yield apply
    monkeypatch.undo()
    settings.reload()


def test_neither_set_uses_the_local_cluster_on_5050(env):
    env()
    assert (settings.MESOS_MASTER, settings.LOCAL_CLUSTER_PORT) == ("127.0.0.1:5050", 5050)
    assert "cluster" in processes()


def test_only_the_cluster_port_moves_the_master_with_it(env):
    env(LOCAL_CLUSTER_PORT="6060")
    assert settings.MESOS_MASTER == "127.0.0.1:6060"
    assert "cluster" in processes()


def test_only_a_loopback_master_moves_the_cluster_port_with_it(env):
    env(MESOS_MASTER="localhost:7070")
    assert settings.LOCAL_CLUSTER_PORT == 7070
    assert "cluster" in processes()


def test_a_remote_master_leaves_the_local_cluster_out(env):
    env(MESOS_MASTER="mesos.example.org:5050", LOCAL_CLUSTER_PORT="6060")
    assert settings.MESOS_MASTER == "mesos.example.org:5050"
    assert "cluster" not in processes()
    settings.check()


def test_both_set_and_agreeing_is_accepted(env):
    env(MESOS_MASTER="127.0.0.1:6060", LOCAL_CLUSTER_PORT="6060")
    settings.check()
    assert "cluster" in processes()


def test_both_set_on_loopback_with_different_ports_is_refused(env):
    env(MESOS_MASTER="127.0.0.1:5050", LOCAL_CLUSTER_PORT="6060")
    with pytest.raises(SystemExit) as refused:
        settings.check()
    assert "MESOS_MASTER" in str(refused.value) and "LOCAL_CLUSTER_PORT" in str(refused.value)


def test_docker_settings_a_master_would_refuse_or_silently_change_are_refused_at_start(env):
    for name, value, said in (
        ("DOCKER_NETWORK", "bridged", "expected one of NONE, HOST, BRIDGE"),
        ("DOCKER_PARAMETERS", "shm-size=1g;name=mine", "'name' is refused by Mesos"),
        ("DOCKER_PARAMETERS", "shm-size", "expected key=value, got 'shm-size'"),
    ):
        env(**{"DOCKER_NETWORK": "none", "DOCKER_PARAMETERS": "", name: value})
        with pytest.raises(SystemExit, match=said):
            settings.check()
    env(DOCKER_NETWORK="bridge", DOCKER_PARAMETERS="shm-size=1g; ulimit=nofile=1024")
    settings.check()


def run_all(var_dir, code: str = "import workers.run_all as r; r.main()", **env: str) -> subprocess.CompletedProcess:
    """`python -m workers.run_all` (or `code`) in a clean environment with `env`."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SCALE_VAR_DIR": str(var_dir), **env},
    )


def test_make_run_refuses_conflicting_settings_before_starting_anything(tmp_path):
    run = run_all(tmp_path, MESOS_MASTER="127.0.0.1:5050", LOCAL_CLUSTER_PORT="6060")
    assert run.returncode != 0
    assert "MESOS_MASTER=127.0.0.1:5050" in run.stderr and "LOCAL_CLUSTER_PORT=6060" in run.stderr
    assert "Scale is starting" not in run.stdout


def test_make_run_prints_where_things_are_without_passwords(tmp_path):
    run = run_all(
        tmp_path,
        code="import os, workers.run_all as r; os.execvpe = lambda *a: None; r.main()",  # everything but the start
        REDIS_URL="redis://:broker-secret@127.0.0.1:6379/0",
        DATABASE_URL="postgresql+psycopg://scale:db-secret@127.0.0.1/scale",
    )
    assert run.returncode == 0, run.stderr
    assert "broker-secret" not in run.stdout and "db-secret" not in run.stdout
    assert "redis://:***@127.0.0.1:6379/0" in run.stdout and "scale:***@127.0.0.1/scale" in run.stdout
    assert "[program:worker]" in (tmp_path / "supervisord.conf").read_text()
