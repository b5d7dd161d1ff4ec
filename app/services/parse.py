"""Parse results: a completed job's results manifest may describe the source files it read."""
from __future__ import annotations

from sqlalchemy.orm import Session

from app.models import Job


def apply_parse_results(session: Session, job: Job, manifest: dict) -> list[int]:
    """Update the source files named in `parse_results`; returns their ids (PARSE triggers fire for them)."""
    return []
