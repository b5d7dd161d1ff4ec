"""Ingest, parse and clock trigger configurations 1.0, and checking a rule against its target's inputs."""

from __future__ import annotations

import pytest

from app.specs.base import SpecError
from app.specs.trigger_config import (
    check_trigger_against_inputs,
    parse_schedule,
    validate_clock_trigger,
    validate_ingest_trigger,
    validate_parse_trigger,
)
from tests.test_specs_examples import INGEST_TRIGGER, lookup_workspaces_by_name


def ids_of(validate, doc, **kwargs) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate(doc, **kwargs)
    return info.value.ids


@pytest.mark.parametrize("validate", [validate_ingest_trigger, validate_parse_trigger])
def test_condition_is_optional_with_documented_defaults(validate):
    config = validate(
        {"data": {"input_data_name": "f", "workspace_name": "rs"}}, lookup_workspaces_by_name=lookup_workspaces_by_name
    )
    assert config == {
        "version": "1.0",
        "condition": {"media_type": "", "data_types": []},
        "data": {"input_data_name": "f", "workspace_name": "rs"},
    }


@pytest.mark.parametrize("validate", [validate_ingest_trigger, validate_parse_trigger])
def test_data_is_required(validate):
    assert ids_of(validate, {"version": "1.0"}) == ["MISSING_FIELD"]
    assert ids_of(validate, {"data": {"workspace_name": "rs"}}) == ["MISSING_FIELD"]
    assert ids_of(validate, {"data": {"input_data_name": " ", "workspace_name": "rs"}}) == ["BLANK_VALUE"]
    assert ids_of(validate, {"data": "rs"}) == ["INVALID_TYPE"]


@pytest.mark.parametrize("validate", [validate_ingest_trigger, validate_parse_trigger])
def test_workspace_must_exist_and_be_active(validate):
    doc = {"data": {"input_data_name": "f", "workspace_name": "nope"}}
    assert ids_of(validate, doc, lookup_workspaces_by_name=lookup_workspaces_by_name) == ["UNKNOWN_WORKSPACE"]
    doc = {"data": {"input_data_name": "f", "workspace_name": "old"}}
    assert ids_of(validate, doc, lookup_workspaces_by_name=lookup_workspaces_by_name) == ["INACTIVE_WORKSPACE"]


@pytest.mark.parametrize("validate", [validate_ingest_trigger, validate_parse_trigger])
def test_version_and_fields(validate):
    assert ids_of(validate, {**INGEST_TRIGGER, "version": "2.0"}) == ["UNSUPPORTED_VERSION"]
    assert ids_of(validate, {**INGEST_TRIGGER, "rule": 1}) == ["UNKNOWN_FIELD"]
    assert ids_of(validate, {**INGEST_TRIGGER, "condition": {"data_types": "foo"}}) == ["INVALID_TYPE"]
    assert ids_of(validate, {**INGEST_TRIGGER, "condition": {"media_type": 5}}) == ["INVALID_TYPE"]


# ---------------------------------------------------------------- clock


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("PT1H0M0S", 3600),
        ("PT1H", 3600),
        ("PT15M", 900),
        ("PT60S", 60),
        ("PT24H", 86400),
        ("PT1H30M", 5400),
    ],
)
def test_schedule_seconds(text, seconds):
    assert parse_schedule(text) == seconds
    assert validate_clock_trigger({"event_type": "E", "schedule": text})["schedule_seconds"] == seconds


@pytest.mark.parametrize(
    "text", ["P1D", "PT1D", "1H", "PT", "P", "PT30S", "PT0S", "P1Y", "P1W", "PT1.5H", "every hour"]
)
def test_bad_schedules(text):
    assert ids_of(validate_clock_trigger, {"event_type": "E", "schedule": text}) == ["INVALID_SCHEDULE"]


def test_days_are_explicitly_unsupported():
    with pytest.raises(SpecError) as info:
        validate_clock_trigger({"event_type": "E", "schedule": "P1DT1H"})
    assert "days" in str(info.value)


def test_clock_required_fields_and_version():
    assert ids_of(validate_clock_trigger, {"schedule": "PT1H"}) == ["MISSING_FIELD"]
    assert ids_of(validate_clock_trigger, {"event_type": "", "schedule": "PT1H"}) == ["BLANK_VALUE"]
    assert ids_of(validate_clock_trigger, {"event_type": "E"}) == ["MISSING_FIELD"]
    assert ids_of(validate_clock_trigger, {"version": "0.9", "event_type": "E", "schedule": "PT1H"}) == [
        "UNSUPPORTED_VERSION"
    ]


def test_clock_config_validates_again_after_storage():
    stored = validate_clock_trigger({"event_type": "E", "schedule": "PT1H"})
    assert validate_clock_trigger({**stored, "schedule_seconds": 1}) == stored


# ---------------------------------------------------------------- against the target's inputs

INPUTS = {"input_file": ("file", ["image/png"]), "any_file": ("files", []), "prop": ("property", [])}


def normalized(input_name, media_type=""):
    return validate_parse_trigger(
        {"condition": {"media_type": media_type}, "data": {"input_data_name": input_name, "workspace_name": "rs"}}
    )


def test_trigger_matching_input():
    assert check_trigger_against_inputs(normalized("input_file", "image/png"), INPUTS) == []
    assert check_trigger_against_inputs(normalized("any_file", "text/plain"), INPUTS) == []


def test_unknown_input_is_an_error():
    with pytest.raises(SpecError) as info:
        check_trigger_against_inputs(normalized("nope"), INPUTS)
    assert info.value.ids == ["UNKNOWN_INPUT"]


def test_property_input_cannot_receive_a_file():
    with pytest.raises(SpecError) as info:
        check_trigger_against_inputs(normalized("prop"), INPUTS)
    assert info.value.ids == ["TYPE_MISMATCH"]


def test_media_type_not_accepted_is_a_warning():
    warnings = check_trigger_against_inputs(normalized("input_file", "text/plain"), INPUTS)
    assert [(w.id, w.message) for w in warnings] == [
        ("media_type", "Invalid media type for data input: input_file -> text/plain")
    ]
