"""Ingest messages: sent by the Strike process for files it QUEUED (and again for ones whose message was lost)."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from app.services import ingest
from tasks.celery_app import app, notify_queue_changed


@app.task(
    name="tasks.ingest.ingest_files", bind=True, autoretry_for=(OperationalError,), max_retries=5, default_retry_delay=2
)
def ingest_files(self, ingest_ids: list[int]) -> dict:
    """Move QUEUED files into their workspaces, record their source files and fire the ingest triggers (idempotent).

    The INGEST trigger rules fire inside the transaction that marks the ingest INGESTED, so they fire
    exactly once; there is no separate trigger message to lose or to repeat.
    """
    results = ingest.ingest_files(ingest_ids)
    if any(r.job_ids or r.recipe_ids for r in results):
        notify_queue_changed()
    return {
        "results": [
            {
                "ingest_id": r.ingest_id,
                "status": r.status,
                "source_file_id": r.source_file_id,
                "job_ids": list(r.job_ids),
                "recipe_ids": list(r.recipe_ids),
            }
            for r in results
        ]
    }
