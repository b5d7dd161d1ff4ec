"""Clock trigger rules: periodic events on a schedule anchored to the start of each UTC day.

A rule `{version, event_type, schedule}` (schedule = ISO-8601 duration) fires on the slots
midnight + k x schedule of each day (schedules of a day or more: every schedule since the Unix epoch,
which is midnight-aligned too). `is_due` is the pure decision: a rule fires on the first tick at or
after a slot it has not fired for yet, so late runs do not drift, a rule missed while beat was down
fires once on recovery, and short schedules (PT15M) never stall.

What a firing does is decided by the processor registered under the rule's `name`
(`register_processor`). Each rule runs in its own transaction, so one bad rule never stops the others.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow, with_retry
from app.models import TriggerEvent, TriggerRule
from app.specs.base import SpecError
from app.specs.trigger_config import validate_clock_trigger

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_CATCH_UP_DAYS = 31

# processor(session, event, last_fired) does the work of one firing.
ClockProcessor = Callable[[Session, TriggerEvent, "datetime | None"], None]
PROCESSORS: dict[str, ClockProcessor] = {}
# hook(session, day) computes one UTC day of metrics; called by the scale-daily-metrics processor.
DAILY_METRICS_HOOKS: list[Callable[[Session, date], None]] = []
_warned_unregistered: set[str] = set()


def register_processor(name: str, processor: ClockProcessor | None = None):
    """Register the function run when the clock rule called `name` fires (usable as a decorator)."""

    def add(fn: ClockProcessor) -> ClockProcessor:
        PROCESSORS[name] = fn
        _warned_unregistered.discard(name)
        return fn

    return add(processor) if processor is not None else add


def add_daily_metrics_hook(hook: Callable[[Session, date], None]) -> None:
    if hook not in DAILY_METRICS_HOOKS:
        DAILY_METRICS_HOOKS.append(hook)


# ---------------------------------------------------------------- the schedule


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def latest_slot(schedule: timedelta, now: datetime) -> datetime:
    """The most recent slot at or before `now`."""
    now = now.astimezone(timezone.utc)
    anchor = _midnight(now) if schedule < DAY else EPOCH
    return anchor + ((now - anchor) // schedule) * schedule


def is_due(schedule: timedelta, last_fired: datetime | None, now: datetime) -> bool:
    """Whether a rule with this schedule must fire at `now`, given when it last fired."""
    if schedule <= timedelta(0):
        raise ValueError("a clock schedule must be positive")
    now = now.astimezone(timezone.utc)
    if last_fired is None:
        # A new sub-daily rule waits for its first slot after midnight; daily or longer ones fire at once.
        return schedule >= DAY or now >= _midnight(now) + schedule
    return last_fired.astimezone(timezone.utc) < latest_slot(schedule, now)


# ---------------------------------------------------------------- firing


def last_fired(session: Session, rule: TriggerRule, event_type: str) -> datetime | None:
    return session.scalar(
        select(TriggerEvent.occurred)
        .where(TriggerEvent.rule_id == rule.id, TriggerEvent.type == event_type)
        .order_by(TriggerEvent.occurred.desc())
        .limit(1)
    )


def active_clock_rule_ids(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(TriggerRule.id)
            .where(TriggerRule.type == "CLOCK", TriggerRule.is_active.is_(True), TriggerRule.archived.is_(None))
            .order_by(TriggerRule.id)
        )
    )


def fire_if_due(session: Session, rule_id: int, now: datetime) -> int | None:
    """Fire one clock rule when it is due: a TriggerEvent, then its processor. Returns the event id."""
    rule = session.get(TriggerRule, rule_id)
    if rule is None or not rule.is_active or rule.archived is not None:
        return None
    try:
        config = validate_clock_trigger(rule.configuration)
    except SpecError as exc:
        log.error("clock rule %s (%s) has an invalid configuration: %s", rule.id, rule.name, exc)
        return None
    processor = PROCESSORS.get(rule.name or "")
    if processor is None:
        if rule.name not in _warned_unregistered:
            _warned_unregistered.add(rule.name)
            log.error("clock rule %s: no processor is registered under the name %r", rule.id, rule.name)
        return None
    previous = last_fired(session, rule, config["event_type"])
    if not is_due(timedelta(seconds=config["schedule_seconds"]), previous, now):
        return None
    event = TriggerEvent(
        type=config["event_type"],
        rule_id=rule.id,
        occurred=now,
        description={"version": "1.0", "rule": rule.name, "schedule": config["schedule"]},
    )
    session.add(event)
    session.flush()
    try:
        with session.begin_nested():
            processor(session, event, previous)
    except Exception as exc:  # noqa: BLE001 - the slot is spent; the failure is logged and kept on the event
        log.exception("clock rule %s (%s): processor failed", rule.id, rule.name)
        event.description = {**event.description, "error": str(exc)}
    return event.id


def tick(now: datetime | None = None) -> list[int]:
    """One clock tick: every due rule fires, each in its own transaction. Returns the new event ids."""
    now = now or utcnow()
    fired = []
    for rule_id in with_retry(active_clock_rule_ids):
        try:
            event_id = with_retry(lambda s, r=rule_id: fire_if_due(s, r, now))
        except Exception:  # noqa: BLE001 - one bad rule never stops the others
            log.exception("clock rule %s could not be processed", rule_id)
            continue
        if event_id is not None:
            fired.append(event_id)
    return fired


# ---------------------------------------------------------------- built-in processors


def days_to_compute(last: datetime | None, now: datetime) -> list[date]:
    """Complete UTC days not computed yet: since the day of the last run (which was not complete) to yesterday."""
    yesterday = (now.astimezone(timezone.utc) - DAY).date()
    first = last.astimezone(timezone.utc).date() if last is not None else yesterday
    first = max(first, yesterday - timedelta(days=MAX_CATCH_UP_DAYS - 1))
    return [first + timedelta(days=i) for i in range((yesterday - first).days + 1)]


@register_processor("scale-daily-metrics")
def daily_metrics(session: Session, event: TriggerEvent, last: datetime | None) -> None:
    """Run every registered daily metrics hook for each complete day since the previous run."""
    for day in days_to_compute(last, event.occurred):
        for hook in list(DAILY_METRICS_HOOKS):
            try:
                with session.begin_nested():
                    hook(session, day)
            except Exception:  # noqa: BLE001 - one bad hook never stops the others
                log.exception("daily metrics hook %s failed for %s", getattr(hook, "__name__", hook), day)
