"""Bring a database to the newest schema and seed it: `python -m app.migrate`."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from app.db import session_scope
from app.settings import ROOT, settings


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url or settings.database_url
    return config


def migrate(url: str | None = None) -> None:
    from app.seed import seed

    command.upgrade(alembic_config(url), "head")
    with session_scope() as session:
        seed(session)


if __name__ == "__main__":
    migrate()
    print(f"database ready: {settings.database_url}")
