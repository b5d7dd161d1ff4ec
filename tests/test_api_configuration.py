"""Import/export services: GET/POST /configuration/, validation, download and upload."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from app.models import Error, JobType, JobTypeRevision, RecipeType, TriggerRule
from tests import samples
from tests.factories import make_job_type


@pytest.fixture
def products(client, tmp_path):
    """The workspace the specification's import example names in its trigger rules."""
    assert client.post("/workspaces/", json=samples.workspace("products", str(tmp_path / "p"))).status_code == 201


def counts(session) -> tuple[int, int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Error, JobType, RecipeType, TriggerRule))


def test_import_of_the_specification_example(client, session, products):
    response = client.post("/configuration/", json={"import": samples.configuration()})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"warnings": []}

    error = session.scalar(select(Error).where(Error.name == "my-error"))
    assert (error.category, error.is_builtin) == ("DATA", False)
    job_type = session.scalar(select(JobType).where(JobType.name == "my-job", JobType.version == "1.0.0"))
    assert job_type.error_mapping["exit_codes"] == {"1": "my-error"}
    assert job_type.trigger_rule.name == "my-rule" and job_type.trigger_rule.type == "PARSE"
    assert [
        r.revision_num
        for r in session.scalars(select(JobTypeRevision).where(JobTypeRevision.job_type_id == job_type.id))
    ] == [1]
    recipe_type = session.scalar(select(RecipeType).where(RecipeType.name == "my-recipe"))
    assert recipe_type.revision_num == 1 and recipe_type.trigger_rule is not None


def test_import_again_changes_nothing_and_a_new_interface_makes_a_revision(client, session, products):
    client.post("/configuration/", json={"import": samples.configuration()})
    before = counts(session)
    assert client.post("/configuration/", json={"import": samples.configuration()}).status_code == 200
    assert counts(session) == before
    assert session.scalar(select(JobType.revision_num).where(JobType.name == "my-job")) == 1

    doc = samples.configuration()
    doc["job_types"][0]["interface"]["command"] = "my-new-cmd"
    doc["errors"][0]["title"] = "Renamed"
    assert client.post("/configuration/", json={"import": doc}).status_code == 200
    session.expire_all()
    job_type = session.scalar(select(JobType).where(JobType.name == "my-job"))
    assert (job_type.revision_num, job_type.interface["command"]) == (2, "my-new-cmd")
    assert session.scalar(select(Error.title).where(Error.name == "my-error")) == "Renamed"


def test_import_is_all_or_nothing(client, session, products):
    before = counts(session)
    doc = samples.configuration()
    doc["job_types"][0]["error_mapping"]["exit_codes"]["2"] = "no-such-error"
    doc["recipe_types"][0]["definition"]["jobs"] = [{"name": "a", "job_type": {"name": "ghost", "version": "1"}}]
    response = client.post("/configuration/", json={"import": doc})
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "no-such-error" in detail and "ghost" in detail
    assert counts(session) == before

    # a problem found only while applying (a SYSTEM error cannot be overwritten) also leaves nothing
    doc = samples.configuration()
    doc["errors"].append({"name": "unknown", "title": "Hijacked", "category": "DATA"})
    response = client.post("/configuration/", json={"import": doc})
    assert response.status_code == 400 and "unknown" in response.get_json()["detail"]
    assert counts(session) == before
    assert session.scalar(select(Error.title).where(Error.name == "unknown")) == "Unknown"


def test_import_refuses_bad_bodies(client, products):
    assert "import" in client.post("/configuration/", json={}).get_json()["detail"]
    response = client.post("/configuration/", json={"import": samples.configuration(), "extra": 1})
    assert response.status_code == 400 and "extra" in response.get_json()["detail"]
    response = client.post("/configuration/", json={"import": {"version": "9.9"}})
    assert response.status_code == 400 and "9.9" in response.get_json()["detail"]
    assert client.post("/configuration/", json={"import": [1]}).status_code == 400


