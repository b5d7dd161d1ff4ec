"""The console's pages and buttons through Flask's client: escaping, refusals, redirects (no browser needed)."""

from __future__ import annotations

from datetime import timedelta

from app.db import utcnow
from app.models import Job, MetricsJobType
from tests import factories as f

NASTY = "<img src=x onerror=alert(1)>"


def test_root_is_the_console_and_swagger_stays(client):
    assert b"Dashboard" in client.get("/").data
    assert client.get("/docs/").status_code == 200


def test_user_data_is_escaped_on_the_job_page(client, session):
    job_type = f.make_job_type(session, title=NASTY)
    job = f.make_job(
        session,
        job_type,
        status="FAILED",
        data={"version": "1.0", "input_data": [{"name": "note", "value": NASTY}], "output_data": []},
    )
    session.commit()
    for url in (f"/console/jobs/{job.id}", f"/console/job-types/{job_type.id}", "/console/job-types"):
        page = client.get(url).get_data(as_text=True)
        assert NASTY not in page, url
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get(f"/console/jobs/{job.id}").get_data(as_text=True)


def test_a_refused_button_shows_the_api_message(client, session):
    job = f.make_job(session, f.make_job_type(session), status="COMPLETED")
    session.commit()
    api_message = client.patch(f"/jobs/{job.id}/", json={"status": "CANCELED"}).get_json()["detail"]
    response = client.post(f"/console/jobs/{job.id}/cancel", data={"next": f"/console/jobs/{job.id}"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert api_message in page and 'class="flash error"' in page
    assert session.get(Job, job.id).status == "COMPLETED"
    requeue = client.post(f"/console/jobs/{job.id}/requeue", data={"next": "/"})
    assert "only+FAILED+or+CANCELED" in requeue.headers["Location"]


def test_buttons_redirect_only_to_local_pages(client, session):
    job = f.make_job(session, f.make_job_type(session), status="FAILED")
    session.commit()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        response = client.post(f"/console/jobs/{job.id}/requeue", data={"next": target})
        assert response.headers["Location"].startswith("/?"), target


def test_cross_origin_posts_are_refused(client):
    response = client.post("/console/scheduler", data={"is_paused": "true"}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert client.get("/scheduler/").get_json()["is_paused"] is False


def test_bad_filters_are_a_400_page_with_the_message(client):
    response = client.get("/console/jobs?status=DONE")
    assert response.status_code == 400
    assert "Invalid value for &#39;status&#39;: DONE" in response.get_data(as_text=True)


def test_hold_reason_is_checked_like_the_api(client, session):
    node = f.make_node(session)
    session.commit()
    response = client.post(f"/console/nodes/{node.id}/hold", data={"pause_reason": "x" * 251, "next": "/console/nodes"})
    assert "at+most+250" in response.headers["Location"]
    response = client.post(f"/console/nodes/{node.id}/hold", data={"pause_reason": "disk", "next": "/console/nodes"})
    assert "held" in response.headers["Location"]
    assert client.get(f"/nodes/{node.id}/").get_json()["pause_reason"] == "disk"


def test_metrics_page_draws_the_plot_data(client, session):
    job_type = f.make_job_type(session)
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    for days, count in ((2, 3), (1, 5), (0, 4)):
        session.add(
            MetricsJobType(
                job_type_id=job_type.id, occurred=today - timedelta(days=days), values={"completed_count": count}
            )
        )
    session.commit()
    page = client.get(f"/console/metrics?metric=job-types&column=completed_count&choice_id={job_type.id}").get_data(
        as_text=True
    )
    assert page.count("<circle") == 3
    assert "5</title>" in page


def test_job_type_pause_toggle(client, session):
    job_type = f.make_job_type(session)
    session.commit()
    response = client.post(
        f"/console/job-types/{job_type.id}/pause", data={"is_paused": "true", "next": "/console/job-types"}
    )
    assert "paused" in response.headers["Location"]
    assert client.get(f"/job-types/{job_type.id}/").get_json()["is_paused"] is True
    page = client.get("/console/job-types").get_data(as_text=True)
    assert "Resume" in page


def test_pool_buttons_give_the_api_refusal(client, session):
    created = client.post("/resource-pools/", json={"name": "gpu", "hostname_pattern": "gpu-*"})
    assert created.status_code == 201, created.get_json()
    pool_id = created.get_json()["id"]
    first = client.post(f"/console/pools/{pool_id}/freeze", data={"next": "/console/nodes"})
    assert "FROZEN" in first.headers["Location"]
    api_message = client.post(f"/resource-pools/{pool_id}/freeze/", json={}).get_json()["detail"]
    again = client.post(f"/console/pools/{pool_id}/freeze", data={"next": "/console/nodes"})
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert api_message.replace("'", "&#39;") in page


def test_a_queued_job_page_says_why_it_waits(client, session):
    job = f.make_job(session, f.make_job_type(session), status="QUEUED")
    detail = "needs 16384 MiB memory; the largest node offers 8192"
    f.make_scheduling_reason(session, job, "does_not_fit_anywhere", detail)
    session.commit()
    page = client.get(f"/console/jobs/{job.id}").get_data(as_text=True)
    assert 'data-reason="does_not_fit_anywhere"' in page and detail in page


def test_the_dashboard_counts_queued_jobs_by_why_they_wait(client, session):
    job = f.make_job(session, f.make_job_type(session), status="QUEUED")
    f.make_job(session, f.make_job_type(session), status="QUEUED")
    f.make_scheduling_reason(session, job, "job_type_paused", "paused")
    session.commit()
    page = client.get("/").get_data(as_text=True)
    assert 'id="queue-reasons"' in page
    assert "job type paused 1" in page and "not examined 1" in page


def test_the_dashboard_shows_the_autoscalers_latest_decisions(client, session):
    from app.models import AutoscaleDecision
    from tests.test_status import write_report

    session.add(
        AutoscaleDecision(
            pool_name="burst",
            action="LAUNCH",
            hostnames=["burst-1a2b3c"],
            reason="3 queued jobs ... need 2 nodes",
            created=utcnow(),
        )
    )
    write_report(session)
    page = client.get("/").get_data(as_text=True)
    assert 'id="autoscale-decisions"' in page
    assert "burst-1a2b3c" in page and "need 2 nodes" in page and "(auto mode off)" in page
