"""Recipe type services: list, create, validate, details and edit (definition revisions, trigger rules)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import RecipeType, RecipeTypeRevision, TriggerRule
from tests import samples

LIST_FIELDS = {
    "id",
    "name",
    "version",
    "title",
    "description",
    "is_active",
    "definition",
    "revision_num",
    "created",
    "last_modified",
    "archived",
    "trigger_rule",
}
DETAIL_FIELDS = LIST_FIELDS | {"job_types"}


@pytest.fixture
def job_types(client, tmp_path):
    """The workspace and the two job types the specification's recipe type example uses."""
    assert client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path / "rs"))).status_code == 201
    ids = []
    for name, version in (("my-job1", "1.2.3"), ("my-job2", "4.5.6")):
        response = client.post("/job-types/", json=samples.text_job_type(name, version))
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    return ids


@pytest.fixture
def created(client, job_types):
    response = client.post("/recipe-types/", json=samples.recipe_type())
    assert response.status_code == 201, response.get_json()
    return response


def two_step_definition() -> dict:
    """MyJob2 runs after MyJob1 instead of beside it."""
    definition = samples.recipe_type()["definition"]
    definition["jobs"][1]["dependencies"] = [{"name": "MyJob1"}]
    return definition


def test_create_from_the_specification_example(client, session, created, job_types):
    body = created.get_json()
    assert set(body) == DETAIL_FIELDS
    assert created.headers["Location"].endswith(f"/recipe-types/{body['id']}/")
    assert (body["name"], body["version"], body["revision_num"], body["is_active"]) == ("my-recipe", "1.0", 1, True)
    assert [j["name"] for j in body["definition"]["jobs"]] == ["MyJob1", "MyJob2"]
    assert [jt["id"] for jt in body["job_types"]] == job_types
    assert body["job_types"][0]["interface"]["input_data"][0]["name"] == "input_file"
    assert body["trigger_rule"]["type"] == "PARSE"
    revisions = session.scalars(select(RecipeTypeRevision).where(RecipeTypeRevision.recipe_type_id == body["id"])).all()
    assert [r.revision_num for r in revisions] == [1]
    assert client.get(created.headers["Location"]).get_json() == body


def test_list_shows_summaries_with_the_rule_id(client, created):
    body = client.get("/recipe-types/").get_json()
    assert body["count"] == 1
    summary = body["results"][0]
    assert set(summary) == LIST_FIELDS
    assert summary["trigger_rule"] == {"id": created.get_json()["trigger_rule"]["id"]}
    assert client.get("/recipe-types/?order=-bogus").status_code == 400


def test_create_refuses_unknown_job_types_cycles_and_missing_fields(client, session, job_types):
    doc = samples.recipe_type()
    doc["definition"]["jobs"][0]["job_type"]["version"] = "9.9.9"
    doc["definition"]["jobs"][0]["dependencies"] = [{"name": "MyJob2"}]
    doc["definition"]["jobs"][1]["dependencies"] = [{"name": "MyJob1"}]
    response = client.post("/recipe-types/", json=doc)
    assert response.status_code == 400
    ids = {e["id"] for e in response.get_json()["errors"]}
    assert {"UNKNOWN_JOB_TYPE", "CYCLE"} <= ids
    assert "9.9.9" in response.get_json()["detail"]

    response = client.post("/recipe-types/", json={"name": "x"})
    detail = response.get_json()["detail"]
    assert "'version' is required" in detail and "'definition' is required" in detail
    assert session.scalar(select(func.count()).select_from(RecipeType)) == 0


def test_create_refuses_a_duplicate(client, created):
    response = client.post("/recipe-types/", json=samples.recipe_type())
    assert response.status_code == 400 and "already exists" in response.get_json()["detail"]


def test_validation_accepts_both_body_forms_and_saves_nothing(client, session, job_types):
    assert client.post("/recipe-types/validation/", json=samples.recipe_type()).get_json() == {"warnings": []}
    # the documentation's validation example puts input_data and jobs at the top level
    doc = samples.recipe_type()
    doc.update(doc.pop("definition"))
    assert client.post("/recipe-types/validation/", json=doc).status_code == 200
    doc = samples.recipe_type()
    doc["trigger_rule"]["configuration"]["condition"]["media_type"] = "image/png"
    warnings = client.post("/recipe-types/validation/", json=doc).get_json()["warnings"]
    assert [w["id"] for w in warnings] == ["media_type"]
    assert session.scalar(select(func.count()).select_from(RecipeType)) == 0


def test_validation_answers_400_with_the_problems(client, job_types):
    doc = samples.recipe_type()
    doc["definition"]["jobs"][1]["name"] = "MyJob1"
    response = client.post("/recipe-types/validation/", json=doc)
    assert response.status_code == 400 and "MyJob1" in response.get_json()["detail"]


def test_definition_change_makes_a_new_revision(client, session, created):
    recipe_type_id = created.get_json()["id"]
    response = client.patch(f"/recipe-types/{recipe_type_id}/", json={"definition": two_step_definition()})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["revision_num"] == 2
    assert body["definition"]["jobs"][1]["dependencies"] == [{"name": "MyJob1", "connections": []}]
    revisions = session.scalars(
        select(RecipeTypeRevision)
        .where(RecipeTypeRevision.recipe_type_id == recipe_type_id)
        .order_by(RecipeTypeRevision.revision_num)
    ).all()
    assert [r.revision_num for r in revisions] == [1, 2]
    assert revisions[0].definition["jobs"][1]["dependencies"] == []

    same = client.patch(
        f"/recipe-types/{recipe_type_id}/", json={"definition": two_step_definition(), "title": "Renamed"}
    ).get_json()
    assert (same["revision_num"], same["title"]) == (2, "Renamed")


def test_trigger_rule_can_be_replaced_and_removed(client, session, created):
    body = created.get_json()
    rule = samples.recipe_type()["trigger_rule"]
    rule["configuration"]["condition"]["data_types"] = ["foo"]
    replaced = client.patch(f"/recipe-types/{body['id']}/", json={"trigger_rule": rule}).get_json()["trigger_rule"]
    assert replaced["id"] != body["trigger_rule"]["id"]
    assert session.get(TriggerRule, body["trigger_rule"]["id"]).archived is not None
    removed = client.patch(f"/recipe-types/{body['id']}/", json={"trigger_rule": None}).get_json()
    assert removed["trigger_rule"] is None


def test_edit_refuses_bad_definitions_and_unknown_fields(client, session, created):
    recipe_type_id = created.get_json()["id"]
    definition = samples.recipe_type()["definition"]
    definition["jobs"][0]["job_type"]["name"] = "missing-type"
    response = client.patch(f"/recipe-types/{recipe_type_id}/", json={"definition": definition, "version": "2"})
    detail = response.get_json()["detail"]
    assert response.status_code == 400 and "missing-type" in detail and "version" in detail
    assert client.get(f"/recipe-types/{recipe_type_id}/").get_json()["revision_num"] == 1


def test_unknown_ids_answer_404(client):
    assert client.get("/recipe-types/31337/").status_code == 404
    assert client.patch("/recipe-types/31337/", json={"title": "x"}).status_code == 404
