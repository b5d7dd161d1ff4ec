"""A Celery beat schedule read from an ISO-8601 period and anchored to the start of each UTC day.

`AnchoredPeriod("PT1H")` fires on the hour (00:00, 01:00, ...), never drifting after a late run; a
period missed while beat was down fires once on recovery. The decision is app.services.clock.is_due,
the same one clock trigger rules use.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from celery.schedules import BaseSchedule, schedstate

from app.services.clock import is_due, latest_slot
from app.specs.trigger_config import parse_schedule


class AnchoredPeriod(BaseSchedule):
    def __init__(self, period: str, app=None) -> None:
        super().__init__(app=app)
        self.period_text = period
        self.period = timedelta(seconds=parse_schedule(period))

    def _now_utc(self) -> datetime:
        return datetime.now(timezone.utc)

    def is_due(self, last_run_at: datetime) -> schedstate:
        now = self._now_utc()
        last = last_run_at.astimezone(timezone.utc) if last_run_at.tzinfo else last_run_at.replace(tzinfo=timezone.utc)
        due = is_due(self.period, last, now)
        next_slot = latest_slot(self.period, now) + self.period
        return schedstate(is_due=due, next=max((next_slot - now).total_seconds(), 0.5))

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        now = self._now_utc()
        return latest_slot(self.period, now) + self.period - now

    def __repr__(self) -> str:
        return f"<AnchoredPeriod {self.period_text}>"

    def __reduce__(self):
        return self.__class__, (self.period_text,)

    def __eq__(self, other) -> bool:
        return isinstance(other, AnchoredPeriod) and other.period == self.period

    def __hash__(self) -> int:
        return hash(self.period)
