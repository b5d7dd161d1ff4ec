"""Turn a job interface's command and command_arguments into the argv a task runs.

The command_arguments template is split into tokens *before* anything is substituted, and the
result is an argv list run without a shell. So a property value is always exactly one argument,
whatever it holds: `; rm -rf / $(id)` reaches the algorithm as that literal string.

Placeholders (job interface 1.0):
- `${name}`: a property's value, the path of a "file" input, the path(s) given for a "files" input
  (the pre step passes the one directory holding the files, as the documentation describes);
- `${FLAG:name}`: the same, preceded by FLAG. A FLAG ending in whitespace is a separate argument
  (`${-f :image}` -> "-f", "/path"); otherwise it is glued to the value (`${--image=:image}` ->
  "--image=/path");
- `${job_output_dir}`: the execution's output directory. An output's name also stands for it, since
  that is where the algorithm writes the output.
A token that refers to an optional input which was not given is left out entirely (flag included).
"""

from __future__ import annotations

import os
import shlex
from typing import Iterable, Mapping

from app.specs.base import Collector, Problem, SpecError
from app.specs.job_data import input_file_ids, property_values
from app.specs.job_interface import JOB_OUTPUT_DIR, Placeholder, tokenize_command_arguments

# input name -> local path(s) of its files, as the pre step laid them out
InputPaths = Mapping[str, "Iterable[str | os.PathLike[str]] | str | os.PathLike[str]"]


def _with_flag(flag: str, values: list[str]) -> list[str]:
    flag_words = flag.split()
    if not flag_words:
        return list(values)
    if flag[-1].isspace():
        return flag_words + list(values)
    return flag_words[:-1] + [flag_words[-1] + values[0]] + list(values[1:])


class _Resolver:
    """Values for placeholder names, recording a problem for anything that cannot be filled."""

    def __init__(
        self, interface: dict, job_data: dict, input_paths: InputPaths, job_output_dir: str, c: Collector
    ) -> None:
        self.inputs = {e["name"]: e for e in interface.get("input_data", [])}
        self.outputs = {e["name"] for e in interface.get("output_data", [])}
        self.properties = property_values(job_data)
        self.file_inputs_given = set(input_file_ids(job_data))
        self.input_paths = input_paths
        self.job_output_dir = job_output_dir
        self.c = c
        self.reported: set[str] = set()

    def _problem(self, name: str, problem_id: str, message: str) -> None:
        if name not in self.reported:  # a name used twice in the template is reported once
            self.reported.add(name)
            self.c.add(problem_id, message)

    def values(self, name: str) -> list[str] | None:
        """The substituted words, or None when an optional input is absent."""
        if name == JOB_OUTPUT_DIR or (name in self.outputs and name not in self.inputs):
            return [self.job_output_dir]
        spec = self.inputs.get(name)
        if spec is None:
            self._problem(
                name,
                "UNKNOWN_PLACEHOLDER",
                f"command_arguments: '{name}' is not an input, an output or {JOB_OUTPUT_DIR}",
            )
            return None
        required = spec.get("required", True)
        if spec.get("type") == "property":
            if name in self.properties:
                return [self.properties[name]]
            if required:
                self._problem(
                    name, "MISSING_REQUIRED_INPUT", f"command_arguments: required input '{name}' has no value"
                )
            return None
        raw = self.input_paths.get(name)
        # A lone str/Path is one path; Path objects become str so argv holds only strings.
        paths = [os.fspath(raw)] if isinstance(raw, (str, os.PathLike)) else [os.fspath(p) for p in raw or []]
        if paths:
            if spec.get("type") == "file" and len(paths) > 1:
                self._problem(name, "TOO_MANY_FILES", f"command_arguments: file input '{name}' got {len(paths)} paths")
                return None
            return paths
        if name in self.file_inputs_given:
            self._problem(
                name,
                "MISSING_INPUT_PATHS",
                f"command_arguments: input '{name}' has files in the job data but no local path was provided for them",
            )
        elif required:
            self._problem(name, "MISSING_REQUIRED_INPUT", f"command_arguments: required input '{name}' has no files")
        return None


def build_command_args(interface: dict, job_data: dict, *, input_paths: InputPaths, job_output_dir: str) -> list[str]:
    """The argument list from the interface's command_arguments; raises SpecError listing every problem."""
    c = Collector()
    tokens = tokenize_command_arguments(interface.get("command_arguments") or "")
    resolver = _Resolver(interface, job_data or {}, input_paths, job_output_dir, c)
    args: list[str] = []
    for token in tokens:
        words = [""]
        dropped = False
        for part in token:
            if isinstance(part, str):
                words[-1] += part
                continue
            assert isinstance(part, Placeholder)
            values = resolver.values(part.name)
            if not values:
                dropped = True
                continue  # keep going so every problem in the token is reported
            pieces = _with_flag(part.flag, values)
            if part.flag[:1].isspace() and words[-1]:
                words.append("")
            words[-1] += pieces[0]
            words.extend(pieces[1:])
        if not dropped:
            args.extend(words)
    c.raise_if_any()
    return args


def split_command(command: str) -> list[str]:
    """The interface's command as words (no substitution is done in it, per the documentation)."""
    try:
        words = shlex.split(command or "")
    except ValueError as exc:
        raise SpecError(Problem("INVALID_COMMAND", f"command '{command}' cannot be split into words ({exc})")) from None
    if not words:
        raise SpecError(Problem("INVALID_COMMAND", "the job interface has an empty command"))
    return words


def build_argv(interface: dict, job_data: dict, *, input_paths: InputPaths, job_output_dir: str) -> list[str]:
    """The full argv: the command's words followed by the substituted arguments."""
    return split_command(interface.get("command", "")) + build_command_args(
        interface, job_data, input_paths=input_paths, job_output_dir=job_output_dir
    )


def display_command_arguments(args: list[str]) -> str:
    """One shell-quoted string for storing and showing (not for running: tasks get the argv list)."""
    return shlex.join(args)
