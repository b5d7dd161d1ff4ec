"""Error interface 1.0 (exit code -> error name)."""

from __future__ import annotations

import pytest

from app.specs.base import SpecError
from app.specs.error_interface import error_name_for_exit_code, error_names, validate_error_mapping


def ids_of(doc) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_error_mapping(doc)
    return info.value.ids


def test_missing_version_defaults_to_1_0():
    assert validate_error_mapping({"exit_codes": {"2": "bad-data"}}) == {
        "version": "1.0",
        "exit_codes": {"2": "bad-data"},
    }


@pytest.mark.parametrize("doc", [None, {}])
def test_no_mapping_is_an_empty_mapping(doc):
    assert validate_error_mapping(doc) == {"version": "1.0", "exit_codes": {}}


def test_unsupported_version():
    assert ids_of({"version": "2.0", "exit_codes": {}}) == ["UNSUPPORTED_VERSION"]


def test_exit_codes_required_when_a_document_is_given():
    assert ids_of({"version": "1.0"}) == ["MISSING_FIELD"]


def test_exit_codes_must_be_integers_as_strings():
    assert ids_of({"exit_codes": {"one": "unknown", "1.5": "unknown"}}) == ["INVALID_EXIT_CODE", "INVALID_EXIT_CODE"]


def test_exit_code_zero_and_duplicates_refused():
    assert ids_of({"exit_codes": {"0": "unknown"}}) == ["INVALID_EXIT_CODE"]
    assert ids_of({"exit_codes": {"1": "a", "01": "b"}}) == ["INVALID_EXIT_CODE"]


def test_error_name_must_be_a_non_blank_string():
    assert ids_of({"exit_codes": {"1": 5, "2": " "}}) == ["INVALID_TYPE", "BLANK_VALUE"]


def test_unknown_field_and_non_object():
    assert ids_of({"exit_codes": {}, "codes": {}}) == ["UNKNOWN_FIELD"]
    assert ids_of(["1"]) == ["INVALID_DOCUMENT"]


def test_negative_codes_are_integers_too():
    mapping = validate_error_mapping({"exit_codes": {"-9": "killed", "137": "oom"}})
    assert error_name_for_exit_code(mapping, -9) == "killed"
    assert error_name_for_exit_code(mapping, 137) == "oom"


def test_lookup_helpers():
    mapping = validate_error_mapping({"exit_codes": {"1": "unknown", "2": "bad-data", "3": "unknown"}})
    assert error_name_for_exit_code(mapping, 2) == "bad-data"
    assert error_name_for_exit_code(mapping, 4) is None
    assert error_name_for_exit_code(None, 1) is None
    assert error_names(mapping) == {"unknown", "bad-data"}
    assert error_names({}) == set()
