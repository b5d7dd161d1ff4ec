"""Job interface 1.0: defaults, names, types and command_arguments placeholders."""

from __future__ import annotations

import pytest

from app.specs.base import SpecError
from app.specs.job_interface import (
    Placeholder,
    file_input_names,
    has_file_outputs,
    input_by_name,
    output_names,
    tokenize_command_arguments,
    validate_job_interface,
)
from tests.test_specs_examples import MAKE_GEOTIFF_INTERFACE


def interface(**overrides):
    doc = {"command": "run", "command_arguments": "", "input_data": [], "output_data": []}
    doc.update(overrides)
    return doc


def ids_of(doc) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_job_interface(doc)
    return info.value.ids


def test_defaults_are_filled():
    result = validate_job_interface(
        {
            "command": "run",
            "input_data": [{"name": "a", "type": "file"}, {"name": "p", "type": "property"}],
            "output_data": [{"name": "out", "type": "files"}],
            "shared_resources": [{"name": "db", "type": "db-connection"}],
        }
    )
    assert result == {
        "version": "1.0",
        "command": "run",
        "command_arguments": "",
        "input_data": [
            {"name": "a", "type": "file", "required": True, "media_types": []},
            {"name": "p", "type": "property", "required": True},
        ],
        "output_data": [{"name": "out", "type": "files", "required": True}],
        "shared_resources": [{"name": "db", "type": "db-connection", "required": True}],
    }


def test_unsupported_version():
    assert ids_of(interface(version="1.1")) == ["UNSUPPORTED_VERSION"]
    assert ids_of(interface(version=1.0)) == ["UNSUPPORTED_VERSION"]


def test_command_required_and_not_blank():
    doc = interface()
    del doc["command"]
    assert ids_of(doc) == ["MISSING_FIELD"]
    assert ids_of(interface(command="  ")) == ["BLANK_VALUE"]
    assert ids_of(interface(command="python 'unclosed")) == ["INVALID_COMMAND"]


@pytest.mark.parametrize("name", ["", "a/b", "x" * 256, "dollar$", "tab\tname"])
def test_invalid_names(name):
    assert ids_of(interface(input_data=[{"name": name, "type": "property"}])) == ["INVALID_NAME"]


def test_names_with_spaces_dashes_and_underscores_are_fine():
    validate_job_interface(interface(input_data=[{"name": "Param 1-a_b", "type": "property"}]))
    validate_job_interface(interface(input_data=[{"name": "x" * 255, "type": "property"}]))


def test_names_unique_across_inputs_and_outputs():
    assert ids_of(
        interface(input_data=[{"name": "a", "type": "file"}], output_data=[{"name": "a", "type": "file"}])
    ) == ["DUPLICATE_NAME"]
    assert ids_of(interface(input_data=[{"name": "a", "type": "file"}, {"name": "a", "type": "property"}])) == [
        "DUPLICATE_NAME"
    ]


def test_reserved_name():
    assert ids_of(interface(input_data=[{"name": "job_output_dir", "type": "property"}])) == ["RESERVED_NAME"]


def test_input_and_output_types():
    assert ids_of(interface(input_data=[{"name": "a", "type": "directory"}])) == ["INVALID_TYPE"]
    assert ids_of(interface(output_data=[{"name": "a", "type": "property"}])) == ["INVALID_TYPE"]
    assert ids_of(interface(input_data=[{"name": "a"}])) == ["MISSING_FIELD"]


def test_field_types():
    assert ids_of(interface(input_data=[{"name": "a", "type": "file", "required": "yes"}])) == ["INVALID_TYPE"]
    assert ids_of(interface(input_data=[{"name": "a", "type": "file", "media_types": "image/png"}])) == ["INVALID_TYPE"]
    assert ids_of(interface(input_data="a")) == ["INVALID_TYPE"]


def test_unknown_fields_refused():
    assert ids_of(interface(inputs=[])) == ["UNKNOWN_FIELD"]
    assert ids_of(interface(input_data=[{"name": "a", "type": "file", "requried": False}])) == ["UNKNOWN_FIELD"]
    # A property has no media types.
    assert ids_of(interface(input_data=[{"name": "a", "type": "property", "media_types": []}])) == ["UNKNOWN_FIELD"]


def test_placeholders_must_name_an_input_output_or_job_output_dir():
    doc = interface(
        command_arguments="${a} ${-f :b} ${out} ${job_output_dir} ${missing} ${-x :gone}",
        input_data=[{"name": "a", "type": "file"}, {"name": "b", "type": "property"}],
        output_data=[{"name": "out", "type": "file"}],
    )
    with pytest.raises(SpecError) as info:
        validate_job_interface(doc)
    assert info.value.ids == ["UNKNOWN_PLACEHOLDER", "UNKNOWN_PLACEHOLDER"]
    assert "missing" in str(info.value) and "gone" in str(info.value)


def test_unterminated_and_empty_placeholders():
    assert ids_of(interface(command_arguments="${a")) == ["INVALID_PLACEHOLDER"]
    assert ids_of(interface(command_arguments="${}")) == ["INVALID_PLACEHOLDER"]


def test_every_problem_is_reported_at_once():
    doc = {
        "version": "1.0",
        "command": "",
        "input_data": [{"name": "bad!", "type": "nope"}],
        "output_data": [{"name": "o", "type": "file"}, {"name": "o", "type": "file"}],
    }
    assert sorted(ids_of(doc)) == ["BLANK_VALUE", "DUPLICATE_NAME", "INVALID_NAME", "INVALID_TYPE"]


def test_tokenizer_keeps_placeholders_with_spaces_whole():
    tokens = tokenize_command_arguments("  a${-f :x}b   ${my input}\t${job_output_dir}/out ")
    assert tokens == [
        ["a", Placeholder("-f ", "x", "${-f :x}"), "b"],
        [Placeholder("", "my input", "${my input}")],
        [Placeholder("", "job_output_dir", "${job_output_dir}"), "/out"],
    ]


def test_helpers():
    result = validate_job_interface(MAKE_GEOTIFF_INTERFACE)
    assert file_input_names(result) == ["image", "georeference_data"]
    assert output_names(result) == ["geo_image"]
    assert input_by_name(result)["image"]["media_types"] == ["image/png"]
    assert has_file_outputs(result)
    assert not has_file_outputs(validate_job_interface(interface()))
