"""Job type services: list, create, validate, details, edit (revisions, pause, trigger rules) and the
status / running / system-failures summaries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.models import Job, JobType, JobTypeRevision, TriggerRule
from app.services.jobs import create_job
from tests import samples
from tests.factories import error_by_name, make_error, make_job, make_job_type

LIST_FIELDS = {
    "id",
    "name",
    "version",
    "title",
    "description",
    "category",
    "author_name",
    "author_url",
    "is_system",
    "is_long_running",
    "is_active",
    "is_operational",
    "is_paused",
    "icon_code",
    "uses_docker",
    "docker_privileged",
    "docker_image",
    "revision_num",
    "priority",
    "timeout",
    "max_scheduled",
    "max_tries",
    "cpus_required",
    "mem_required",
    "disk_out_const_required",
    "disk_out_mult_required",
    "created",
    "archived",
    "paused",
    "last_modified",
}
DETAIL_FIELDS = LIST_FIELDS | {
    "interface",
    "error_mapping",
    "trigger_rule",
    "errors",
    "job_counts_6h",
    "job_counts_12h",
    "job_counts_24h",
}
BASE_FIELDS = {
    "id",
    "name",
    "version",
    "title",
    "description",
    "category",
    "author_name",
    "author_url",
    "is_system",
    "is_long_running",
    "is_active",
    "is_operational",
    "is_paused",
    "icon_code",
}


@pytest.fixture
def rs_workspace(client, tmp_path):
    response = client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path / "rs")))
    assert response.status_code == 201
    return response.get_json()


@pytest.fixture
def created(client, rs_workspace):
    response = client.post("/job-types/", json=samples.job_type())
    assert response.status_code == 201, response.get_json()
    return response


def count_rows(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- create / details


def test_create_from_the_specification_example(client, session, created):
    body = created.get_json()
    assert set(body) == DETAIL_FIELDS
    assert created.headers["Location"].endswith(f"/job-types/{body['id']}/")
    assert (body["name"], body["version"], body["revision_num"], body["priority"], body["cpus_required"]) == (
        "my-job",
        "1.0",
        1,
        1,
        0.5,
    )
    assert body["interface"]["input_data"][0]["name"] == "input_file"
    assert body["error_mapping"]["exit_codes"] == {"1": "unknown"}
    assert [e["name"] for e in body["errors"]] == ["unknown"]
    assert body["trigger_rule"]["type"] == "PARSE" and body["trigger_rule"]["is_active"] is True
    assert body["trigger_rule"]["configuration"]["data"] == {"input_data_name": "input_file", "workspace_name": "rs"}
    assert body["job_counts_6h"] == body["job_counts_12h"] == body["job_counts_24h"] == []
    revisions = session.scalars(select(JobTypeRevision).where(JobTypeRevision.job_type_id == body["id"])).all()
    assert [(r.revision_num, r.interface["command"]) for r in revisions] == [(1, "test_cmd")]
    assert client.get(created.headers["Location"]).get_json() == body


def test_create_refuses_what_is_wrong_and_lists_every_problem(client, session, rs_workspace):
    doc = samples.job_type()
    doc["cpus_required"] = 0
    doc["priority"] = "high"
    doc["interface"]["command"] = ""
    doc["error_mapping"]["exit_codes"] = {"1": "no-such-error"}
    doc["trigger_rule"]["configuration"]["data"]["workspace_name"] = "no-such-workspace"
    doc["colour"] = "blue"
    response = client.post("/job-types/", json=doc)
    assert response.status_code == 400
    body = response.get_json()
    detail = body["detail"]
    for expected in ("cpus_required", "priority", "command", "no-such-error", "no-such-workspace", "colour"):
        assert expected in detail
    assert {e["id"] for e in body["errors"]} >= {
        "INVALID_VALUE",
        "INVALID_TYPE",
        "UNKNOWN_ERROR",
        "UNKNOWN_WORKSPACE",
        "UNKNOWN_FIELD",
    }
    assert count_rows(session, JobType) == 0 and count_rows(session, TriggerRule) == 0


def test_create_requires_name_version_and_interface(client):
    response = client.post("/job-types/", json={"title": "nothing else"})
    detail = response.get_json()["detail"]
    assert response.status_code == 400
    assert "'name' is required" in detail and "'version' is required" in detail and "'interface' is required" in detail


def test_create_refuses_a_duplicate_name_and_version(client, created):
    response = client.post("/job-types/", json=samples.job_type())
    assert response.status_code == 400 and "already exists" in response.get_json()["detail"]


def test_trigger_rule_must_feed_a_file_input_of_the_interface(client, rs_workspace):
    doc = samples.job_type()
    doc["trigger_rule"]["configuration"]["data"]["input_data_name"] = "nope"
    response = client.post("/job-types/", json=doc)
    assert response.status_code == 400 and "nope" in response.get_json()["detail"]
    doc = samples.job_type()
    doc["trigger_rule"]["type"] = "CLOCK"
    assert client.post("/job-types/", json=doc).status_code == 400


def test_unknown_ids_answer_404(client):
    assert client.get("/job-types/424242/").status_code == 404
    assert client.patch("/job-types/424242/", json={"priority": 3}).status_code == 404


# ---------------------------------------------------------------- validation


def test_validation_answers_warnings_and_saves_nothing(client, session, rs_workspace):
    doc = samples.job_type()
    doc["trigger_rule"]["configuration"]["condition"]["media_type"] = "text/plain"
    response = client.post("/job-types/validation/", json=doc)
    assert response.status_code == 200
    warnings = response.get_json()["warnings"]
    assert [w["id"] for w in warnings] == ["media_type"] and "input_file" in warnings[0]["details"]
    assert client.post("/job-types/validation/", json=samples.job_type()).get_json() == {"warnings": []}
    assert count_rows(session, JobType) == 0


def test_validation_answers_400_with_the_problems(client, rs_workspace):
    doc = samples.job_type()
    doc["interface"]["command_arguments"] = "${missing_input}"
    response = client.post("/job-types/validation/", json=doc)
    assert response.status_code == 400
    assert "missing_input" in response.get_json()["detail"]
    assert [e["id"] for e in response.get_json()["errors"]] == ["UNKNOWN_PLACEHOLDER"]


# ---------------------------------------------------------------- list


def test_list_filters_and_orders(client, session):
    make_job_type(session, name="beta", version="2.0", category="cat-a")
    make_job_type(session, name="beta", version="1.0", category="cat-b")
    make_job_type(session, name="alpha", version="1.0", category="cat-a")
    session.commit()
    body = client.get("/job-types/").get_json()
    assert set(body["results"][0]) == LIST_FIELDS
    assert [(r["name"], r["version"]) for r in body["results"]] == [("alpha", "1.0"), ("beta", "1.0"), ("beta", "2.0")]
    names = client.get("/job-types/?name=beta").get_json()["results"]
    assert {(r["name"], r["version"]) for r in names} == {("beta", "1.0"), ("beta", "2.0")}
    cats = client.get("/job-types/?category=cat-a&category=cat-b&order=-version&order=name").get_json()["results"]
    assert [(r["name"], r["version"]) for r in cats] == [("beta", "2.0"), ("alpha", "1.0"), ("beta", "1.0")]
    assert client.get("/job-types/?started=2099-01-01T00:00:00Z").get_json()["count"] == 0
    assert client.get("/job-types/?started=PT1H").get_json()["count"] == 3
    assert client.get("/job-types/?started=yesterday").status_code == 400


# ---------------------------------------------------------------- edit


def test_interface_change_makes_a_new_revision_and_jobs_keep_theirs(client, session, created):
    job_type_id = created.get_json()["id"]
    job_type = session.get(JobType, job_type_id)
    old_job = make_job(session, job_type)
    session.commit()

    interface = samples.job_type()["interface"]
    interface["command"] = "new_cmd"
    response = client.patch(f"/job-types/{job_type_id}/", json={"interface": interface, "title": "Renamed"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["revision_num"], body["interface"]["command"], body["title"]) == (2, "new_cmd", "Renamed")

    session.expire_all()
    revisions = session.scalars(
        select(JobTypeRevision).where(JobTypeRevision.job_type_id == job_type_id).order_by(JobTypeRevision.revision_num)
    ).all()
    assert [(r.revision_num, r.interface["command"]) for r in revisions] == [(1, "test_cmd"), (2, "new_cmd")]
    assert session.get(Job, old_job.id).job_type_rev.revision_num == 1
    new_job, _ = create_job(
        session, session.get(JobType, job_type_id), {"version": "1.0", "input_data": []}, validated=True
    )
    assert new_job.job_type_rev.revision_num == 2


def test_edit_without_interface_change_keeps_the_revision(client, created):
    job_type_id = created.get_json()["id"]
    same = samples.job_type()["interface"]
    body = client.patch(f"/job-types/{job_type_id}/", json={"interface": same, "max_scheduled": 2}).get_json()
    assert (body["revision_num"], body["max_scheduled"]) == (1, 2)


def test_pause_sets_and_clears_paused(client, created):
    job_type_id = created.get_json()["id"]
    paused = client.patch(f"/job-types/{job_type_id}/", json={"is_paused": True}).get_json()
    assert paused["is_paused"] is True and paused["paused"] is not None
    again = client.patch(f"/job-types/{job_type_id}/", json={"is_paused": True}).get_json()
    assert again["paused"] == paused["paused"]
    resumed = client.patch(f"/job-types/{job_type_id}/", json={"is_paused": False}).get_json()
    assert resumed["is_paused"] is False and resumed["paused"] is None


def test_trigger_rule_change_archives_the_old_rule(client, session, created):
    body = created.get_json()
    old_rule_id = body["trigger_rule"]["id"]

    rule = samples.job_type()["trigger_rule"]
    rule["is_active"] = False
    paused_rule = client.patch(f"/job-types/{body['id']}/", json={"trigger_rule": rule}).get_json()["trigger_rule"]
    assert paused_rule["id"] == old_rule_id and paused_rule["is_active"] is False

    rule["is_active"] = True
    rule["configuration"]["condition"]["data_types"] = ["foo"]
    new_rule = client.patch(f"/job-types/{body['id']}/", json={"trigger_rule": rule}).get_json()["trigger_rule"]
    assert new_rule["id"] != old_rule_id and new_rule["configuration"]["condition"]["data_types"] == ["foo"]
    old = session.get(TriggerRule, old_rule_id)
    assert old.archived is not None and old.is_active is False

    removed = client.patch(f"/job-types/{body['id']}/", json={"trigger_rule": None}).get_json()
    assert removed["trigger_rule"] is None
    session.expire_all()
    assert session.get(TriggerRule, new_rule["id"]).archived is not None


def test_interface_change_must_keep_the_trigger_rule_working(client, session, created):
    body = created.get_json()
    interface = samples.job_type()["interface"]
    interface["input_data"][0]["name"] = "renamed_input"
    response = client.patch(f"/job-types/{body['id']}/", json={"interface": interface})
    assert response.status_code == 400 and "input_file" in response.get_json()["detail"]
    session.expire_all()
    assert session.get(JobType, body["id"]).revision_num == 1


def test_interface_change_must_keep_recipe_types_valid(client, session, rs_workspace):
    job_type_id = client.post("/job-types/", json=samples.text_job_type("my-job1", "1.2.3")).get_json()["id"]
    client.post("/job-types/", json=samples.text_job_type("my-job2", "4.5.6"))
    assert client.post("/recipe-types/", json=samples.recipe_type()).status_code == 201
    interface = samples.text_job_type("x", "1")["interface"]
    interface["input_data"][0]["name"] = "other_input"
    response = client.patch(f"/job-types/{job_type_id}/", json={"interface": interface})
    assert response.status_code == 400 and "my-recipe" in response.get_json()["detail"]


def test_edit_refuses_unknown_fields_name_and_bad_values(client, created):
    job_type_id = created.get_json()["id"]
    response = client.patch(f"/job-types/{job_type_id}/", json={"name": "other", "timeout": -1, "is_paused": "yes"})
    detail = response.get_json()["detail"]
    assert response.status_code == 400
    assert "'name'" in detail and "timeout" in detail and "is_paused" in detail
    assert client.get(f"/job-types/{job_type_id}/").get_json()["timeout"] == 0


def test_error_mapping_edit_lists_the_errors_it_uses(client, session, created):
    make_error(session, name="bad-data", category="DATA")
    session.commit()
    job_type_id = created.get_json()["id"]
    mapping = {"version": "1.0", "exit_codes": {"1": "unknown", "2": "bad-data"}}
    body = client.patch(f"/job-types/{job_type_id}/", json={"error_mapping": mapping}).get_json()
    assert sorted(e["name"] for e in body["errors"]) == ["bad-data", "unknown"]


# ---------------------------------------------------------------- summaries


def _ago(**kw):
    return utcnow() - timedelta(**kw)


def test_details_count_jobs_per_window(client, session):
    job_type = make_job_type(session)
    make_job(session, job_type, "COMPLETED", last_status_change=_ago(hours=1))
    make_job(session, job_type, "COMPLETED", last_status_change=_ago(hours=8))
    make_job(session, job_type, "FAILED", last_status_change=_ago(hours=20))
    session.commit()
    body = client.get(f"/job-types/{job_type.id}/").get_json()
    assert [(c["status"], c["count"]) for c in body["job_counts_6h"]] == [("COMPLETED", 1)]
    assert [(c["status"], c["count"]) for c in body["job_counts_12h"]] == [("COMPLETED", 2)]
    assert sorted((c["status"], c["count"], c["category"]) for c in body["job_counts_24h"]) == [
        ("COMPLETED", 2, None),
        ("FAILED", 1, "SYSTEM"),
    ]
    assert all(c["most_recent"].endswith("Z") for c in body["job_counts_24h"])


def test_status_counts_the_last_3_hours_and_every_running_job(client, session):
    busy = make_job_type(session, name="busy")
    idle = make_job_type(session, name="idle")
    make_job(session, busy, "COMPLETED", last_status_change=_ago(hours=1))
    make_job(session, busy, "COMPLETED", last_status_change=_ago(hours=5))
    make_job(session, busy, "RUNNING", last_status_change=_ago(days=2))
    make_job(
        session,
        busy,
        "FAILED",
        last_status_change=_ago(minutes=5),
        error_id=make_error(session, category="ALGORITHM").id,
    )
    session.commit()

    body = client.get("/job-types/status/").get_json()
    by_name = {r["job_type"]["name"]: r for r in body["results"]}
    assert set(by_name["busy"]["job_type"]) == BASE_FIELDS
    assert by_name["idle"]["job_counts"] == []
    counts = {(c["status"], c["category"]): c["count"] for c in by_name["busy"]["job_counts"]}
    assert counts == {("COMPLETED", None): 1, ("RUNNING", None): 1, ("FAILED", "ALGORITHM"): 1}

    wider = client.get("/job-types/status/?started=PT6H").get_json()
    counts = {
        c["status"]: c["count"] for r in wider["results"] if r["job_type"]["name"] == "busy" for c in r["job_counts"]
    }
    assert counts["COMPLETED"] == 2
    assert idle.id in {r["job_type"]["id"] for r in wider["results"]}


def test_running_counts_and_longest_running(client, session):
    first = make_job_type(session, name="first")
    second = make_job_type(session, name="second")
    make_job(session, first, "RUNNING", started=_ago(hours=2))
    make_job(session, first, "RUNNING", started=_ago(minutes=1))
    make_job(session, second, "RUNNING", started=_ago(hours=5))
    make_job(session, second, "COMPLETED")
    session.commit()
    results = client.get("/job-types/running/").get_json()["results"]
    assert [(r["job_type"]["name"], r["count"]) for r in results] == [("second", 1), ("first", 2)]
    assert results[0]["longest_running"].endswith("Z")


def test_system_failures_group_system_errors_only(client, session):
    job_type = make_job_type(session, name="fails")
    lost = error_by_name(session, "node-lost")
    make_job(session, job_type, "FAILED", error_id=lost.id, ended=_ago(hours=3))
    make_job(session, job_type, "FAILED", error_id=lost.id, ended=_ago(hours=1))
    make_job(session, job_type, "FAILED", error_id=error_by_name(session, "algorithm-unknown").id)
    session.commit()
    results = client.get("/job-types/system-failures/").get_json()["results"]
    assert len(results) == 1
    row = results[0]
    assert (row["job_type"]["name"], row["error"]["name"], row["count"]) == ("fails", "node-lost", 2)
    assert row["first_error"] < row["last_error"]
