"""Results manifest 1.0 / 1.1, stdout ARTIFACT lines, and fitting a manifest to a job interface."""

from __future__ import annotations

import pytest

from app.specs.base import SpecError
from app.specs.job_interface import validate_job_interface
from app.specs.results_manifest import (
    match_manifest_to_interface,
    merge_artifacts,
    parse_artifact_lines,
    parse_results_manifest,
)


def ids_of(doc) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_results_manifest(doc)
    return info.value.ids


EMPTY = {"version": "1.1", "output_data": [], "parse_results": [], "info": [], "errors": []}


def test_no_manifest_is_empty_and_missing_version_is_1_1():
    assert parse_results_manifest(None) == EMPTY
    assert parse_results_manifest({}) == EMPTY
    assert parse_results_manifest({"output_data": [{"name": "o", "file": {"path": "/p"}}]})["version"] == "1.1"


def test_unsupported_version():
    assert ids_of({"version": "2.0"}) == ["UNSUPPORTED_VERSION"]


def test_1_0_is_converted_to_1_1():
    manifest = parse_results_manifest(
        {
            "version": "1.0",
            "files": [{"name": "one", "path": "/out/a.txt"}, {"name": "many", "paths": ["/out/b", "/out/c"]}],
            "parse_results": [
                {
                    "filename": "in.h5",
                    "data_started": "2015-05-15T10:34:12Z",
                    "data_ended": "2015-05-15T10:36:12Z",
                    "data_types": ["H5"],
                    "gis_data_path": "/out/g.json",
                }
            ],
        }
    )
    assert manifest == {
        "version": "1.1",
        "output_data": [
            {"name": "one", "file": {"path": "/out/a.txt"}},
            {"name": "many", "files": [{"path": "/out/b"}, {"path": "/out/c"}]},
        ],
        "parse_results": [
            {
                "filename": "in.h5",
                "data_types": ["H5"],
                "gis_data_path": "/out/g.json",
                "geo_metadata": {"data_started": "2015-05-15T10:34:12Z", "data_ended": "2015-05-15T10:36:12Z"},
            }
        ],
        "info": [],
        "errors": [],
    }


def test_1_0_entry_needs_exactly_one_of_path_and_paths():
    assert ids_of({"version": "1.0", "files": [{"name": "x"}]}) == ["INVALID_MANIFEST_OUTPUT"]
    assert ids_of({"version": "1.0", "files": [{"name": "x", "path": "/a", "paths": ["/b"]}]}) == [
        "INVALID_MANIFEST_OUTPUT"
    ]
    assert ids_of({"version": "1.0", "files": [{"path": "/a"}]}) == ["MISSING_FIELD"]


def test_1_1_shape_in_a_1_0_document_and_vice_versa_are_refused():
    assert ids_of({"version": "1.0", "output_data": []}) == ["UNKNOWN_FIELD"]
    assert ids_of({"files": [{"name": "x", "path": "/a"}]}) == ["UNKNOWN_FIELD"]


def test_output_needs_exactly_one_of_file_and_files():
    assert ids_of({"output_data": [{"name": "x"}]}) == ["INVALID_MANIFEST_OUTPUT"]
    assert ids_of({"output_data": [{"name": "x", "file": {"path": "/a"}, "files": []}]}) == ["INVALID_MANIFEST_OUTPUT"]


def test_output_fields():
    assert ids_of({"output_data": [{"file": {"path": "/a"}}]}) == ["MISSING_FIELD"]
    assert ids_of({"output_data": [{"name": "x", "file": {}}]}) == ["MISSING_FIELD"]
    assert ids_of({"output_data": [{"name": "x", "file": {"path": " "}}]}) == ["BLANK_VALUE"]
    assert ids_of({"output_data": [{"name": "x", "files": [{"path": 3}]}]}) == ["INVALID_TYPE"]
    assert ids_of({"output_data": [{"name": "x", "file": {"path": "/a"}}, {"name": "x", "file": {"path": "/b"}}]}) == [
        "DUPLICATE_NAME"
    ]


def test_geo_metadata_dates_must_be_iso_8601():
    doc = {
        "output_data": [
            {
                "name": "x",
                "file": {"path": "/a", "geo_metadata": {"data_started": "yesterday", "geo_json": {"type": "Point"}}},
            }
        ]
    }
    assert ids_of(doc) == ["INVALID_DATETIME"]
    doc["output_data"][0]["file"]["geo_metadata"]["data_started"] = "2015-05-15T10:34:12+00:00"
    manifest = parse_results_manifest(doc)
    assert manifest["output_data"][0]["file"]["geo_metadata"]["geo_json"] == {"type": "Point"}


