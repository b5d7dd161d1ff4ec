"""The migrations build exactly the schema the models describe (on a real SQLite file)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db import get_engine
from app.models import Base


def test_migrated_database_matches_the_models(scale_env):
    with get_engine().connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "run scripts/regen_migration.sh after changing app/models.py"


def test_seed_rows_exist(session):
    from sqlalchemy import select

    from app.models import Error, Scheduler

    assert session.get(Scheduler, 1) is not None
    names = set(session.scalars(select(Error.name)))
    assert {"unknown", "timeout", "node-lost", "algorithm-unknown", "filesystem-io"} <= names
