"""Alembic environment: the URL comes from app.settings (DATABASE_URL), not alembic.ini."""

from alembic import context

from app.db import get_engine
from app.models import Base

config = context.config
url = config.attributes.get("url")


def run_migrations_online() -> None:
    engine = get_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
