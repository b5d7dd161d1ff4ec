"""The lookups the specification validators take (files, workspaces by id or name), read from the database.

A leaf module: every service that validates data imports it, and it imports no service.
"""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ScaleFile, Workspace
from app.specs.base import is_int


def _storable_ids(ids: Sequence) -> list[int]:
    """Ids the database can hold; larger ones cannot exist and are reported as unknown by the callers."""
    return [i for i in ids if is_int(i) and i > 0]


def lookup_files(session: Session):
    def lookup(ids: Sequence[int]) -> dict[int, dict]:
        ids = _storable_ids(ids)
        if not ids:
            return {}
        rows = session.execute(
            select(ScaleFile.id, ScaleFile.media_type, ScaleFile.file_size, ScaleFile.workspace_id).where(
                ScaleFile.id.in_(ids), ScaleFile.is_deleted.is_(False)
            )
        )
        return {
            r.id: {"media_type": r.media_type, "file_size": r.file_size or 0, "workspace_id": r.workspace_id}
            for r in rows
        }

    return lookup


def lookup_workspaces(session: Session):
    def lookup(ids: Sequence[int]) -> dict[int, dict]:
        ids = _storable_ids(ids)
        if not ids:
            return {}
        rows = session.execute(select(Workspace.id, Workspace.is_active).where(Workspace.id.in_(ids)))
        return {r.id: {"is_active": r.is_active} for r in rows}

    return lookup


def lookup_workspaces_by_name(session: Session):
    def lookup(names: Sequence[str]) -> dict[str, dict]:
        if not names:
            return {}
        rows = session.execute(
            select(Workspace.id, Workspace.name, Workspace.is_active).where(Workspace.name.in_(list(names)))
        )
        return {r.name: {"id": r.id, "is_active": r.is_active} for r in rows}

    return lookup
