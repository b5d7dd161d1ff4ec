"""Celery beat's day-anchored schedule: the same decisions as clock trigger rules."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone

import pytest

from tasks.schedules import AnchoredPeriod


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def hourly(monkeypatch):
    schedule = AnchoredPeriod("PT1H")

    def set_now(moment: datetime) -> AnchoredPeriod:
        monkeypatch.setattr(schedule, "_now_utc", lambda: moment)
        return schedule

    return set_now


def test_fires_on_the_hour_after_a_late_run_without_drifting(hourly):
    assert hourly(at(12, 30)).is_due(at(11, 0)).is_due  # the 12:00 slot has not run yet
    state = hourly(at(12, 30)).is_due(at(12, 0))
    assert not state.is_due
    assert state.next == pytest.approx(30 * 60)  # next at 13:00, not 13:30 after a 12:30 run
    assert not hourly(at(12, 59)).is_due(at(12, 30)).is_due


def test_a_period_missed_while_beat_was_down_fires_once(hourly):
    assert hourly(at(9, 5, day=15)).is_due(at(11, 0, day=10)).is_due
    assert not hourly(at(9, 6, day=15)).is_due(at(9, 5, day=15)).is_due


def test_naive_last_run_is_read_as_utc(hourly):
    assert not hourly(at(12, 30)).is_due(datetime(2026, 11, 10, 12, 0)).is_due


def test_survives_beats_persistent_schedule_file():
    schedule = pickle.loads(pickle.dumps(AnchoredPeriod("PT15M")))
    assert schedule == AnchoredPeriod("PT15M")
    assert repr(schedule) == "<AnchoredPeriod PT15M>"


def test_refuses_a_period_that_is_not_iso_8601():
    with pytest.raises(ValueError):
        AnchoredPeriod("every hour")
