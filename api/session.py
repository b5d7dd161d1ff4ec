"""The request's database session: a leaf module, so resources and console views need not import `api`."""

from __future__ import annotations

from flask import g


def get_session():
    """One database session per request, closed at teardown (see `create_app`)."""
    if "db_session" not in g:
        from app.db import get_sessionmaker

        g.db_session = get_sessionmaker()()
    return g.db_session
