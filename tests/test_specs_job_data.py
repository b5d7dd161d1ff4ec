"""Job data 1.0 checked against a job interface, with file and workspace lookups."""

from __future__ import annotations

import pytest

from app.specs.base import SpecError
from app.specs.job_data import input_file_ids, output_workspace_ids, property_values, validate_job_data
from app.specs.job_interface import validate_job_interface
from tests.test_specs_examples import (
    JOB_DATA,
    MAKE_GEOTIFF_INTERFACE,
    Recorder,
    lookup_files,
    lookup_workspaces,
)

FILES = {
    1: {"media_type": "image/png", "file_size": 1, "workspace_id": 1},
    2: {"media_type": "text/csv", "file_size": 1, "workspace_id": 1},
    3: {"media_type": "image/png", "file_size": 1, "workspace_id": 1},
}
WORKSPACES = {1: {"is_active": True}, 2: {"is_active": False}}

INTERFACE = validate_job_interface(
    {
        "command": "run",
        "command_arguments": "${prop} ${one} ${many} ${opt}",
        "input_data": [
            {"name": "prop", "type": "property"},
            {"name": "one", "type": "file", "media_types": ["image/png"]},
            {"name": "many", "type": "files", "media_types": ["image/png"]},
            {"name": "opt", "type": "property", "required": False},
        ],
        "output_data": [{"name": "out", "type": "file"}],
    }
)


def good_data(**changes):
    data = {
        "version": "1.0",
        "input_data": [
            {"name": "prop", "value": "x"},
            {"name": "one", "file_id": 1},
            {"name": "many", "file_ids": [1, 3]},
        ],
        "output_data": [{"name": "out", "workspace_id": 1}],
    }
    data.update(changes)
    return data


def validate(data, interface=INTERFACE, files=None, workspaces=None):
    return validate_job_data(
        data, interface, lookup_files=files or Recorder(FILES), lookup_workspaces=workspaces or Recorder(WORKSPACES)
    )


def ids_of(data, interface=INTERFACE) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate(data, interface)
    return info.value.ids


def test_valid_data_and_single_lookup_per_kind():
    files, workspaces = Recorder(FILES), Recorder(WORKSPACES)
    data, warnings = validate(good_data(), files=files, workspaces=workspaces)
    assert warnings == []
    assert data == good_data()
    assert files.calls == [[1, 3]]
    assert workspaces.calls == [[1]]


def test_missing_version_defaults():
    data = good_data()
    del data["version"]
    assert validate(data)[0]["version"] == "1.0"


def test_unsupported_version():
    assert ids_of(good_data(version="2")) == ["UNSUPPORTED_VERSION"]


def test_files_input_accepts_file_id_and_file_input_accepts_one_file_ids():
    data = good_data(
        input_data=[{"name": "prop", "value": "x"}, {"name": "one", "file_ids": [1]}, {"name": "many", "file_id": 3}]
    )
    normalized, _ = validate(data)
    assert normalized["input_data"][1] == {"name": "one", "file_id": 1}
    assert normalized["input_data"][2] == {"name": "many", "file_ids": [3]}


def test_unknown_input():
    data = good_data(input_data=good_data()["input_data"] + [{"name": "nope", "value": "x"}])
    assert ids_of(data) == ["UNKNOWN_INPUT"]


def test_missing_required_input():
    data = good_data(input_data=[{"name": "one", "file_id": 1}, {"name": "many", "file_ids": [1]}])
    with pytest.raises(SpecError) as info:
        validate(data)
    assert info.value.ids == ["MISSING_REQUIRED_INPUT"]
    assert "'prop'" in str(info.value)


@pytest.mark.parametrize("value", [5, None, ["a"], {"a": 1}, True])
def test_property_value_must_be_a_string(value):
    data = good_data(
        input_data=[{"name": "prop", "value": value}, {"name": "one", "file_id": 1}, {"name": "many", "file_ids": [1]}]
    )
    assert ids_of(data) == ["INVALID_PROPERTY_VALUE"]


def test_property_given_a_file_is_refused():
    data = good_data(
        input_data=[{"name": "prop", "file_id": 1}, {"name": "one", "file_id": 1}, {"name": "many", "file_ids": [1]}]
    )
    assert ids_of(data) == ["INVALID_PROPERTY_VALUE"]


def test_file_input_without_file():
    data = good_data(input_data=[{"name": "prop", "value": "x"}, {"name": "one"}, {"name": "many", "file_ids": []}])
    assert ids_of(data) == ["MISSING_FILE", "MISSING_FILE"]


