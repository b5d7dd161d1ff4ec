"""GET /load/ and the beat task that samples the load (tasks.metrics_load)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.models import JobLoad
from tasks.metrics_load import record_job_load, sample_job_load
from tests import factories as f


def load(client, query: str = "") -> dict:
    response = client.get(f"/load/{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def types(session):
    alpha = f.make_job_type(session, name="alpha", category="imagery", priority=10)
    beta = f.make_job_type(session, name="beta", category="text", priority=20)
    session.commit()
    return alpha, beta


def test_sampling_counts_pending_queued_and_running_per_job_type(session, types):
    alpha, beta = types
    for status in ("PENDING", "QUEUED", "QUEUED", "RUNNING", "COMPLETED", "FAILED"):
        f.make_job(session, alpha, status)
    f.make_job(session, beta, "RUNNING")
    retired = f.make_job_type(session, name="retired", is_active=False)
    session.commit()

    now = utcnow()
    assert record_job_load(session, now) == 2  # the archived type has no live jobs
    session.commit()
    rows = {r.job_type_id: r for r in session.scalars(select(JobLoad))}
    assert set(rows) == {alpha.id, beta.id}
    assert (rows[alpha.id].pending_count, rows[alpha.id].queued_count, rows[alpha.id].running_count) == (1, 2, 1)
    assert (rows[beta.id].pending_count, rows[beta.id].queued_count, rows[beta.id].running_count) == (0, 0, 1)
    assert rows[alpha.id].measured == now.replace(second=0, microsecond=0)

    # The same minute again (a duplicated beat) writes nothing; an archived type with live jobs is sampled.
    f.make_job(session, retired, "QUEUED")
    session.commit()
    assert record_job_load(session, now) == 0
    assert record_job_load(session, now + timedelta(minutes=1)) == 3


def test_celery_task_writes_one_sample_per_minute(session, types):
    assert sample_job_load.name == "tasks.metrics_load.sample_job_load"
    assert sample_job_load.apply().get() == {"samples": 2}
    assert sample_job_load.apply().get() == {"samples": 0}
    assert session.scalar(select(func.count()).select_from(JobLoad)) == 2


def test_beat_schedule_runs_the_sampler():
    import celeryconfig

    assert "tasks.metrics_load" in celeryconfig.imports
    entries = [e for e in celeryconfig.beat_schedule.values() if e["task"] == "tasks.metrics_load.sample_job_load"]
    assert entries and entries[0]["schedule"] == 60.0


@pytest.fixture
def samples(session, types):
    """Three samples over the last hour, plus one 10 days ago."""
    alpha, beta = types
    now = utcnow()
    for minutes_ago, a, b in ((50, (1, 2, 3), (10, 20, 30)), (20, (0, 5, 1), (0, 0, 2)), (5, (2, 0, 0), (1, 1, 1))):
        f.make_job(session, alpha)  # not counted: /load/ reads samples only
        measured = now - timedelta(minutes=minutes_ago)
        session.add(
            JobLoad(job_type_id=alpha.id, measured=measured, pending_count=a[0], queued_count=a[1], running_count=a[2])
        )
        session.add(
            JobLoad(job_type_id=beta.id, measured=measured, pending_count=b[0], queued_count=b[1], running_count=b[2])
        )
    session.add(
        JobLoad(
            job_type_id=alpha.id, measured=now - timedelta(days=10), pending_count=9, queued_count=9, running_count=9
        )
    )
    session.commit()
    return alpha, beta


def test_load_sums_job_types_per_sample_time(client, samples):
    body = load(client)
    assert body["count"] == 3 and body["next"] is None
    assert [(r["pending_count"], r["queued_count"], r["running_count"]) for r in body["results"]] == [
        (11, 22, 33),
        (0, 5, 3),
        (3, 1, 1),
    ]
    assert set(body["results"][0]) == {"time", "pending_count", "queued_count", "running_count"}
    assert body["results"][0]["time"].endswith("Z")


def test_load_filters(client, samples):
    alpha, beta = samples
    expected_alpha = [(1, 2, 3), (0, 5, 1), (2, 0, 0)]

    def counts(query):
        return [(r["pending_count"], r["queued_count"], r["running_count"]) for r in load(client, query)["results"]]

    assert counts(f"?job_type_id={alpha.id}") == expected_alpha
    assert counts("?job_type_name=alpha") == expected_alpha
    assert counts("?job_type_category=imagery") == expected_alpha
    assert counts("?job_type_priority=20") == [(10, 20, 30), (0, 0, 2), (1, 1, 1)]
    assert counts("?priority=10") == expected_alpha
    assert counts("?started=PT30M") == [(0, 5, 3), (3, 1, 1)]
    assert counts("?started=P12D&ended=P9D") == [(9, 9, 9)]
    assert counts("?ended=P9D") == [(9, 9, 9)]  # started defaults to 7 days before ended
    page = load(client, "?page_size=2")
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("?started=P40D", "31 days"),
        ("?job_type_id=a", "job_type_id"),
        ("?job_type_priority=high", "job_type_priority"),
        ("?started=2020-01-01T00:00:00", "time zone"),
        ("?started=PT1H&ended=PT2H", "before"),
    ],
)
def test_load_refuses_bad_parameters(client, session, query, message):
    response = client.get(f"/load/{query}")
    assert response.status_code == 400
    assert message in response.get_json()["detail"]
