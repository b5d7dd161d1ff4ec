"""Recipe data 1.0 checked against a recipe definition and its jobs' interfaces."""

from __future__ import annotations

import pytest

from app.specs.base import SpecError
from app.specs.job_interface import validate_job_interface
from app.specs.recipe_data import validate_recipe_data
from app.specs.recipe_definition import validate_recipe_definition_structure
from tests.test_specs_examples import Recorder

FILES = {
    1: {"media_type": "image/png", "file_size": 1, "workspace_id": 1},
    2: {"media_type": "text/csv", "file_size": 1, "workspace_id": 1},
}
WORKSPACES = {1: {"is_active": True}, 2: {"is_active": False}}

DEFINITION, _ = validate_recipe_definition_structure(
    {
        "input_data": [
            {"name": "image", "type": "file", "media_types": ["image/png"]},
            {"name": "extra", "type": "files", "required": False},
            {"name": "label", "type": "property", "required": False},
        ],
        "jobs": [
            {
                "name": "j",
                "job_type": {"name": "t", "version": "1"},
                "recipe_inputs": [{"recipe_input": "image", "job_input": "image"}],
            }
        ],
    }
)
PRODUCER = validate_job_interface(
    {
        "command": "run",
        "input_data": [{"name": "image", "type": "file"}],
        "output_data": [{"name": "out", "type": "file"}],
    }
)
NO_OUTPUTS = validate_job_interface({"command": "run", "input_data": [{"name": "image", "type": "file"}]})


def validate(data, interfaces=None, files=None, workspaces=None):
    return validate_recipe_data(
        data,
        DEFINITION,
        job_interfaces=interfaces if interfaces is not None else {"j": PRODUCER},
        lookup_files=files or Recorder(FILES),
        lookup_workspaces=workspaces or Recorder(WORKSPACES),
    )


def ids_of(data, interfaces=None) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate(data, interfaces)
    return info.value.ids


def test_valid_data():
    workspaces = Recorder(WORKSPACES)
    data, warnings = validate(
        {
            "input_data": [
                {"name": "image", "file_id": 1},
                {"name": "extra", "file_id": 2},
                {"name": "label", "value": "L"},
            ],
            "workspace_id": 1,
        },
        workspaces=workspaces,
    )
    assert data == {
        "version": "1.0",
        "input_data": [
            {"name": "image", "file_id": 1},
            {"name": "extra", "file_ids": [2]},
            {"name": "label", "value": "L"},
        ],
        "workspace_id": 1,
    }
    assert warnings == []
    assert workspaces.calls == [[1]]


def test_unsupported_version_and_unknown_field():
    assert ids_of({"version": "9", "input_data": [{"name": "image", "file_id": 1}], "workspace_id": 1}) == [
        "UNSUPPORTED_VERSION"
    ]
    assert ids_of({"input_data": [{"name": "image", "file_id": 1}], "workspace_id": 1, "output_data": []}) == [
        "UNKNOWN_FIELD"
    ]


def test_workspace_required_when_a_job_produces_files():
    with pytest.raises(SpecError) as info:
        validate({"input_data": [{"name": "image", "file_id": 1}]})
    assert info.value.ids == ["MISSING_WORKSPACE"]
    assert "'j'" in str(info.value)


def test_workspace_not_required_without_file_outputs():
    data, _ = validate({"input_data": [{"name": "image", "file_id": 1}]}, interfaces={"j": NO_OUTPUTS})
    assert "workspace_id" not in data


def test_workspace_must_exist_be_active_and_be_an_integer():
    base = {"input_data": [{"name": "image", "file_id": 1}]}
    assert ids_of({**base, "workspace_id": 5}) == ["UNKNOWN_WORKSPACE"]
    assert ids_of({**base, "workspace_id": 2}) == ["INACTIVE_WORKSPACE"]
    assert ids_of({**base, "workspace_id": "1"}) == ["INVALID_TYPE"]
    # checked even when not required
    assert ids_of({**base, "workspace_id": 2}, interfaces={"j": NO_OUTPUTS}) == ["INACTIVE_WORKSPACE"]


def test_input_rules_are_those_of_job_data():
    assert ids_of({"input_data": [], "workspace_id": 1}) == ["MISSING_REQUIRED_INPUT"]
    assert ids_of({"input_data": [{"name": "image", "file_id": 9}], "workspace_id": 1}) == ["UNKNOWN_FILE"]
    assert ids_of({"input_data": [{"name": "image", "file_ids": [1, 2]}], "workspace_id": 1}) == ["TOO_MANY_FILES"]
    assert ids_of(
        {"input_data": [{"name": "image", "file_id": 1}, {"name": "ghost", "value": "x"}], "workspace_id": 1}
    ) == ["UNKNOWN_INPUT"]
    assert ids_of(
        {"input_data": [{"name": "image", "file_id": 1}, {"name": "label", "value": 3}], "workspace_id": 1}
    ) == ["INVALID_PROPERTY_VALUE"]


def test_media_type_mismatch_is_a_warning():
    _, warnings = validate({"input_data": [{"name": "image", "file_id": 2}], "workspace_id": 1})
    assert [w.id for w in warnings] == ["media_type"]
