"""The clock: Celery beat sends `tasks.clock.tick` every CLOCK_PERIOD (on the minute by default); due clock rules fire."""

from __future__ import annotations

import logging

from app.db import with_retry
from app.services import clock, system_jobs
from tasks.celery_app import app

log = logging.getLogger(__name__)


@app.task(name="tasks.clock.tick")
def tick() -> dict:
    """Fire every clock rule whose slot came (each rule in its own transaction; idempotent per slot)."""
    events = clock.tick()
    try:  # the clock's system job shows that ticks happen; bookkeeping never stops a tick
        with_retry(lambda s: system_jobs.clock_beat(s, system_jobs.Process.this("beat")))
    except Exception:  # noqa: BLE001
        log.exception("could not record the clock's heartbeat")
    return {"events": events}
