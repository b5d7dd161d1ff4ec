"""GET /recipes/ and GET /recipes/<id>/."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from tests import factories as f
from tests.test_api_jobs import JOB_FIELDS, ids

SUMMARY_FIELDS = {"id", "recipe_type", "recipe_type_rev", "event", "created", "completed", "last_modified"}
DEFINITION = {
    "version": "1.0",
    "input_data": [{"name": "source", "type": "file"}, {"name": "mode", "type": "property"}],
    "jobs": [{"name": "first", "job_type": {"name": "stage", "version": "1.0"}}],
}


@pytest.fixture
def recipes(session):
    base = utcnow() - timedelta(hours=2)
    ws = f.make_workspace(session, name="raw")
    source = f.make_file(session, ws, file_name="source.bin")
    stage = f.make_job_type(session, name="stage")
    pipeline = f.make_recipe_type(session, name="pipeline", definition=DEFINITION)
    other = f.make_recipe_type(session, name="other")
    event = f.make_trigger_event(
        session, rule=f.make_trigger_rule(session, name="parse-bin"), description={"file_name": "source.bin"}
    )
    first = f.make_job(session, stage, "COMPLETED")
    second = f.make_job(session, stage, "BLOCKED")
    made = [
        f.make_recipe(
            session,
            pipeline,
            jobs={"first": first, "second": second},
            event_id=event.id,
            last_modified=base + timedelta(minutes=1),
            data={
                "version": "1.0",
                "workspace_id": ws.id,
                "input_data": [{"name": "source", "file_id": source.id}, {"name": "mode", "value": "fast"}],
            },
        ),
        f.make_recipe(session, other, last_modified=base + timedelta(minutes=2)),
        f.make_recipe(session, pipeline, last_modified=base + timedelta(minutes=3), completed=base),
    ]
    session.commit()
    return dict(recipes=made, pipeline=pipeline, other=other, source=source, first=first, second=second, event=event)


def test_list_shape_and_filters(client, recipes):
    r = [x.id for x in recipes["recipes"]]
    body = client.get("/recipes/").get_json()
    assert body["count"] == 3 and [x["id"] for x in body["results"]] == r
    first = body["results"][0]
    assert set(first) == SUMMARY_FIELDS
    assert first["recipe_type"]["name"] == "pipeline"
    assert first["recipe_type_rev"]["recipe_type"] == {"id": recipes["pipeline"].id}
    assert first["recipe_type_rev"]["revision_num"] == 1
    assert first["event"]["rule"]["name"] == "parse-bin"
    assert body["results"][2]["completed"] is not None

    assert ids(client.get(f"/recipes/?type_id={recipes['other'].id}")) == [r[1]]
    assert ids(client.get("/recipes/?type_name=pipeline")) == [r[0], r[2]]
    assert ids(client.get("/recipes/?type_name=pipeline&type_name=other&order=-last_modified")) == [r[2], r[1], r[0]]
    assert ids(client.get("/recipes/?order=recipe_type__name&order=-id")) == [r[1], r[2], r[0]]
    started = (recipes["recipes"][1].last_modified - timedelta(seconds=1)).isoformat()
    response = client.get("/recipes/", query_string={"started": started})
    assert ids(response) == [r[1], r[2]] and response.get_json()["count"] == 2


@pytest.mark.parametrize(
    "query, message",
    [
        ("type_id=x", "type_id"),
        ("order=-nothing", "order"),
        ("started=2020-01-01", "time zone"),
        ("started=2020-01-01T00:00:00Z&ended=2020-01-01T00:00:00Z", "equal"),
    ],
)
def test_list_refuses_bad_parameters(client, session, query, message):
    response = client.get(f"/recipes/?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["detail"]


def test_details(client, recipes):
    recipe = recipes["recipes"][0]
    response = client.get(f"/recipes/{recipe.id}/")
    assert response.status_code == 200
    body = response.get_json()
    assert SUMMARY_FIELDS | {"data", "input_files", "inputs", "jobs"} <= set(body)
    assert body["recipe_type"]["definition"] == DEFINITION and "is_active" in body["recipe_type"]
    assert body["recipe_type_rev"]["definition"] == DEFINITION and body["recipe_type_rev"]["created"]
    assert body["event"]["rule"]["name"] == "parse-bin" and body["event"]["description"] == {"file_name": "source.bin"}
    assert body["data"]["workspace_id"] is not None
    assert [x["id"] for x in body["input_files"]] == [recipes["source"].id]
    assert body["inputs"] == [
        {"name": "source", "type": "file", "value": body["input_files"][0]},
        {"name": "mode", "type": "property", "value": "fast"},
    ]
    jobs = {j["job_name"]: j["job"] for j in body["jobs"]}
    assert set(jobs) == {"first", "second"}
    assert jobs["first"]["id"] == recipes["first"].id and jobs["first"]["status"] == "COMPLETED"
    assert jobs["second"]["status"] == "BLOCKED"
    assert JOB_FIELDS <= set(jobs["first"])
    assert "interface" in jobs["first"]["job_type_rev"]


def test_details_of_unknown_recipe_is_404(client, session):
    response = client.get("/recipes/123456/")
    assert response.status_code == 404
    assert "123456" in response.get_json()["detail"]
