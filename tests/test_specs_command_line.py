"""Building the argv of a job from its interface and data, without a shell."""

from __future__ import annotations

import shlex

import pytest

from app.command_line import build_argv, build_command_args, display_command_arguments
from app.specs.base import SpecError
from app.specs.job_interface import validate_job_interface
from tests.test_specs_examples import JOB_DATA, MAKE_GEOTIFF_INTERFACE


def make(arguments, inputs=(), outputs=(), command="algo"):
    return validate_job_interface(
        {"command": command, "command_arguments": arguments, "input_data": list(inputs), "output_data": list(outputs)}
    )


PROP = {"name": "p", "type": "property"}
OPT = {"name": "o", "type": "property", "required": False}
FILE = {"name": "f", "type": "file"}
FILES = {"name": "fs", "type": "files"}
OPT_FILE = {"name": "of", "type": "file", "required": False}


def data(**values):
    entries = []
    for name, value in values.items():
        if isinstance(value, str):
            entries.append({"name": name, "value": value})
        elif isinstance(value, int):
            entries.append({"name": name, "file_id": value})
        else:
            entries.append({"name": name, "file_ids": list(value)})
    return {"version": "1.0", "input_data": entries, "output_data": []}


def test_spec_example():
    argv = build_argv(
        validate_job_interface(MAKE_GEOTIFF_INTERFACE),
        JOB_DATA,
        input_paths={"image": ["/exe/in/image/a.png"], "georeference_data": ["/exe/in/geo/b.csv"]},
        job_output_dir="/exe/out",
    )
    assert argv == ["python", "make_geotiff.py", "/exe/in/image/a.png", "/exe/in/geo/b.csv", "/exe/out"]


@pytest.mark.parametrize(
    "hostile",
    [
        "; rm -rf / $(id)",
        "a b  c",
        "'quoted' \"double\" `tick`",
        "${job_output_dir}",
        "line\nbreak",
        "",
        "*",
    ],
)
def test_property_value_is_always_exactly_one_literal_argument(hostile):
    args = build_command_args(make("--x ${p} end", [PROP]), data(p=hostile), input_paths={}, job_output_dir="/out")
    assert args == ["--x", hostile, "end"]


def test_flag_form_with_space_is_two_arguments_and_glued_form_one():
    interface = make("${-f :p} ${--name=:p} ${-o :f}", [PROP, FILE])
    args = build_command_args(interface, data(p="v w", f=1), input_paths={"f": ["/in/f/x"]}, job_output_dir="/out")
    assert args == ["-f", "v w", "--name=v w", "-o", "/in/f/x"]


def test_absent_optional_inputs_are_left_out_with_their_flags():
    interface = make("a ${-o :o} --of=${of} ${o} b", [OPT, OPT_FILE])
    assert build_command_args(interface, data(), input_paths={}, job_output_dir="/out") == ["a", "b"]
    assert build_command_args(interface, data(o="1", of=3), input_paths={"of": ["/in/x"]}, job_output_dir="/out") == [
        "a",
        "-o",
        "1",
        "--of=/in/x",
        "1",
        "b",
    ]


def test_job_output_dir_and_output_names():
    interface = make(
        "${job_output_dir} --out=${job_output_dir}/r.json ${-d :result}", outputs=[{"name": "result", "type": "file"}]
    )
    assert build_command_args(interface, data(), input_paths={}, job_output_dir="/my out") == [
        "/my out",
        "--out=/my out/r.json",
        "-d",
        "/my out",
    ]


def test_files_input_gets_what_the_pre_step_gives():
    interface = make("${-i :fs}", [FILES])
    assert build_command_args(interface, data(fs=[1, 2]), input_paths={"fs": ["/in/fs"]}, job_output_dir="/o") == [
        "-i",
        "/in/fs",
    ]
    assert build_command_args(interface, data(fs=[1, 2]), input_paths={"fs": ["/a", "/b"]}, job_output_dir="/o") == [
        "-i",
        "/a",
        "/b",
    ]


def test_input_names_with_spaces():
    interface = make("${Param 1} ${-p :Param 1}", [{"name": "Param 1", "type": "property"}])
    assert build_command_args(
        interface, {"input_data": [{"name": "Param 1", "value": "HELLO"}]}, input_paths={}, job_output_dir="/o"
    ) == ["HELLO", "-p", "HELLO"]


def test_missing_required_values_are_reported_together():
    interface = make("${p} ${f} ${p}", [PROP, FILE])
    with pytest.raises(SpecError) as info:
        build_command_args(interface, data(), input_paths={}, job_output_dir="/o")
    assert info.value.ids == ["MISSING_REQUIRED_INPUT", "MISSING_REQUIRED_INPUT"]


def test_files_in_data_without_local_paths_is_an_error():
    with pytest.raises(SpecError) as info:
        build_command_args(make("${of}", [OPT_FILE]), data(of=1), input_paths={}, job_output_dir="/o")
    assert info.value.ids == ["MISSING_INPUT_PATHS"]


def test_single_file_input_with_several_paths():
    with pytest.raises(SpecError) as info:
        build_command_args(make("${f}", [FILE]), data(f=1), input_paths={"f": ["/a", "/b"]}, job_output_dir="/o")
    assert info.value.ids == ["TOO_MANY_FILES"]


def test_command_is_split_like_a_shell_but_not_substituted():
    interface = make("${p}", [PROP], command="python '/opt/my app/run.py' ${p}")
    assert build_argv(interface, data(p="x"), input_paths={}, job_output_dir="/o") == [
        "python",
        "/opt/my app/run.py",
        "${p}",
        "x",
    ]


def test_display_round_trips_through_a_shell_parser():
    args = ["-f", "; rm -rf / $(id)", "a b", "plain"]
    shown = display_command_arguments(args)
    assert shlex.split(shown) == args
    assert shown.startswith("-f '; rm -rf / $(id)'")


def test_path_objects_become_strings():
    from pathlib import Path

    args = build_command_args(
        make("${f} ${fs}", [FILE, FILES]),
        data(f=1, fs=[2]),
        input_paths={"f": Path("/in/f/a"), "fs": [Path("/in/fs/b"), "/in/fs/c"]},
        job_output_dir="/o",
    )
    assert args == ["/in/f/a", "/in/fs/b", "/in/fs/c"]
    assert all(type(a) is str for a in args)
