"""POST /queue/new-job/, /queue/new-recipe/, /queue/requeue-jobs/, /queue/requeue-job/, GET /queue/status/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.models import Job, Recipe, TriggerEvent
from tests import factories as f
from tests.test_api_jobs import JOB_FIELDS, broker, sent_tasks  # noqa: F401 (broker is a fixture)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def processor(session):
    ws = f.make_workspace(session, name="products")
    source = f.make_file(session, ws, file_name="in.txt", file_size=3 * 1024 * 1024)
    job_type = f.make_job_type(
        session, interface=dict(f.FILE_INTERFACE), name="processor", priority=50, disk_out_const_required=10.0
    )
    session.commit()
    return dict(ws=ws, source=source, job_type=job_type)


def job_data(processor, **overrides) -> dict:
    data = {
        "version": "1.0",
        "input_data": [{"name": "input_file", "file_id": processor["source"].id}, {"name": "param", "value": "x"}],
        "output_data": [{"name": "output_file", "workspace_id": processor["ws"].id}],
    }
    data.update(overrides)
    return data


# ---------------------------------------------------------------- new job


def test_new_job_is_created_and_queued(client, session, processor):
    response = client.post(
        "/queue/new-job/", json={"job_type_id": processor["job_type"].id, "job_data": job_data(processor)}
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    # the job with its new QUEUED execution, which Location names (the specification's Queue section)
    (exe,) = body["job_exes"]
    assert exe["status"] == "QUEUED" and exe["job"]["id"] == body["id"] and body["num_exes"] == 1
    assert response.headers["Location"].endswith(f"/job-executions/{exe['id']}/")
    assert JOB_FIELDS <= set(body)
    assert body["status"] == "QUEUED" and body["queued"] is not None
    assert body["priority"] == 50 and body["disk_in_required"] == 3.0 and body["disk_out_required"] == 10.0
    assert body["job_type"]["name"] == "processor"
    assert body["job_type_rev"]["interface"]["command"] == "process"
    assert body["data"]["input_data"][0] == {"name": "input_file", "file_id": processor["source"].id}
    assert body["inputs"][0]["value"]["file_name"] == "in.txt"
    assert body["recipes"] == []
    assert body["event"]["type"] == "USER" and body["event"]["description"] == {"user": "Anonymous"}
    assert body["event"]["rule"] is None and body["event"]["occurred"]

    session.expire_all()
    job = session.get(Job, body["id"])
    assert job.status == "QUEUED" and job.queued is not None
    located = client.get(response.headers["Location"]).get_json()
    assert (located["status"], located["job"]["id"]) == ("QUEUED", body["id"])


def test_queued_data_warnings_are_in_the_answer(client, session, processor):
    image = f.make_file(session, processor["ws"], file_name="in.png", media_type="image/png")
    session.commit()
    data = job_data(processor, input_data=[{"name": "input_file", "file_id": image.id}])
    response = client.post("/queue/new-job/", json={"job_type_id": processor["job_type"].id, "job_data": data})
    assert response.status_code == 201, response.get_json()
    (warning,) = response.get_json()["warnings"]
    assert warning["id"] == "media_type" and "image/png" in warning["details"]
    plain = client.post(
        "/queue/new-job/", json={"job_type_id": processor["job_type"].id, "job_data": job_data(processor)}
    )
    assert plain.get_json()["warnings"] == []


def test_invalid_job_data_lists_every_problem_and_writes_nothing(client, session, processor):
    data = {
        "version": "1.0",
        "input_data": [{"name": "input_file", "file_id": 999999}, {"name": "nope", "value": "1"}],
        "output_data": [{"name": "output_file", "workspace_id": 888888}],
    }
    response = client.post("/queue/new-job/", json={"job_type_id": processor["job_type"].id, "job_data": data})
    assert response.status_code == 400
    body = response.get_json()
    problem_ids = {e["id"] for e in body["errors"]}
    assert {"UNKNOWN_FILE", "UNKNOWN_INPUT", "UNKNOWN_WORKSPACE"} <= problem_ids
    assert "999999" in body["detail"] and "888888" in body["detail"]
    assert count(session, Job) == 0


def test_new_job_for_unknown_job_type_is_404(client, session):
    response = client.post("/queue/new-job/", json={"job_type_id": 4242, "job_data": {}})
    assert response.status_code == 404
    assert "4242" in response.get_json()["detail"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"job_type_id": "one", "job_data": {}}, "job_type_id"),
        ({"job_data": {}}, "Missing required fields: job_type_id"),
        ({"job_type_id": 1, "job_data": [], "extra": 1}, "Unknown fields: extra"),
        ({"job_type_id": 1, "job_data": "text"}, "job_data"),
    ],
)
def test_new_job_refuses_bad_bodies(client, session, processor, body, message):
    if body.get("job_type_id") == 1:
        body["job_type_id"] = processor["job_type"].id
    response = client.post("/queue/new-job/", json=body)
    assert response.status_code == 400
    assert message in response.get_json()["detail"]
    assert count(session, Job) == 0


def test_new_job_of_an_archived_job_type_is_refused(client, session):
    job_type = f.make_job_type(session, is_active=False)
    session.commit()
    response = client.post("/queue/new-job/", json={"job_type_id": job_type.id, "job_data": {}})
    assert response.status_code == 400
    assert "archived" in response.get_json()["detail"]
    assert count(session, Job) == 0


# ---------------------------------------------------------------- new recipe

STAGE_INTERFACE = {
    "version": "1.0",
    "command": "stage",
    "command_arguments": "${first} ${job_output_dir}",
    "input_data": [{"name": "first", "type": "file"}],
    "output_data": [{"name": "out", "type": "file", "media_type": "application/octet-stream"}],
}
TWO_STAGES = {
    "version": "1.0",
    "input_data": [{"name": "source", "type": "file"}],
    "jobs": [
        {
            "name": "first",
            "job_type": {"name": "stage", "version": "1.0"},
            "recipe_inputs": [{"recipe_input": "source", "job_input": "first"}],
        },
        {
            "name": "second",
            "job_type": {"name": "stage", "version": "1.0"},
            "dependencies": [{"name": "first", "connections": [{"output": "out", "input": "first"}]}],
        },
    ],
}


@pytest.fixture
def stages(session):
    ws = f.make_workspace(session)
    source = f.make_file(session, ws, file_name="src.bin", media_type="application/octet-stream")
    f.make_job_type(session, interface=STAGE_INTERFACE, name="stage", version="1.0")
    recipe_type = f.make_recipe_type(session, definition=TWO_STAGES, name="two-stages")
    session.commit()
    return dict(ws=ws, source=source, recipe_type=recipe_type)


def test_new_recipe_creates_its_jobs_and_queues_the_root(client, session, stages):
    data = {
        "version": "1.0",
        "input_data": [{"name": "source", "file_id": stages["source"].id}],
        "workspace_id": stages["ws"].id,
    }
    response = client.post("/queue/new-recipe/", json={"recipe_type_id": stages["recipe_type"].id, "recipe_data": data})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/recipes/{body['id']}/")
    assert body["recipe_type"]["name"] == "two-stages" and body["recipe_type"]["definition"]["jobs"]
    assert body["input_files"][0]["id"] == stages["source"].id
    statuses = {j["job_name"]: j["job"]["status"] for j in body["jobs"]}
    assert statuses == {"first": "QUEUED", "second": "PENDING"}
    assert body["event"]["type"] == "USER" and body["event"]["description"] == {"user": "Anonymous"}
    assert client.get(response.headers["Location"]).status_code == 200


def test_invalid_recipe_data_is_400_with_nothing_written(client, session, stages):
    data = {"version": "1.0", "input_data": [{"name": "source", "file_id": 777777}], "workspace_id": 666666}
    response = client.post("/queue/new-recipe/", json={"recipe_type_id": stages["recipe_type"].id, "recipe_data": data})
    assert response.status_code == 400
    assert "777777" in response.get_json()["detail"] and "666666" in response.get_json()["detail"]
    assert count(session, Recipe) == 0 and count(session, Job) == 0 and count(session, TriggerEvent) == 0


def test_new_recipe_errors(client, session, stages):
    assert client.post("/queue/new-recipe/", json={"recipe_type_id": 5555, "recipe_data": {}}).status_code == 404
    response = client.post("/queue/new-recipe/", json={"recipe_type_id": stages["recipe_type"].id, "data": {}})
    assert response.status_code == 400 and "Unknown fields: data" in response.get_json()["detail"]
    response = client.post("/queue/new-recipe/", json={"recipe_type_id": True})
    assert response.status_code == 400


# ---------------------------------------------------------------- requeue


@pytest.fixture
def failures(session):
    old = utcnow() - timedelta(days=3)
    alpha = f.make_job_type(session, name="alpha", category="imagery", max_tries=2)
    beta = f.make_job_type(session, name="beta", category="text")
    jobs = dict(
        failed_alpha=f.make_job(session, alpha, "FAILED", num_exes=3, max_tries=3),
        canceled_alpha=f.make_job(session, alpha, "CANCELED"),
        completed_alpha=f.make_job(session, alpha, "COMPLETED"),
        failed_beta=f.make_job(session, beta, "FAILED", error_id=f.error_by_name(session, "missing-output").id),
        old_failed_beta=f.make_job(session, beta, "FAILED", last_modified=old),
        running_beta=f.make_job(session, beta, "RUNNING"),
    )
    session.commit()
    return dict(alpha=alpha, beta=beta, **jobs)


def statuses(session, failures) -> dict[str, str]:
    session.expire_all()
    return {name: session.get(Job, job.id).status for name, job in failures.items() if isinstance(job, Job)}


def test_requeue_by_job_type_name_queues_failed_and_canceled(client, session, failures, broker):  # noqa: F811 (broker is a fixture)
    response = client.post("/queue/requeue-jobs/", json={"job_type_names": ["alpha"], "priority": 5})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["count"] == 2 and body["next"] is None
    assert [r["id"] for r in body["results"]] == sorted([failures["failed_alpha"].id, failures["canceled_alpha"].id])
    assert all(r["status"] == "QUEUED" and r["priority"] == 5 for r in body["results"])
    assert set(body["results"][0]) == JOB_FIELDS
    now = statuses(session, failures)
    assert now["failed_alpha"] == "QUEUED" and now["canceled_alpha"] == "QUEUED"
    assert now["completed_alpha"] == "COMPLETED" and now["failed_beta"] == "FAILED"
    # Three tries spent, the job type allows two more.
    assert session.get(Job, failures["failed_alpha"].id).max_tries == 5


def test_requeue_filters(client, session, failures):
    response = client.post("/queue/requeue-jobs/", json={"status": "CANCELED"})
    assert [r["id"] for r in response.get_json()["results"]] == [failures["canceled_alpha"].id]
    response = client.post("/queue/requeue-jobs/", json={"error_categories": ["ALGORITHM"]})
    assert [r["id"] for r in response.get_json()["results"]] == [failures["failed_beta"].id]
    response = client.post("/queue/requeue-jobs/", json={"job_type_categories": ["text"], "started": "P1D"})
    assert response.get_json()["count"] == 0  # the recent text failure was requeued above
    response = client.post(
        "/queue/requeue-jobs/", json={"job_ids": [failures["old_failed_beta"].id, failures["running_beta"].id]}
    )
    assert [r["id"] for r in response.get_json()["results"]] == [failures["old_failed_beta"].id]
    assert statuses(session, failures)["running_beta"] == "RUNNING"


def test_requeue_sends_recipe_updates(client, session, broker):  # noqa: F811 (broker is a fixture)
    job = f.make_job(session, f.make_job_type(session), "FAILED")
    recipe = f.make_recipe(session, f.make_recipe_type(session), jobs={"only": job})
    session.commit()
    response = client.post("/queue/requeue-jobs/", json={"job_ids": [job.id]})
    assert response.get_json()["count"] == 1
    assert ("tasks.jobs.update_recipes", [[recipe.id]]) in sent_tasks(broker)


def test_requeue_reports_every_bad_filter(client, session, failures):
    response = client.post(
        "/queue/requeue-jobs/",
        json={
            "status": ["RUNNING"],
            "job_ids": ["a"],
            "priority": "high",
            "started": "2020-01-01T00:00:00",
            "error_categories": ["NOPE"],
        },
    )
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    for word in ("status", "job_ids", "priority", "time zone", "error_categories"):
        assert word in detail
    assert client.post("/queue/requeue-jobs/", json={"bogus": 1}).status_code == 400
    response = client.post(
        "/queue/requeue-jobs/", json={"started": "2021-01-01T00:00:00Z", "ended": "2020-01-01T00:00:00Z"}
    )
    assert response.status_code == 400
    assert statuses(session, failures)["failed_alpha"] == "FAILED"


def test_single_job_requeue_alias(client, session, failures):
    response = client.post("/queue/requeue-job/", json={"job_id": failures["failed_beta"].id})
    assert response.status_code == 200 and response.get_json()["status"] == "QUEUED"
    response = client.post("/queue/requeue-job/", json={"job_id": failures["running_beta"].id})
    assert response.status_code == 400 and "RUNNING" in response.get_json()["detail"]
    assert client.post("/queue/requeue-job/", json={"job_id": 999999}).status_code == 404


# ---------------------------------------------------------------- status


def test_queue_status_groups_queued_jobs_by_type(client, session):
    now = utcnow()
    alpha = f.make_job_type(session, name="alpha", version="2.0", is_paused=True)
    beta = f.make_job_type(session, name="beta")
    f.make_job(session, alpha, "QUEUED", priority=30, queued=now - timedelta(minutes=5))
    f.make_job(session, alpha, "QUEUED", priority=10, queued=now - timedelta(minutes=1))
    f.make_job(session, beta, "QUEUED", priority=20, queued=now - timedelta(minutes=9))
    f.make_job(session, beta, "RUNNING", priority=1)
    session.commit()

    body = client.get("/queue/status/").get_json()
    assert body["queue_status"] == [
        {
            "count": 2,
            "longest_queued": body["queue_status"][0]["longest_queued"],
            "job_type_name": "alpha",
            "job_type_version": "2.0",
            "highest_priority": 10,
            "is_job_type_paused": True,
        },
        {
            "count": 1,
            "longest_queued": body["queue_status"][1]["longest_queued"],
            "job_type_name": "beta",
            "job_type_version": "1.0",
            "highest_priority": 20,
            "is_job_type_paused": False,
        },
    ]
    assert body["queue_status"][0]["longest_queued"].startswith((now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))


def test_queue_status_when_nothing_is_queued(client, session):
    assert client.get("/queue/status/").get_json() == {"queue_status": [], "reasons": {}}
