"""Clock rules: the pure schedule decision, and ticks firing registered processors against a real database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.db import session_scope
from app.models import TriggerEvent
from app.services import clock
from app.services.clock import is_due
from tests import factories as f

H = timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, second, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "schedule, last, now, due",
    [
        # PT1H, never fired: waits for its first slot after midnight.
        (H, None, at(10, 0, 30), False),
        (H, None, at(10, 1, 30), True),
        # Fires on the hour, once per slot.
        (H, at(10, 11, 0), at(10, 12, 30), True),
        (H, at(10, 12, 0), at(10, 12, 30), False),
        (H, at(10, 12, 0), at(10, 12, 59, 59), False),
        (H, at(10, 12, 0), at(10, 13, 0), True),
        # A late run (11:07) does not move the schedule: the next one is due at 12:00, not 12:07.
        (H, at(10, 11, 7), at(10, 11, 59), False),
        (H, at(10, 11, 7), at(10, 12, 0), True),
        # Across midnight.
        (H, at(10, 23, 0), at(11, 0, 10), True),
        # Short schedules never stall: PT15M that missed its 10:15 minute still fires at the next tick.
        (timedelta(minutes=15), at(10, 10, 0), at(10, 10, 16), True),
        (timedelta(minutes=15), at(10, 10, 16), at(10, 10, 29), False),
        (timedelta(minutes=15), at(10, 10, 16), at(10, 10, 31), True),
        # Daily rules: never fired -> at once; fired today -> not again until the next midnight.
        (timedelta(days=1), None, at(10, 15, 0), True),
        (timedelta(hours=24), at(10, 0, 0, 5), at(10, 23, 59), False),
        (timedelta(hours=24), at(10, 0, 0, 5), at(11, 0, 0, 30), True),
    ],
)
def test_is_due(schedule, last, now, due):
    assert is_due(schedule, last, now) is due


def test_daily_rule_after_five_days_down_fires_once():
    last = at(5, 0, 1)
    now = at(10, 9, 30)
    assert is_due(timedelta(days=1), last, now)
    assert not is_due(timedelta(days=1), now, now + timedelta(minutes=1))  # after firing: done for the day


def test_times_in_other_zones_are_read_as_utc():
    plus_two = timezone(timedelta(hours=2))
    assert not is_due(H, at(10, 12, 0), datetime(2024, 3, 10, 14, 30, tzinfo=plus_two))  # 12:30 UTC
    assert is_due(H, at(10, 12, 0), datetime(2024, 3, 10, 15, 0, tzinfo=plus_two))  # 13:00 UTC


def test_schedule_must_be_positive():
    with pytest.raises(ValueError):
        is_due(timedelta(0), None, at(10, 1))


# ---------------------------------------------------------------- ticks


@pytest.fixture
def processors():
    """Register test processors and remove them afterwards (the registry is process-wide)."""
    added: list[str] = []

    def add(name, fn):
        clock.register_processor(name, fn)
        added.append(name)

    yield add
    for name in added:
        clock.PROCESSORS.pop(name, None)


def events(rule_id: int) -> list[TriggerEvent]:
    with session_scope() as s:
        return s.scalars(select(TriggerEvent).where(TriggerEvent.rule_id == rule_id).order_by(TriggerEvent.id)).all()


def clock_rule(name: str, schedule: str = "PT1H", event_type: str = "MY_METRICS", **kw) -> int:
    with session_scope() as s:
        return f.make_trigger_rule(
            s,
            type="CLOCK",
            name=name,
            configuration={"version": "1.0", "event_type": event_type, "schedule": schedule},
            **kw,
        ).id


def test_tick_fires_due_rules_once_per_slot(scale_env, processors):
    calls = []
    processors("test-hourly", lambda session, event, last: calls.append((event.type, event.occurred, last)))
    rule_id = clock_rule("test-hourly")

    assert clock.tick(at(10, 0, 30)) == []  # the first slot is 01:00
    first = clock.tick(at(10, 1, 0, 20))
    assert len(first) == 1
    assert clock.tick(at(10, 1, 1)) == []  # same slot
    assert clock.tick(at(10, 1, 59)) == []
    # Beat was down from 02:00 to 05:30: one firing on recovery, not three.
    assert len(clock.tick(at(10, 5, 30))) == 1
    assert clock.tick(at(10, 5, 31)) == []

    assert [c[0] for c in calls] == ["MY_METRICS", "MY_METRICS"]
    assert calls[0][2] is None and calls[1][2] == at(10, 1, 0, 20)
    assert [e.occurred for e in events(rule_id)] == [at(10, 1, 0, 20), at(10, 5, 30)]


def test_one_bad_rule_never_stops_the_others(scale_env, processors, caplog):
    ran = []

    def broken(session, event, last):
        raise RuntimeError("boom")

    processors("test-broken", broken)
    processors("test-good", lambda session, event, last: ran.append(event.id))
    broken_id = clock_rule("test-broken")
    unregistered_id = clock_rule("nobody-registered-this")
    invalid_id = clock_rule("test-good-but-invalid", schedule="every hour")
    good_id = clock_rule("test-good")
    inactive_id = clock_rule("test-good", is_active=False)

    fired = clock.tick(at(10, 3, 0))
    assert ran == [events(good_id)[0].id]
    # The broken processor's slot is spent (it does not re-run every minute) and its error is kept.
    [broken_event] = events(broken_id)
    assert broken_event.description["error"] == "boom"
    assert sorted(fired) == sorted([broken_event.id, ran[0]])
    assert events(unregistered_id) == [] and events(invalid_id) == [] and events(inactive_id) == []
    assert "boom" in caplog.text and "nobody-registered-this" in caplog.text


def test_processor_work_is_rolled_back_when_it_fails(scale_env, processors):
    def half_done(session, event, last):
        f.make_error(session, name="written-then-failed")
        raise RuntimeError("half done")

    processors("test-half", half_done)
    clock_rule("test-half")
    clock.tick(at(10, 3, 0))
    with session_scope() as s:
        assert f.error_by_name(s, "written-then-failed") is None


def test_daily_metrics_runs_hooks_for_each_missed_day(scale_env):
    seen: list[date] = []

    def hook(session, day):
        seen.append(day)

    clock.add_daily_metrics_hook(hook)
    try:
        clock_rule("scale-daily-metrics", schedule="PT24H", event_type="DAILY_METRICS")
        clock.tick(at(5, 0, 10))
        assert seen == [date(2024, 3, 4)]
        seen.clear()
        clock.tick(at(5, 12, 0))  # same day: nothing
        assert seen == []
        clock.tick(at(9, 0, 5))  # down for days: one firing, every missed day computed
        assert seen == [date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7), date(2024, 3, 8)]
    finally:
        clock.DAILY_METRICS_HOOKS.remove(hook)


def test_beat_schedule_sends_the_tick():
    import celeryconfig
    from tasks.celery_app import app

    entry = next(e for e in celeryconfig.beat_schedule.values() if e["task"] == "tasks.clock.tick")
    assert entry["schedule"].period.total_seconds() == 60  # CLOCK_PERIOD's default, PT1M
    app.loader.import_default_modules()  # what a worker does at start: the configured task modules
    assert {"tasks.clock.tick", "tasks.ingest.ingest_files"} <= set(app.tasks)
