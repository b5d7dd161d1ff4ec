"""GET /jobs/, GET|PATCH /jobs/<id>/, GET /jobs/updates/, GET /jobs/executions/."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import redis as redis_client

from app.db import utcnow
from app.models import Job, JobExecution
from tests import factories as f

JOB_FIELDS = {
    "id",
    "job_type",
    "job_type_rev",
    "event",
    "error",
    "status",
    "priority",
    "num_exes",
    "timeout",
    "max_tries",
    "cpus_required",
    "mem_required",
    "disk_in_required",
    "disk_out_required",
    "created",
    "queued",
    "started",
    "ended",
    "last_status_change",
    "last_modified",
}
EXE_FIELDS = {
    "id",
    "status",
    "command_arguments",
    "timeout",
    "pre_started",
    "pre_completed",
    "pre_exit_code",
    "job_started",
    "job_completed",
    "job_exit_code",
    "post_started",
    "post_completed",
    "post_exit_code",
    "created",
    "queued",
    "started",
    "ended",
    "last_modified",
    "job",
    "node",
    "error",
}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [r["id"] for r in response.get_json()["results"]]


@pytest.fixture
def two_types(session):
    """Two job types with a few jobs each, last_modified spread one minute apart."""
    base = utcnow() - timedelta(hours=1)
    alpha = f.make_job_type(session, name="alpha", category="imagery")
    beta = f.make_job_type(session, name="beta", category="text")
    jobs = [
        f.make_job(session, alpha, "COMPLETED", last_modified=base + timedelta(minutes=1)),
        f.make_job(
            session,
            alpha,
            "FAILED",
            last_modified=base + timedelta(minutes=2),
            error_id=f.error_by_name(session, "missing-output").id,
        ),
        f.make_job(session, beta, "QUEUED", last_modified=base + timedelta(minutes=3)),
        f.make_job(session, beta, "FAILED", last_modified=base + timedelta(minutes=4)),
    ]
    session.commit()
    return alpha, beta, jobs


# ---------------------------------------------------------------- list


def test_list_shape_matches_the_spec(client, two_types):
    alpha, _, jobs = two_types
    body = client.get("/jobs/").get_json()
    assert body["count"] == 4 and body["next"] is None and body["previous"] is None
    first = body["results"][0]
    assert set(first) == JOB_FIELDS
    assert first["id"] == jobs[0].id
    assert first["job_type"]["name"] == "alpha" and first["job_type"]["category"] == "imagery"
    assert first["job_type_rev"] == {"id": jobs[0].job_type_rev_id, "job_type": {"id": alpha.id}, "revision_num": 1}
    assert first["status"] == "COMPLETED" and first["error"] is None
    assert first["last_modified"].endswith("Z")
    failed = body["results"][1]
    assert failed["error"]["name"] == "missing-output" and failed["error"]["category"] == "ALGORITHM"


def test_list_filters(client, two_types):
    alpha, beta, jobs = two_types
    assert ids(client.get("/jobs/?status=FAILED")) == [jobs[1].id, jobs[3].id]
    assert ids(client.get("/jobs/?status=FAILED&status=QUEUED")) == [jobs[1].id, jobs[2].id, jobs[3].id]
    assert ids(client.get(f"/jobs/?job_type_id={beta.id}")) == [jobs[2].id, jobs[3].id]
    assert ids(client.get(f"/jobs/?job_type_id={beta.id}&status=FAILED")) == [jobs[3].id]
    assert ids(client.get("/jobs/?job_type_name=alpha")) == [jobs[0].id, jobs[1].id]
    assert ids(client.get("/jobs/?job_type_category=text")) == [jobs[2].id, jobs[3].id]
    assert ids(client.get("/jobs/?error_category=SYSTEM")) == [jobs[3].id]
    assert ids(client.get("/jobs/?error_category=ALGORITHM")) == [jobs[1].id]
    assert ids(client.get(f"/jobs/?job_id={jobs[0].id}&job_id={jobs[2].id}")) == [jobs[0].id, jobs[2].id]
    started = (jobs[1].last_modified + timedelta(seconds=1)).isoformat()
    response = client.get("/jobs/", query_string={"started": started})
    assert ids(response) == [jobs[2].id, jobs[3].id]
    assert response.get_json()["count"] == 2
    ended = (jobs[1].last_modified + timedelta(seconds=1)).isoformat()
    assert ids(client.get("/jobs/", query_string={"ended": ended})) == [jobs[0].id, jobs[1].id]
    assert ids(client.get("/jobs/?started=PT10M")) == []


def test_list_order_and_pages(client, two_types):
    _, _, jobs = two_types
    assert ids(client.get("/jobs/?order=-last_modified")) == [j.id for j in reversed(jobs)]
    # nested names: beta's jobs first, then alpha's, each by id descending
    assert ids(client.get("/jobs/?order=-job_type__name&order=-id")) == [jobs[3].id, jobs[2].id, jobs[1].id, jobs[0].id]
    assert ids(client.get("/jobs/?order=job_type__name&order=status")) == [
        jobs[0].id,
        jobs[1].id,
        jobs[3].id,
        jobs[2].id,
    ]
    page1 = client.get("/jobs/?page_size=3").get_json()
    assert page1["count"] == 4 and len(page1["results"]) == 3 and page1["previous"] is None
    assert "page=2" in page1["next"]
    page2 = client.get("/jobs/?page_size=3&page=2").get_json()
    assert [r["id"] for r in page2["results"]] == [jobs[3].id]
    assert page2["next"] is None and "page=1" in page2["previous"]
    past_the_end = client.get("/jobs/?page_size=3&page=3").get_json()
    assert past_the_end["results"] == [] and past_the_end["count"] == 4


@pytest.mark.parametrize(
    "query, message",
    [
        ("job_type_id=abc", "job_type_id"),
        ("job_id=1.5", "job_id"),
        ("status=DONE", "status"),
        ("error_category=BOGUS", "error_category"),
        ("order=nonsense", "order"),
        ("order=job_type__bogus", "order"),
        ("started=2015-01-01T00:00:00", "time zone"),
        ("started=yesterday", "started"),
        ("started=2015-01-02T00:00:00Z&ended=2015-01-01T00:00:00Z", "before"),
        ("page=0", "page"),
        ("page_size=1001", "page_size"),
    ],
)
def test_list_refuses_bad_parameters(client, query, message):
    response = client.get(f"/jobs/?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["detail"]


# ---------------------------------------------------------------- details


@pytest.fixture
def finished_job(session):
    """A completed job with a file input, a property, a product output, two executions and a recipe."""
    ws = f.make_workspace(session, name="raw", base_url="http://files.test/raw")
    source = f.make_file(session, ws, file_name="input.txt")
    job_type = f.make_job_type(session, interface=dict(f.FILE_INTERFACE), name="processor")
    job = f.make_job(
        session,
        job_type,
        "COMPLETED",
        data={
            "version": "1.0",
            "input_data": [{"name": "input_file", "file_id": source.id}, {"name": "param", "value": "7"}],
            "output_data": [{"name": "output_file", "workspace_id": ws.id}],
        },
    )
    node = f.make_node(session)
    failed = f.make_execution(session, job, "FAILED", node=node, error_id=f.error_by_name(session, "unknown").id)
    done = f.make_execution(session, job, "COMPLETED", node=node)
    product = f.make_file(
        session,
        ws,
        file_name="out.txt",
        file_type="PRODUCT",
        job_id=job.id,
        job_exe_id=done.id,
        job_type_id=job_type.id,
        is_published=True,
    )
    job.results = {"version": "1.0", "output_data": [{"name": "output_file", "file_id": product.id}]}
    rule = f.make_trigger_rule(session, name="parse-txt")
    event = f.make_trigger_event(session, rule=rule, description={"file_name": "input.txt"})
    job.event_id = event.id
    recipe_type = f.make_recipe_type(session, name="pipeline")
    recipe = f.make_recipe(session, recipe_type, jobs={"process": job}, event_id=event.id)
    session.commit()
    return dict(
        job=job,
        source=source,
        product=product,
        failed=failed,
        done=done,
        recipe=recipe,
        rule=rule,
        job_type=job_type,
        node=node,
    )


def test_details_shape(client, finished_job):
    job = finished_job["job"]
    response = client.get(f"/jobs/{job.id}/")
    assert response.status_code == 200
    body = response.get_json()
    assert JOB_FIELDS <= set(body)
    assert {"data", "results", "recipes", "job_exes", "inputs", "outputs", "products", "input_files"} <= set(body)
    assert body["job_type"]["name"] == "processor" and "docker_image" in body["job_type"]
    assert body["job_type_rev"]["interface"]["command"] == "process"
    assert body["event"]["rule"]["name"] == "parse-txt" and body["event"]["description"] == {"file_name": "input.txt"}
    assert body["data"]["input_data"][0]["file_id"] == finished_job["source"].id

    inputs = {i["name"]: i for i in body["inputs"]}
    assert inputs["input_file"]["type"] == "file"
    assert inputs["input_file"]["value"]["file_name"] == "input.txt"
    assert inputs["input_file"]["value"]["workspace"]["name"] == "raw"
    assert inputs["input_file"]["value"]["url"] == "http://files.test/raw/data/input.txt"
    assert inputs["param"] == {"name": "param", "type": "property", "value": "7"}
    assert body["input_files"][0]["id"] == finished_job["source"].id

    [output] = body["outputs"]
    assert output["name"] == "output_file" and output["value"]["id"] == finished_job["product"].id
    assert output["value"]["is_published"] is True and output["value"]["job"] == {"id": job.id}
    assert [p["id"] for p in body["products"]] == [finished_job["product"].id]

    assert [e["id"] for e in body["job_exes"]] == [finished_job["done"].id, finished_job["failed"].id]
    assert set(body["job_exes"][0]) >= EXE_FIELDS
    assert body["job_exes"][0]["job"] == {"id": job.id}
    assert body["job_exes"][0]["node"]["id"] == finished_job["node"].id
    assert body["job_exes"][1]["error"]["name"] == "unknown"

    [recipe] = body["recipes"]
    assert recipe["id"] == finished_job["recipe"].id
    assert recipe["recipe_type"]["name"] == "pipeline"
    assert set(recipe) == {"id", "recipe_type", "recipe_type_rev", "event", "created", "completed", "last_modified"}


def test_details_of_unknown_job_is_404(client, session):
    response = client.get("/jobs/999999/")
    assert response.status_code == 404
    assert "999999" in response.get_json()["detail"]


# ---------------------------------------------------------------- cancel


@pytest.fixture
def broker(redis_server):
    r = redis_client.Redis.from_url(redis_server)
    r.flushdb()
    return r


def sent_tasks(r) -> list[tuple[str, list]]:
    """Celery messages waiting in the default queue: (task name, args)."""
    out = []
    for raw in r.lrange("celery", 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        out.append((message["headers"]["task"], args))
    return out


def test_cancel_running_job_cancels_its_execution_and_updates_its_recipe(client, session, broker):
    job_type = f.make_job_type(session)
    job = f.make_job(session, job_type, "RUNNING")
    exe = f.make_execution(session, job, "RUNNING")
    recipe = f.make_recipe(session, f.make_recipe_type(session), jobs={"a": job})
    session.commit()

    response = client.patch(f"/jobs/{job.id}/", json={"status": "CANCELED"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "CANCELED" and body["ended"] is not None
    assert body["job_exes"][0]["status"] == "CANCELED"

    session.expire_all()
    assert session.get(Job, job.id).status == "CANCELED"
    assert session.get(JobExecution, exe.id).kill_reason == "canceled"
    assert ("tasks.jobs.update_recipes", [[recipe.id]]) in sent_tasks(broker)
    assert client.get(f"/jobs/{job.id}/").get_json()["status"] == "CANCELED"


def test_cancel_of_a_job_outside_recipes_sends_nothing(client, session, broker):
    job = f.make_job(session, f.make_job_type(session), "QUEUED")
    session.commit()
    assert client.patch(f"/jobs/{job.id}/", json={"status": "CANCELED"}).status_code == 200
    assert sent_tasks(broker) == []


@pytest.mark.parametrize("status", ["COMPLETED", "CANCELED"])
def test_cancel_of_a_finished_job_is_refused_with_the_reason(client, session, status):
    job = f.make_job(session, f.make_job_type(session), status)
    session.commit()
    response = client.patch(f"/jobs/{job.id}/", json={"status": "CANCELED"})
    assert response.status_code == 400
    assert status in response.get_json()["detail"]
    session.expire_all()
    assert session.get(Job, job.id).status == status


@pytest.mark.parametrize(
    "body, message",
    [
        ({"status": "QUEUED"}, "CANCELED"),
        ({"status": "CANCELED", "priority": 1}, "Unknown fields: priority"),
        ({}, "Missing required fields: status"),
        ({"priority": 1}, "priority"),
    ],
)
def test_patch_refuses_anything_but_cancel(client, session, body, message):
    job = f.make_job(session, f.make_job_type(session), "QUEUED")
    session.commit()
    response = client.patch(f"/jobs/{job.id}/", json=body)
    assert response.status_code == 400
    assert message in response.get_json()["detail"]
    session.expire_all()
    assert session.get(Job, job.id).status == "QUEUED"


def test_patch_of_unknown_job_is_404_and_bad_json_is_400(client, session):
    assert client.patch("/jobs/424242/", json={"status": "CANCELED"}).status_code == 404
    response = client.patch("/jobs/424242/", data="{not json", content_type="application/json")
    assert response.status_code == 400


# ---------------------------------------------------------------- updates and executions


def test_updates_order_by_status_change_and_include_input_files(client, session):
    ws = f.make_workspace(session)
    source = f.make_file(session, ws, file_name="a.txt")
    job_type = f.make_job_type(session, interface=dict(f.FILE_INTERFACE))
    now = utcnow()
    late = f.make_job(
        session,
        job_type,
        "COMPLETED",
        last_status_change=now - timedelta(minutes=1),
        data={"version": "1.0", "input_data": [{"name": "input_file", "file_id": source.id}], "output_data": []},
    )
    early = f.make_job(session, job_type, "FAILED", last_status_change=now - timedelta(minutes=5))
    old = f.make_job(session, job_type, "FAILED", last_status_change=now - timedelta(days=2))
    session.commit()

    body = client.get("/jobs/updates/?started=P1D").get_json()
    assert [r["id"] for r in body["results"]] == [early.id, late.id]
    assert body["results"][0]["input_files"] == []
    assert body["results"][1]["input_files"][0]["file_name"] == "a.txt"
    assert set(body["results"][1]) == JOB_FIELDS | {"input_files"}
    assert ids(client.get("/jobs/updates/?status=FAILED")) == [old.id, early.id]
    assert client.get("/jobs/updates/?status=NOPE").status_code == 400


def test_jobs_with_their_latest_execution(client, session):
    job_type = f.make_job_type(session)
    retried = f.make_job(session, job_type, "RUNNING", last_modified=utcnow() - timedelta(minutes=2))
    f.make_execution(session, retried, "FAILED")
    latest = f.make_execution(session, retried, "RUNNING")
    waiting = f.make_job(session, job_type, "QUEUED", last_modified=utcnow() - timedelta(minutes=1))
    session.commit()

    body = client.get("/jobs/executions/").get_json()
    assert body["count"] == 2
    first, second = body["results"]
    assert first["id"] == retried.id and first["latest_job_exe"]["id"] == latest.id
    assert set(first["latest_job_exe"]) >= EXE_FIELDS
    assert second["id"] == waiting.id and second["latest_job_exe"] is None
    assert ids(client.get("/jobs/executions/?status=QUEUED")) == [waiting.id]
    assert client.get("/jobs/executions/?job_type_id=x").status_code == 400


def test_list_items_and_executions_have_the_serializer_shapes(client, session, finished_job):
    """The lists build their JSON from plain rows; it must equal the serializers' output."""
    from api import serializers as ser

    job = finished_job["job"]
    session.expire_all()
    orm_job = session.get(Job, job.id)
    [listed] = client.get(f"/jobs/?job_id={job.id}").get_json()["results"]
    assert listed == json.loads(json.dumps(ser.job(orm_job)))

    [with_exe] = client.get("/jobs/executions/").get_json()["results"]
    expected_exe = ser.job_exe(session.get(JobExecution, finished_job["done"].id))
    expected_exe["job"] = {"id": job.id}
    assert with_exe["latest_job_exe"] == json.loads(json.dumps(expected_exe))
