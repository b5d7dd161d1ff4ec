"""GET /prometheus: the text format, read fresh from the database on every scrape."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from app.db import utcnow
from app.models import Scheduler
from app.settings import settings
from tests.factories import make_execution, make_job, make_job_type, make_node
from tests.test_status import write_report


def scrape(client) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = client.get("/prometheus")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_queue_jobs_and_nodes(client, session):
    job_type = make_job_type(session, name="render", version="2.0")
    for _ in range(3):
        make_job(session, job_type, "QUEUED")
    make_execution(session, make_job(session, job_type, "RUNNING"), "RUNNING", make_node(session, last_offer=utcnow()))
    make_job(session, job_type, "FAILED")
    make_job(session, job_type, "COMPLETED")
    make_node(session, is_paused=True)
    session.commit()

    samples = scrape(client)

    assert samples[("scale_queue_depth", ())] == 3
    assert samples[("scale_jobs_running", ())] == 1
    assert samples[("scale_jobs", (("status", "FAILED"),))] == 1
    assert samples[("scale_jobs", (("status", "COMPLETED"),))] == 1
    assert samples[("scale_jobs", (("status", "CANCELED"),))] == 0
    assert samples[("scale_job_type_queued", (("job_type", "render"), ("version", "2.0")))] == 3
    assert samples[("scale_job_executions", (("status", "RUNNING"),))] == 1
    assert samples[("scale_nodes", (("state", "READY"),))] == 1
    assert samples[("scale_nodes", (("state", "PAUSED"),))] == 1
    assert samples[("scale_scheduler_up", ())] == 0
    assert ("scale_scheduler_jobs_launched_total", ()) not in samples

    # Nothing accumulates between scrapes: a second one reads the same database state.
    assert scrape(client) == samples


def test_scheduler_counters_and_rates_from_the_status_report(client, session):
    write_report(session, [])

    samples = scrape(client)

    assert samples[("scale_scheduler_up", ())] == 1
    assert samples[("scale_scheduler_jobs_launched_total", ())] == 40
    assert samples[("scale_scheduler_new_offers_total", ())] == 100
    assert samples[("scale_scheduler_task_updates_per_sec", ())] == 3.0
    assert samples[("scale_scheduler_paused", ())] == 0
    assert 0 <= samples[("scale_scheduler_status_age_seconds", ())] < settings.SCHEDULER_STATUS_STALE


def test_a_stale_report_is_flagged(client, session):
    write_report(session, [], age=settings.SCHEDULER_STATUS_STALE + 30)
    session.get(Scheduler, 1).is_paused = True
    session.commit()

    samples = scrape(client)

    assert samples[("scale_scheduler_up", ())] == 0
    assert samples[("scale_scheduler_paused", ())] == 1
    assert samples[("scale_scheduler_status_age_seconds", ())] > settings.SCHEDULER_STATUS_STALE
