"""Daily metrics rollups, fired by Celery beat."""

from __future__ import annotations

from datetime import date, timedelta

from app.db import utcnow, with_retry
from app.services import metrics
from tasks.celery_app import app


@app.task(name="tasks.metrics.daily_metrics")
def daily_metrics(day: str | None = None) -> dict:
    """Recompute the metrics of `day` (ISO date), or of yesterday and today (so far) when none is given.

    Each day is rewritten whole, so repeated or overlapping runs give the same rows.
    """
    if day is not None:
        days = [date.fromisoformat(day)]
    else:
        today = utcnow().date()
        days = [today - timedelta(days=1), today]
    return {d.isoformat(): with_retry(lambda session, d=d: metrics.calculate_day(session, d)) for d in days}
