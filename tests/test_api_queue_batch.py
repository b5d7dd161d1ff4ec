"""POST /queue/new-jobs/: many jobs in one request, all or nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import Job
from tests import factories as f
from tests.test_api_jobs import broker, sent_tasks  # noqa: F401 (broker is a fixture)
from tests import test_api_queue
from tests.test_api_queue import job_data

processor = test_api_queue.processor  # the fixture, shared


def job_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Job))


def test_every_job_is_created_and_queued(client, session, processor):
    items = [{"job_type_id": processor["job_type"].id, "job_data": job_data(processor)} for _ in range(25)]
    response = client.post("/queue/new-jobs/", json={"jobs": items})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["count"] == 25 and len(body["jobs"]) == 25
    ids = [j["id"] for j in body["jobs"]]
    assert body["jobs"][0]["url"].endswith(f"/jobs/{ids[0]}/")
    session.expire_all()
    jobs = session.scalars(select(Job).where(Job.id.in_(ids))).all()
    assert {j.status for j in jobs} == {"QUEUED"}
    assert {j.disk_in_required for j in jobs} == {3.0} and {j.priority for j in jobs} == {50}
    detail = client.get(body["jobs"][3]["url"]).get_json()
    assert detail["data"]["input_data"][0]["file_id"] == processor["source"].id
    assert {j.num_exes for j in jobs} == {1} and detail["job_exes"][0]["status"] == "QUEUED"
    assert detail["event"]["type"] == "USER" and body["warnings"] == []


def test_data_warnings_name_their_item(client, session, processor):
    image = f.make_file(session, processor["ws"], file_name="in.png", media_type="image/png")
    session.commit()
    odd = job_data(processor, input_data=[{"name": "input_file", "file_id": image.id}])
    items = [{"job_type_id": processor["job_type"].id, "job_data": d} for d in (job_data(processor), odd)]
    body = client.post("/queue/new-jobs/", json={"jobs": items}).get_json()
    (warning,) = body["warnings"]
    assert warning["id"] == "media_type" and warning["details"].startswith("jobs[1]: ")


def test_one_bad_item_queues_nothing_and_every_problem_is_named(client, session, processor):
    good = {"job_type_id": processor["job_type"].id, "job_data": job_data(processor)}
    archived = f.make_job_type(session, name="old", is_active=False)
    session.commit()
    before = job_count(session)
    items = [
        good,
        {"job_type_id": 4242},
        good,
        {"job_type_id": processor["job_type"].id, "job_data": {"version": "1.0"}},
        "not an object",
        {"job_type_id": "1"},
        {"job_type_id": archived.id},
        {"job_type_id": 1, "extra": 1},
    ]
    response = client.post("/queue/new-jobs/", json={"jobs": items})
    assert response.status_code == 400
    problems = response.get_json()["problems"]
    assert any(p.startswith("jobs[1]: job type 4242 does not exist") for p in problems)
    assert any(p.startswith("jobs[3]:") for p in problems)
    assert any(p.startswith("jobs[4] must be an object") for p in problems)
    assert any(p.startswith("jobs[5]: 'job_type_id' must be an integer") for p in problems)
    assert any(p.startswith("jobs[6]:") and "archived" in p for p in problems)
    assert any(p.startswith("jobs[7]: unknown fields: extra") for p in problems)
    assert not any(p.startswith(("jobs[0]", "jobs[2]")) for p in problems)
    session.expire_all()
    assert job_count(session) == before


def test_the_list_is_required_and_bounded(client, session, processor):
    for body in ({}, {"jobs": []}, {"jobs": {}}, {"jobs": [{}], "other": 1}):
        response = client.post("/queue/new-jobs/", json=body)
        assert response.status_code == 400, body
    response = client.post("/queue/new-jobs/", json={"jobs": [{"job_type_id": 1}] * 1001})
    assert response.status_code == 400 and "at most 1000" in response.get_json()["detail"]
