"""Strike configuration 1.0."""

from __future__ import annotations

import copy

import pytest

from app.specs.base import SpecError
from app.specs.strike_config import validate_strike_configuration
from tests.test_specs_examples import (
    STRIKE_CONFIGURATION,
    STRIKE_INGEST_DETAILS_CONFIGURATION,
    Recorder,
    WORKSPACES_BY_NAME,
)


def config(**changes):
    doc = copy.deepcopy(STRIKE_CONFIGURATION)
    doc.update(changes)
    return doc


def rule(**changes):
    base = {"filename_regex": ".*h5", "workspace_path": "wrksp/path", "workspace_name": "rs"}
    base.update(changes)
    return base


def validate(doc, lookup=None):
    return validate_strike_configuration(doc, lookup_workspaces_by_name=lookup or Recorder(WORKSPACES_BY_NAME))


def ids_of(doc) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate(doc)
    return info.value.ids


def test_defaults_and_normalized_form():
    doc = config()
    del doc["version"]
    doc["files_to_ingest"] = [rule()]
    assert validate(doc) == {
        "version": "1.0",
        "mount": "host:/my/path",
        "transfer_suffix": "_tmp",
        "files_to_ingest": [
            {"filename_regex": ".*h5", "data_types": [], "workspace_path": "wrksp/path", "workspace_name": "rs"}
        ],
    }


def test_unsupported_version():
    assert ids_of(config(version="2.0")) == ["UNSUPPORTED_VERSION"]


def test_mount_required_non_blank_and_host_colon_path():
    doc = config()
    del doc["mount"]
    assert ids_of(doc) == ["MISSING_FIELD"]
    assert ids_of(config(mount="  ")) == ["BLANK_VALUE"]
    assert ids_of(config(mount="/just/a/path")) == ["INVALID_MOUNT"]
    assert ids_of(config(mount="host:relative")) == ["INVALID_MOUNT"]


def test_transfer_suffix_required_and_non_blank():
    doc = config()
    del doc["transfer_suffix"]
    assert ids_of(doc) == ["MISSING_FIELD"]
    assert ids_of(config(transfer_suffix="")) == ["BLANK_VALUE"]
    assert ids_of(config(transfer_suffix=" _tmp")) == ["BLANK_VALUE"]


def test_files_to_ingest_required_and_not_empty():
    doc = config()
    del doc["files_to_ingest"]
    assert ids_of(doc) == ["MISSING_FIELD"]
    assert ids_of(config(files_to_ingest=[])) == ["EMPTY_LIST"]


def test_filename_regex_required_and_must_compile():
    assert ids_of(config(files_to_ingest=[rule(filename_regex=" ")])) == ["BLANK_VALUE"]
    assert ids_of(config(files_to_ingest=[rule(filename_regex="([a-z")])) == ["INVALID_REGEX"]
    # A glob is not a regular expression: the ingest details example stores "*.txt".
    assert ids_of(STRIKE_INGEST_DETAILS_CONFIGURATION) == ["INVALID_REGEX"]
    fixed = copy.deepcopy(STRIKE_INGEST_DETAILS_CONFIGURATION)
    fixed["files_to_ingest"][0]["filename_regex"] = r".*\.txt"
    assert validate(fixed)["mount_on"] == "/mounts/transfer"


@pytest.mark.parametrize(
    "path,problem",
    [
        ("", "BLANK_VALUE"),
        ("   ", "BLANK_VALUE"),
        ("/", "INVALID_PATH"),
        ("../outside", "INVALID_PATH"),
        ("a/../../b", "INVALID_PATH"),
        ("/a/..", "INVALID_PATH"),
    ],
)
def test_workspace_path_blank_or_escaping_is_refused(path, problem):
    assert ids_of(config(files_to_ingest=[rule(workspace_path=path)])) == [problem]


def test_leading_slash_means_workspace_root():
    # The documentation's examples use "/wrksp/path" for a path it defines as relative.
    result = validate(config(files_to_ingest=[rule(workspace_path="/wrksp//path/./x/")]))
    assert result["files_to_ingest"][0]["workspace_path"] == "wrksp/path/x"


def test_workspace_unknown_or_inactive_and_one_lookup():
    lookup = Recorder(WORKSPACES_BY_NAME)
    with pytest.raises(SpecError) as info:
        validate(config(files_to_ingest=[rule(workspace_name="nope"), rule(workspace_name="old"), rule()]), lookup)
    assert info.value.ids == ["UNKNOWN_WORKSPACE", "INACTIVE_WORKSPACE"]
    assert lookup.calls == [["nope", "old", "rs"]]


def test_unknown_fields_and_bad_types():
    assert ids_of(config(files_to_ingest=[rule(workspace="rs")])) == ["UNKNOWN_FIELD"]
    assert ids_of(config(files_to_ingest=[rule(data_types="a")])) == ["INVALID_TYPE"]
    assert ids_of(config(files_to_ingest="rule")) == ["INVALID_TYPE"]


def test_every_problem_reported_together():
    doc = {
        "mount": "",
        "transfer_suffix": "",
        "files_to_ingest": [{"filename_regex": "(", "workspace_path": "../x", "workspace_name": "nope"}],
    }
    assert sorted(ids_of(doc)) == ["BLANK_VALUE", "BLANK_VALUE", "INVALID_PATH", "INVALID_REGEX", "UNKNOWN_WORKSPACE"]
