"""The clock: Celery beat sends `tasks.clock.tick` every CLOCK_PERIOD (on the minute by default); due clock rules fire."""

from __future__ import annotations

from app.services import clock
from tasks.celery_app import app


@app.task(name="tasks.clock.tick")
def tick() -> dict:
    """Fire every clock rule whose slot came (each rule in its own transaction; idempotent per slot)."""
    return {"events": clock.tick()}