def test_parse_results_rules():
    assert ids_of({"parse_results": [{"data_types": []}]}) == ["MISSING_FIELD"]
    assert ids_of({"parse_results": [{"filename": "a"}, {"filename": "a"}]}) == ["DUPLICATE_NAME"]
    assert ids_of({"parse_results": [{"filename": "a", "data_types": [1]}]}) == ["INVALID_TYPE"]
    parsed = parse_results_manifest(
        {"parse_results": [{"filename": "a", "new_workspace_path": "x/y", "data_started": "2015-01-01T00:00:00Z"}]}
    )
    assert parsed["parse_results"] == [
        {
            "filename": "a",
            "data_types": [],
            "new_workspace_path": "x/y",
            "geo_metadata": {"data_started": "2015-01-01T00:00:00Z"},
        }
    ]


def test_info_and_errors_sections():
    assert parse_results_manifest({"info": {"k": 1}, "errors": []})["info"] == {"k": 1}
    assert ids_of({"errors": "boom"}) == ["INVALID_TYPE"]


def test_every_problem_reported_together():
    doc = {"output_data": [{"name": "x"}, {"file": {"path": "/a"}}], "parse_results": [{}], "extra": 1}
    assert sorted(ids_of(doc)) == ["INVALID_MANIFEST_OUTPUT", "MISSING_FIELD", "MISSING_FIELD", "UNKNOWN_FIELD"]


# ---------------------------------------------------------------- artifacts


def test_artifact_lines():
    stdout = (
        "starting\n"
        "ARTIFACT:output_file:/tmp/out/a.csv\n"
        "  ARTIFACT:indented:/ignored\n"
        "ARTIFACT:many:/tmp/out/b:with:colons.txt\r\n"
        "ARTIFACT::/no/name\n"
        "ARTIFACT:nopath:\n"
        "ARTIFACT:many:/tmp/out/c.txt"
    )
    assert parse_artifact_lines(stdout) == [
        ("output_file", "/tmp/out/a.csv"),
        ("many", "/tmp/out/b:with:colons.txt"),
        ("many", "/tmp/out/c.txt"),
    ]
    assert parse_artifact_lines("") == [] and parse_artifact_lines(None) == []


def test_manifest_wins_over_artifacts():
    manifest = parse_results_manifest({"output_data": [{"name": "a", "file": {"path": "/from/manifest"}}]})
    merged = merge_artifacts(manifest, [("a", "/from/stdout"), ("b", "/b1"), ("b", "/b2"), ("c", "/c")])
    assert merged["output_data"] == [
        {"name": "a", "file": {"path": "/from/manifest"}},
        {"name": "b", "files": [{"path": "/b1"}, {"path": "/b2"}]},
        {"name": "c", "file": {"path": "/c"}},
    ]
    assert manifest["output_data"] == [{"name": "a", "file": {"path": "/from/manifest"}}], "input left unchanged"


# ---------------------------------------------------------------- against the interface

INTERFACE = validate_job_interface(
    {
        "command": "run",
        "output_data": [
            {"name": "one", "type": "file"},
            {"name": "many", "type": "files"},
            {"name": "maybe", "type": "file", "required": False},
        ],
    }
)


def test_match_to_interface_coerces_single_and_drops_unknown():
    manifest = parse_results_manifest(
        {
            "output_data": [
                {"name": "one", "files": [{"path": "/a"}]},
                {"name": "many", "file": {"path": "/b"}},
                {"name": "stray", "file": {"path": "/c"}},
            ]
        }
    )
    fitted, warnings = match_manifest_to_interface(manifest, INTERFACE)
    assert fitted["output_data"] == [
        {"name": "one", "file": {"path": "/a"}},
        {"name": "many", "files": [{"path": "/b"}]},
    ]
    assert [w.id for w in warnings] == ["IGNORED_OUTPUT"]


def test_match_to_interface_refuses_missing_required_and_several_for_one():
    manifest = parse_results_manifest({"output_data": [{"name": "one", "files": [{"path": "/a"}, {"path": "/b"}]}]})
    with pytest.raises(SpecError) as info:
        match_manifest_to_interface(manifest, INTERFACE)
    assert info.value.ids == ["INVALID_MANIFEST_OUTPUT", "MISSING_REQUIRED_OUTPUT"]
    assert "'many'" in str(info.value) and "'maybe'" not in str(info.value)