def test_unknown_file():
    data = good_data(
        input_data=[
            {"name": "prop", "value": "x"},
            {"name": "one", "file_id": 99},
            {"name": "many", "file_ids": [1, 98]},
        ]
    )
    with pytest.raises(SpecError) as info:
        validate(data)
    assert info.value.ids == ["UNKNOWN_FILE", "UNKNOWN_FILE"]
    assert "99" in str(info.value) and "98" in str(info.value)


def test_file_input_given_several_files():
    data = good_data(
        input_data=[
            {"name": "prop", "value": "x"},
            {"name": "one", "file_ids": [1, 3]},
            {"name": "many", "file_ids": [1]},
        ]
    )
    assert ids_of(data) == ["TOO_MANY_FILES"]


def test_file_ids_must_be_integers():
    data = good_data(
        input_data=[
            {"name": "prop", "value": "x"},
            {"name": "one", "file_id": "1"},
            {"name": "many", "file_ids": [1, True]},
        ]
    )
    assert ids_of(data) == ["INVALID_TYPE", "INVALID_TYPE"]


def test_media_type_mismatch_is_only_a_warning():
    data = good_data(
        input_data=[{"name": "prop", "value": "x"}, {"name": "one", "file_id": 2}, {"name": "many", "file_ids": [1]}]
    )
    normalized, warnings = validate(data)
    assert [w.id for w in warnings] == ["media_type"]
    assert warnings[0].message == "Invalid media type for data input: one -> text/csv"
    assert normalized["input_data"][1] == {"name": "one", "file_id": 2}


def test_duplicate_names_across_inputs_and_outputs():
    data = good_data(input_data=good_data()["input_data"] + [{"name": "prop", "value": "y"}])
    assert ids_of(data) == ["DUPLICATE_NAME"]
    data = good_data(output_data=[{"name": "out", "workspace_id": 1}, {"name": "prop", "workspace_id": 1}])
    assert "DUPLICATE_NAME" in ids_of(data)


def test_output_workspace_missing_unknown_or_inactive():
    assert ids_of(good_data(output_data=[])) == ["MISSING_WORKSPACE"]
    assert ids_of(good_data(output_data=[{"name": "out"}])) == ["MISSING_WORKSPACE"]
    assert ids_of(good_data(output_data=[{"name": "out", "workspace_id": 7}])) == ["UNKNOWN_WORKSPACE"]
    assert ids_of(good_data(output_data=[{"name": "out", "workspace_id": 2}])) == ["INACTIVE_WORKSPACE"]
    assert ids_of(good_data(output_data=[{"name": "out", "workspace_id": "1"}])) == ["INVALID_TYPE"]


def test_unknown_output():
    data = good_data(output_data=[{"name": "out", "workspace_id": 1}, {"name": "extra", "workspace_id": 1}])
    assert ids_of(data) == ["UNKNOWN_OUTPUT"]


def test_every_problem_reported_together():
    data = {"input_data": [{"name": "one", "file_id": 99}, {"name": "ghost", "value": "x"}], "output_data": []}
    assert sorted(ids_of(data)) == [
        "MISSING_REQUIRED_INPUT",
        "MISSING_REQUIRED_INPUT",
        "MISSING_WORKSPACE",
        "UNKNOWN_FILE",
        "UNKNOWN_INPUT",
    ]


def test_optional_input_may_be_left_out_and_no_lookup_without_files():
    interface = validate_job_interface(
        {"command": "run", "input_data": [{"name": "p", "type": "property", "required": False}]}
    )
    files = Recorder(FILES)
    data, warnings = validate({}, interface, files=files)
    assert data == {"version": "1.0", "input_data": [], "output_data": []}
    assert files.calls == []


def test_helpers():
    data, _ = validate(good_data(input_data=good_data()["input_data"] + [{"name": "opt", "value": "v"}]))
    assert input_file_ids(data) == {"one": [1], "many": [1, 3]}
    assert property_values(data) == {"prop": "x", "opt": "v"}
    assert output_workspace_ids(data) == {"out": 1}


def test_spec_example_against_its_interface():
    data, warnings = validate_job_data(
        JOB_DATA,
        validate_job_interface(MAKE_GEOTIFF_INTERFACE),
        lookup_files=lookup_files,
        lookup_workspaces=lookup_workspaces,
    )
    assert input_file_ids(data) == {"image": [1234], "georeference_data": [1235]}
