"""Import/export configuration 1.0."""

from __future__ import annotations

import copy

import pytest

from app.specs.base import SpecError
from app.specs.port_config import normalize_import_configuration, validate_import_configuration
from tests.test_specs_examples import (
    IMPORT_CONFIGURATION,
    MAKE_GEOTIFF_INTERFACE,
    RECIPE_DEFINITION,
    Recorder,
    JOB_TYPES,
    lookup_workspaces_by_name,
)


def ids_of(doc, **kwargs) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_import_configuration(doc, **kwargs)
    return info.value.ids


def example(**changes):
    doc = copy.deepcopy(IMPORT_CONFIGURATION)
    doc.update(changes)
    return doc


def test_empty_document_and_default_version():
    normalized, warnings = normalize_import_configuration({})
    assert normalized == {"version": "1.0", "errors": [], "job_types": [], "recipe_types": []}
    assert warnings == []


def test_structure():
    assert ids_of(example(version="2.0")) == ["UNSUPPORTED_VERSION"]
    assert ids_of({"jobs": []}) == ["UNKNOWN_FIELD"]
    assert ids_of({"errors": {}}) == ["INVALID_TYPE"]
    assert ids_of({"job_types": ["my-job"]}) == ["INVALID_TYPE"]
    assert ids_of("import") == ["INVALID_DOCUMENT"]


def test_error_items():
    assert ids_of({"errors": [{"title": "no name"}]}) == ["MISSING_FIELD"]
    assert ids_of({"errors": [{"name": "e", "category": "FATAL"}]}) == ["INVALID_CATEGORY"]
    assert ids_of({"errors": [{"name": "e"}, {"name": "e"}]}) == ["DUPLICATE_NAME"]
    assert ids_of({"errors": [{"name": "e", "title": 5}]}) == ["INVALID_TYPE"]


def test_job_type_items():
    assert ids_of({"job_types": [{"name": "j"}]}) == ["MISSING_FIELD"]
    assert ids_of({"job_types": [{"name": "j", "version": "1"}, {"name": "j", "version": "1"}]}) == ["DUPLICATE_NAME"]
    assert ids_of(
        {"job_types": [{"name": "j", "version": "1", "timeout": -1, "cpus_required": "1", "is_operational": "yes"}]}
    ) == ["INVALID_TYPE", "INVALID_TYPE", "INVALID_TYPE"]
    # Extra exported fields (ids, timestamps) are fine.
    validate_import_configuration({"job_types": [{"name": "j", "version": "1", "id": 4, "created": "x"}]})


def test_nested_documents_are_validated_with_context():
    doc = {
        "job_types": [
            {"name": "j", "version": "1", "interface": {"command": ""}, "error_mapping": {"exit_codes": {"x": "e"}}}
        ]
    }
    with pytest.raises(SpecError) as info:
        validate_import_configuration(doc)
    assert info.value.ids == ["BLANK_VALUE", "INVALID_EXIT_CODE"]
    assert all(m.message.startswith("import configuration: job type j 1: ") for m in info.value.problems)


def test_trigger_rules():
    job_type = copy.deepcopy(IMPORT_CONFIGURATION["job_types"][0])
    job_type["trigger_rule"]["type"] = "SOMETIMES"
    assert ids_of({"job_types": [job_type]}) == ["INVALID_TYPE"]
    job_type["trigger_rule"] = {"type": "PARSE"}
    assert ids_of({"job_types": [job_type]}) == ["MISSING_FIELD"]
    job_type["trigger_rule"] = {
        "type": "PARSE",
        "configuration": {"data": {"input_data_name": "nope", "workspace_name": "rs"}},
    }
    assert ids_of({"job_types": [job_type]}) == ["UNKNOWN_INPUT"]
    job_type["trigger_rule"] = {
        "type": "INGEST",
        "configuration": {
            "condition": {"media_type": "text/plain"},
            "data": {"input_data_name": "input_file", "workspace_name": "rs"},
        },
    }
    warnings = validate_import_configuration({"job_types": [job_type]})
    assert [w.id for w in warnings] == ["media_type"]


def test_trigger_workspace_checked_when_lookup_given():
    job_type = copy.deepcopy(IMPORT_CONFIGURATION["job_types"][0])
    job_type["trigger_rule"]["configuration"]["data"]["workspace_name"] = "nope"
    assert ids_of({"job_types": [job_type]}, lookup_workspaces_by_name=lookup_workspaces_by_name) == [
        "UNKNOWN_WORKSPACE"
    ]
    validate_import_configuration({"job_types": [job_type]})  # structural only without a lookup


def test_recipe_definition_checked_against_the_documents_job_types():
    geotiff = {"name": "geotiff-maker", "version": "1.2.3", "interface": MAKE_GEOTIFF_INTERFACE}
    recipe = {"name": "r", "version": "1", "definition": copy.deepcopy(RECIPE_DEFINITION)}
    # point-detector is neither in the document nor (without a lookup) checkable: structure only.
    validate_import_configuration({"job_types": [geotiff], "recipe_types": [recipe]})
    # With a lookup, the installation's job types fill in what the document lacks.
    lookup = Recorder(JOB_TYPES)
    validate_import_configuration({"job_types": [geotiff], "recipe_types": [recipe]}, lookup_job_types=lookup)
    assert lookup.calls == [[("point-detector", "4.5.6")]]
    # The document's version of a job type wins over the installation's.
    changed = copy.deepcopy(geotiff)
    changed["interface"]["output_data"][0]["name"] = "renamed"
    assert ids_of({"job_types": [changed], "recipe_types": [recipe]}, lookup_job_types=lookup) == ["UNKNOWN_OUTPUT"]


def test_unknown_job_type_in_recipe_with_lookup():
    recipe = {"name": "r", "version": "1", "definition": copy.deepcopy(RECIPE_DEFINITION)}
    assert ids_of({"recipe_types": [recipe]}, lookup_job_types=lambda keys: {}) == [
        "UNKNOWN_JOB_TYPE",
        "UNKNOWN_JOB_TYPE",
    ]


def test_recipe_structure_errors_without_lookup():
    recipe = {
        "name": "r",
        "version": "1",
        "definition": {
            "jobs": [
                {"name": "a", "job_type": {"name": "x", "version": "1"}, "dependencies": [{"name": "b"}]},
                {"name": "b", "job_type": {"name": "x", "version": "1"}, "dependencies": [{"name": "a"}]},
            ]
        },
    }
    assert ids_of({"recipe_types": [recipe]}) == ["CYCLE"]
    assert ids_of({"recipe_types": [{"name": "r", "version": "1"}, {"name": "r", "version": "1"}]}) == [
        "DUPLICATE_NAME"
    ]
