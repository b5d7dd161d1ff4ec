"""Strike REST services: POST /strike/create/ (documented), /strikes/ list, create, validation, details, edits."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.models import Strike
from tests.test_strike import make_workspace

# The specification's example request.
SPEC_EXAMPLE = {
    "name": "my-strike-process",
    "title": "My Strike Process",
    "description": "This is my Strike process for detecting my favorite files!",
    "configuration": {
        "version": "1.0",
        "mount": "host:/my/path",
        "transfer_suffix": "_tmp",
        "files_to_ingest": [{"filename_regex": ".*txt", "workspace_path": "/my/path", "workspace_name": "rs"}],
    },
}


def example(**changes) -> dict:
    body = copy.deepcopy(SPEC_EXAMPLE)
    body.update(changes)
    return body


def strike_count() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Strike))


@pytest.fixture
def rs(scale_env):
    return make_workspace(scale_env, "rs")


def test_create_as_documented(client, rs):
    response = client.post("/strike/create/", json=example())
    assert response.status_code == 200, response.get_json()
    strike_id = response.get_json()["strike_id"]
    detail = client.get(f"/strikes/{strike_id}/").get_json()
    assert detail["name"] == "my-strike-process" and detail["title"] == "My Strike Process"
    assert detail["is_active"] is True and detail["job"] is None
    config = detail["configuration"]
    assert config["mount"] == "host:/my/path" and config["transfer_suffix"] == "_tmp"
    # Defaults filled and the documented leading '/' of workspace_path read as "from the workspace root".
    assert config["files_to_ingest"] == [
        {"filename_regex": ".*txt", "data_types": [], "workspace_path": "my/path", "workspace_name": "rs"}
    ]


@pytest.mark.parametrize(
    "body, expected",
    [
        ({}, ["Missing required fields: name, configuration"]),
        (example(owner="me"), ["Unknown fields: owner"]),
        (example(name="bad name!"), ["'name' may only contain"]),
        (example(name="x" * 51), ["at most 50 characters"]),
        (example(configuration="not an object"), ["'configuration' must be a JSON object"]),
    ],
)
def test_create_refuses_bad_fields(client, rs, body, expected):
    response = client.post("/strike/create/", json=body)
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    for text in expected:
        assert text in detail
    assert strike_count() == 0


def test_create_lists_every_field_problem_at_once(client, rs):
    response = client.post(
        "/strike/create/", json=example(name="bad name!", title=7, configuration={"mount": "host:/x"})
    )
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "'name' may only contain" in detail and "'title' must be a string" in detail and "transfer_suffix" in detail


def test_create_lists_every_configuration_problem(client, rs):
    config = {
        "mount": "no-colon",
        "files_to_ingest": [{"filename_regex": "([", "workspace_path": "../up", "workspace_name": "missing"}],
    }
    response = client.post("/strike/create/", json=example(configuration=config))
    assert response.status_code == 400
    ids = {e["id"] for e in response.get_json()["errors"]}
    assert {"INVALID_MOUNT", "MISSING_FIELD", "INVALID_REGEX", "INVALID_PATH", "UNKNOWN_WORKSPACE"} <= ids
    assert strike_count() == 0


def test_names_are_unique(client, rs):
    assert client.post("/strike/create/", json=example()).status_code == 200
    response = client.post("/strikes/", json=example())
    assert response.status_code == 400
    assert "already exists" in response.get_json()["detail"]
    assert strike_count() == 1


def test_list_create_and_details(client, rs):
    response = client.post("/strikes/", json=example(name="b-strike"))
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/strikes/{response.get_json()['id']}/")
    client.post("/strikes/", json=example(name="a-strike"))
    listing = client.get("/strikes/").get_json()
    assert listing["count"] == 2
    assert [s["name"] for s in listing["results"]] == ["a-strike", "b-strike"]
    assert "configuration" not in listing["results"][0]
    assert client.get("/strikes/?name=b-strike").get_json()["count"] == 1
    assert client.get("/strikes/?order=-name").get_json()["results"][0]["name"] == "b-strike"
    missing = client.get("/strikes/999/")
    assert missing.status_code == 404 and "999" in missing.get_json()["detail"]


def test_validation_saves_nothing(client, rs):
    response = client.post("/strikes/validation/", json=example())
    assert response.status_code == 200
    assert [w["id"] for w in response.get_json()["warnings"]] == ["MISSING_DIRECTORY"]
    bad = client.post("/strikes/validation/", json=example(configuration={"mount": "host:/x"}))
    assert bad.status_code == 400
    assert strike_count() == 0


def test_edit(client, rs):
    strike_id = client.post("/strike/create/", json=example()).get_json()["strike_id"]
    before = client.get(f"/strikes/{strike_id}/").get_json()

    new_config = dict(SPEC_EXAMPLE["configuration"], transfer_suffix=".part")
    response = client.patch(
        f"/strikes/{strike_id}/", json={"title": "Renamed", "configuration": new_config, "is_active": False}
    )
    assert response.status_code == 200
    after = response.get_json()
    assert after["title"] == "Renamed" and after["is_active"] is False
    assert after["configuration"]["transfer_suffix"] == ".part"
    assert after["last_modified"] > before["last_modified"]

    for body, text in [
        ({"name": "other"}, "Unknown fields: name"),
        ({"configuration": {"mount": "host:/x"}}, "transfer_suffix"),
        ({"is_active": "maybe"}, "is_active"),
        ({}, "Nothing to change"),
    ]:
        rejected = client.patch(f"/strikes/{strike_id}/", json=body)
        assert rejected.status_code == 400, body
        assert text in rejected.get_json()["detail"]
    assert client.get(f"/strikes/{strike_id}/").get_json() == after
    assert client.patch("/strikes/999/", json={"title": "x"}).status_code == 404


def test_a_strike_mount_climbing_out_of_the_mount_root_is_refused(client, rs):
    config = copy.deepcopy(SPEC_EXAMPLE["configuration"])
    config["mount"] = "h:/../../elsewhere"
    response = client.post("/strike/create/", json=example(configuration=config))
    assert response.status_code == 400
    assert "must not contain '..'" in str(response.get_json())
    assert strike_count() == 0
