"""Daily metrics: the rollups (idempotent per day), the beat task, and GET /metrics/..."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

import celeryconfig
from app.models import Ingest, MetricsError, MetricsIngest, MetricsJobType, Strike
from app.services.metrics import calculate_day
from tests.factories import error_by_name, make_execution, make_job, make_job_type

DAY = date(2024, 5, 1)
NOON = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def _at(seconds: float) -> datetime:
    return NOON + timedelta(seconds=seconds)


def _timed_execution(session, job, queue: float, pre: float, run_job: float, post: float):
    """An execution ending on DAY whose steps took the given seconds."""
    started = _at(queue)
    job_started = started + timedelta(seconds=pre)
    job_completed = job_started + timedelta(seconds=run_job)
    ended = job_completed + timedelta(seconds=post)
    return make_execution(
        session,
        job,
        job.status,
        queued=NOON,
        started=started,
        pre_started=started,
        pre_completed=job_started,
        job_started=job_started,
        job_completed=job_completed,
        post_started=job_completed,
        post_completed=ended,
        ended=ended,
    )


@pytest.fixture
def day_of_work(session):
    """Two job types' jobs on DAY (plus one the day before), and one Strike's ingests."""
    alpha = make_job_type(session, name="alpha", version="1.0")
    beta = make_job_type(session, name="beta", version="2.0")
    done = make_job(session, alpha, "COMPLETED", ended=_at(45))
    _timed_execution(session, done, queue=10, pre=2, run_job=30, post=3)
    failed = make_job(session, alpha, "FAILED", ended=_at(60), error_id=error_by_name(session, "node-lost").id)
    _timed_execution(session, failed, queue=20, pre=1, run_job=10, post=4)
    make_job(session, alpha, "FAILED", ended=_at(70), error_id=error_by_name(session, "algorithm-unknown").id)
    make_job(session, alpha, "CANCELED", ended=_at(80))
    make_job(session, beta, "COMPLETED", ended=_at(90))
    make_job(session, beta, "COMPLETED", ended=NOON - timedelta(days=1))  # another day
    make_job(session, beta, "RUNNING")  # not finished: not counted

    strike = Strike(name="incoming", configuration={"version": "1.0"})
    session.add(strike)
    session.flush()
    for i, (status, size) in enumerate((("INGESTED", 100), ("INGESTED", 300), ("ERRORED", 50), ("DUPLICATE", 10))):
        session.add(
            Ingest(
                file_name=f"f{i}",
                strike_id=strike.id,
                status=status,
                file_size=size,
                transfer_started=NOON,
                transfer_ended=_at(4),
                ingest_started=_at(5),
                ingest_ended=_at(5 + i),
            )
        )
    session.add(
        Ingest(
            file_name="deferred", strike_id=strike.id, status="DEFERRED", transfer_started=NOON, transfer_ended=_at(2)
        )
    )
    session.add(Ingest(file_name="moving", strike_id=strike.id, status="TRANSFERRING", transfer_started=NOON))
    session.commit()
    return {"alpha": alpha, "beta": beta, "strike": strike}


def _values(session, model, key, choice_id) -> dict:
    return session.scalar(select(model.values).where(getattr(model, key) == choice_id))


def test_job_type_rollup(session, day_of_work):
    written = calculate_day(session, DAY)
    session.commit()

    assert written == {"job-types": 2, "ingests": 1, "errors": 2}
    alpha = _values(session, MetricsJobType, "job_type_id", day_of_work["alpha"].id)
    assert {
        k: alpha[k]
        for k in (
            "total_count",
            "completed_count",
            "failed_count",
            "canceled_count",
            "error_system_count",
            "error_algorithm_count",
            "error_data_count",
        )
    } == {
        "total_count": 4,
        "completed_count": 1,
        "failed_count": 2,
        "canceled_count": 1,
        "error_system_count": 1,
        "error_algorithm_count": 1,
        "error_data_count": 0,
    }
    assert (alpha["queue_time_sum"], alpha["queue_time_min"], alpha["queue_time_max"], alpha["queue_time_avg"]) == (
        30,
        10,
        20,
        15,
    )
    assert (alpha["job_time_min"], alpha["job_time_max"]) == (10, 30)
    assert (alpha["run_time_min"], alpha["run_time_max"]) == (15, 35)
    beta = _values(session, MetricsJobType, "job_type_id", day_of_work["beta"].id)
    assert (beta["completed_count"], beta["total_count"]) == (1, 1)
    assert "queue_time_sum" not in beta  # no execution timed


def test_ingest_and_error_rollups(session, day_of_work):
    calculate_day(session, DAY)
    session.commit()

    ingests = _values(session, MetricsIngest, "strike_id", day_of_work["strike"].id)
    assert {
        k: ingests[k] for k in ("total_count", "ingested_count", "errored_count", "deferred_count", "duplicate_count")
    } == {"total_count": 5, "ingested_count": 2, "errored_count": 1, "deferred_count": 1, "duplicate_count": 1}
    assert (ingests["file_size_sum"], ingests["file_size_min"], ingests["file_size_max"]) == (400, 100, 300)
    assert ingests["transfer_time_max"] == 4

    assert _values(session, MetricsError, "error_id", error_by_name(session, "node-lost").id) == {"total_count": 1}
    assert _values(session, MetricsError, "error_id", error_by_name(session, "algorithm-unknown").id) == {
        "total_count": 1
    }


def test_recalculating_a_day_replaces_its_rows(session, day_of_work):
    calculate_day(session, DAY)
    calculate_day(session, DAY)
    session.commit()
    assert session.scalar(select(func.count()).select_from(MetricsJobType)) == 2

    make_job(session, day_of_work["beta"], "COMPLETED", ended=_at(100))
    calculate_day(session, DAY)
    session.commit()
    assert session.scalar(select(func.count()).select_from(MetricsJobType)) == 2
    assert _values(session, MetricsJobType, "job_type_id", day_of_work["beta"].id)["completed_count"] == 2


def test_daily_metrics_task_is_scheduled_and_computes_a_day(session, day_of_work):
    from tasks.metrics import daily_metrics

    assert "tasks.metrics" in celeryconfig.imports
    assert any(entry["task"] == "tasks.metrics.daily_metrics" for entry in celeryconfig.beat_schedule.values())

    result = daily_metrics(DAY.isoformat())
    assert result == {"2024-05-01": {"job-types": 2, "ingests": 1, "errors": 2}}
    assert session.scalar(select(func.count()).select_from(MetricsJobType)) == 2
    assert set(daily_metrics()) == {(datetime.now(timezone.utc).date() - timedelta(days=d)).isoformat() for d in (0, 1)}


# ---------------------------------------------------------------- API


def test_metrics_list_and_details(client, session, day_of_work):
    body = client.get("/metrics/").get_json()
    assert [m["name"] for m in body["results"]] == ["job-types", "ingests", "errors"]
    job_types = body["results"][0]
    assert {"param": "name", "type": "string"} in job_types["filters"]
    assert "overview" in [g["name"] for g in job_types["groups"]]
    completed = next(c for c in job_types["columns"] if c["name"] == "completed_count")
    assert completed == {
        "name": "completed_count",
        "title": "Completed Count",
        "description": "Number of successfully completed jobs.",
        "units": "count",
        "group": "overview",
        "aggregate": "sum",
    }

    details = client.get("/metrics/job-types/").get_json()
    assert [c["name"] for c in details["choices"]] == ["alpha", "beta"]
    assert client.get("/metrics/job-types/?name=beta").get_json()["choices"][0]["id"] == day_of_work["beta"].id
    assert client.get("/metrics/ingests/").get_json()["choices"][0]["name"] == "incoming"
    assert "node-lost" in [c["name"] for c in client.get("/metrics/errors/?category=SYSTEM").get_json()["choices"]]
    response = client.get("/metrics/nope/")
    assert response.status_code == 404 and response.get_json()["detail"] == "Metrics type nope does not exist"


def test_plot_data(client, session, day_of_work):
    calculate_day(session, DAY)
    calculate_day(session, DAY - timedelta(days=1))
    session.commit()
    alpha, beta = day_of_work["alpha"].id, day_of_work["beta"].id
    url = "/metrics/job-types/plot-data/?column=completed_count"

    (combined,) = client.get(url).get_json()["results"]
    assert combined["values"] == [{"date": "2024-04-30", "value": 1}, {"date": "2024-05-01", "value": 2}]
    assert (combined["min_x"], combined["max_x"], combined["min_y"], combined["max_y"]) == (
        "2024-04-30",
        "2024-05-01",
        1,
        2,
    )

    (one,) = client.get(f"{url}&choice_id={alpha}").get_json()["results"]
    assert one["values"] == [{"date": "2024-05-01", "value": 1}]

    (several,) = client.get(f"{url}&choice_id={alpha}&choice_id={beta}&started=2024-05-01T00:00:00Z").get_json()[
        "results"
    ]
    assert several["values"] == [
        {"id": alpha, "date": "2024-05-01", "value": 1},
        {"id": beta, "date": "2024-05-01", "value": 1},
    ]

    (by_filter,) = client.get(f"{url}&name=beta").get_json()["results"]
    assert [v["value"] for v in by_filter["values"]] == [1, 1]

    body = client.get(f"/metrics/job-types/plot-data/?group=queue_time&choice_id={alpha}").get_json()
    assert [s["column"]["name"] for s in body["results"]] == [
        "queue_time_sum",
        "queue_time_min",
        "queue_time_max",
        "queue_time_avg",
    ]
    assert body["results"][3]["values"] == [{"date": "2024-05-01", "value": 15}]


def test_plot_data_refuses_unknown_columns_groups_and_choices(client, day_of_work):
    detail = client.get("/metrics/job-types/plot-data/?column=speed&group=fun").get_json()["detail"]
    assert detail == "Unknown columns or groups for job-types: speed, fun"
    response = client.get("/metrics/errors/plot-data/?choice_id=999999")
    assert response.status_code == 400 and "999999" in response.get_json()["detail"]
    assert client.get("/metrics/errors/plot-data/?choice_id=x").status_code == 400
    assert client.get("/metrics/nope/plot-data/").status_code == 404