def test_validation_reports_without_keeping_anything(client, session, products):
    before = counts(session)
    doc = samples.configuration()
    doc["job_types"][0]["trigger_rule"]["configuration"]["condition"]["media_type"] = "text/plain"
    response = client.post("/configuration/validation/", json={"import": doc})
    assert response.status_code == 200
    assert [w["id"] for w in response.get_json()["warnings"]] == ["media_type"]
    assert counts(session) == before

    doc["job_types"][0]["interface"]["command"] = ""
    response = client.post("/configuration/validation/", json={"import": doc})
    assert response.status_code == 400 and "command" in response.get_json()["detail"]


def test_export_leaves_out_builtin_errors_and_system_job_types(client, session, products):
    client.post("/configuration/", json={"import": samples.configuration()})
    make_job_type(session, name="scale-ingest", is_system=True)
    session.commit()
    body = client.get("/configuration/").get_json()
    assert set(body) == {"version", "recipe_types", "job_types", "errors"}
    assert [e["name"] for e in body["errors"]] == ["my-error"]
    assert [j["name"] for j in body["job_types"]] == ["my-job"]
    job_type = body["job_types"][0]
    assert job_type["trigger_rule"]["name"] == "my-rule" and job_type["error_mapping"]["exit_codes"] == {
        "1": "my-error"
    }
    assert set(body["recipe_types"][0]) == {"name", "version", "title", "description", "definition", "trigger_rule"}


def test_export_filters(client, session, products):
    client.post("/configuration/", json={"import": samples.configuration()})
    other = make_job_type(session, name="other", category="misc")
    session.commit()
    only_errors = client.get("/configuration/?include=errors").get_json()
    assert set(only_errors) == {"version", "errors"}
    assert [j["name"] for j in client.get("/configuration/?job_type_category=misc").get_json()["job_types"]] == [
        "other"
    ]
    assert [j["name"] for j in client.get(f"/configuration/?job_type_id={other.id}").get_json()["job_types"]] == [
        "other"
    ]
    assert client.get("/configuration/?error_name=nope").get_json()["errors"] == []
    assert client.get("/configuration/?recipe_type_name=my-recipe").get_json()["recipe_types"][0]["name"] == "my-recipe"
    assert client.get("/configuration/?include=nodes").status_code == 400
    assert client.get("/configuration/?error_id=abc").status_code == 400


def test_export_then_import_round_trips(client, session, products):
    client.post("/job-types/", json={**samples.text_job_type("exported", "1.0"), "max_scheduled": 4})
    exported = client.get("/configuration/").get_json()
    before = counts(session)
    assert client.post("/configuration/", json={"import": exported}).status_code == 200
    assert counts(session) == before
    assert client.get("/configuration/").get_json() == exported


def test_download_is_an_attachment_of_the_export(client, products):
    client.post("/configuration/", json={"import": samples.configuration()})
    response = client.get("/configuration/download/?include=job_types")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert json.loads(response.data) == client.get("/configuration/?include=job_types").get_json()


def test_upload_imports_a_file(client, session, products):
    data = json.dumps(samples.configuration()).encode()
    response = client.post(
        "/configuration/upload/",
        data={"import_file": (io.BytesIO(data), "config.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    assert session.scalar(select(func.count()).select_from(RecipeType)) == 1

    # the documentation's form names the field "import"; a saved POST body works too
    data = json.dumps({"import": samples.configuration()}).encode()
    response = client.post(
        "/configuration/upload/", data={"import": (io.BytesIO(data), "config.json")}, content_type="multipart/form-data"
    )
    assert response.status_code == 200


def test_upload_refuses_missing_and_unreadable_files(client):
    assert client.post("/configuration/upload/", data={}, content_type="multipart/form-data").status_code == 400
    response = client.post(
        "/configuration/upload/",
        data={"import_file": (io.BytesIO(b"{oops"), "c.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "JSON" in response.get_json()["detail"]


def test_import_takes_detail_shaped_records_and_ignores_read_only_fields(client, session, products, tmp_path):
    client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path / "rs")))
    details = client.post("/job-types/", json=samples.job_type()).get_json()
    details["title"] = "Imported title"
    response = client.post("/configuration/", json={"import": {"job_types": [details]}})
    assert response.status_code == 200, response.get_json()
    after = client.get(f"/job-types/{details['id']}/").get_json()
    assert (after["title"], after["revision_num"]) == ("Imported title", 1)
    assert after["trigger_rule"]["id"] == details["trigger_rule"]["id"]
