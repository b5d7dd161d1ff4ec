"""Job interface 1.0: a job type's command line, inputs, outputs and shared resources."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from app.specs.base import (
    Collector,
    Problem,
    SpecError,
    check_name,
    check_unknown_fields,
    check_version,
    describe,
    get_bool,
    get_list,
    get_str,
    get_str_list,
    root_object,
)

WHAT = "job interface"
INPUT_TYPES = ("property", "file", "files")
OUTPUT_TYPES = ("file", "files")
FILE_TYPES = ("file", "files")
# The one substitution value that is not an input or output name.
JOB_OUTPUT_DIR = "job_output_dir"


# ---------------------------------------------------------------- command_arguments template


@dataclass(frozen=True)
class Placeholder:
    """`${name}` or `${FLAG:name}` inside command_arguments; `flag` is "" when there is none."""

    flag: str
    name: str
    text: str


TemplatePart = str | Placeholder


def tokenize_command_arguments(template: str) -> list[list[TemplatePart]]:
    """Split the template on whitespace *outside* placeholders into tokens of literal text and placeholders.

    A placeholder is atomic, so `${-f :image}` (a flag holding a space) stays one token. Splitting the
    template before substitution is what keeps every substituted value a single argument.
    Raises SpecError (INVALID_PLACEHOLDER) for an unterminated `${`.
    """
    tokens: list[list[TemplatePart]] = []
    current: list[TemplatePart] = []
    i, n = 0, len(template)
    while i < n:
        if template.startswith("${", i):
            end = template.find("}", i + 2)
            if end < 0:
                raise SpecError(
                    Problem(
                        "INVALID_PLACEHOLDER",
                        f"command_arguments: '{template[i:]}' starts a placeholder with '${{' but has no closing '}}'",
                    )
                )
            inner = template[i + 2 : end]
            # Names cannot contain ':', so the last colon separates the flag from the name.
            colon = inner.rfind(":")
            flag, name = (inner[:colon], inner[colon + 1 :]) if colon >= 0 else ("", inner)
            current.append(Placeholder(flag=flag, name=name, text=template[i : end + 1]))
            i = end + 1
        elif template[i].isspace():
            if current:
                tokens.append(current)
                current = []
            i += 1
        else:
            if current and isinstance(current[-1], str):
                current[-1] += template[i]
            else:
                current.append(template[i])
            i += 1
    if current:
        tokens.append(current)
    return tokens


def placeholders(template: str) -> list[Placeholder]:
    return [part for token in tokenize_command_arguments(template) for part in token if isinstance(part, Placeholder)]


# ---------------------------------------------------------------- validation


def check_input_specs(raw: list, what: str, c: Collector) -> list[dict]:
    """Input declarations (`{name, type, required, media_types}`); shared with the recipe definition."""
    inputs: list[dict] = []
    for i, item in enumerate(raw):
        where = f"{what}: input_data[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        name = check_name(item.get("name"), where, c)
        input_type = get_str(item, "type", where, c, required=True)
        if input_type is not None and input_type not in INPUT_TYPES:
            c.add("INVALID_TYPE", f"{where}: type '{input_type}' is not one of {', '.join(INPUT_TYPES)}")
            input_type = None
        allowed = (
            ("name", "type", "required", "media_types") if input_type in FILE_TYPES else ("name", "type", "required")
        )
        if input_type is not None:
            check_unknown_fields(item, allowed, where, c)
        entry: dict[str, Any] = {
            "name": name,
            "type": input_type,
            "required": get_bool(item, "required", where, c, True),
        }
        if input_type in FILE_TYPES:
            entry["media_types"] = get_str_list(item, "media_types", where, c)
        inputs.append(entry)
    return inputs


def _check_outputs(raw: list, c: Collector) -> list[dict]:
    outputs: list[dict] = []
    for i, item in enumerate(raw):
        where = f"{WHAT}: output_data[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        check_unknown_fields(item, ("name", "type", "required", "media_type"), where, c)
        name = check_name(item.get("name"), where, c)
        output_type = get_str(item, "type", where, c, required=True)
        if output_type is not None and output_type not in OUTPUT_TYPES:
            c.add("INVALID_TYPE", f"{where}: type '{output_type}' is not one of {', '.join(OUTPUT_TYPES)}")
            output_type = None
        entry: dict[str, Any] = {
            "name": name,
            "type": output_type,
            "required": get_bool(item, "required", where, c, True),
        }
        media_type = get_str(item, "media_type", where, c)
        if media_type is not None and media_type.strip():
            entry["media_type"] = media_type
        outputs.append(entry)
    return outputs


def _check_shared_resources(raw: list, c: Collector) -> list[dict]:
    resources: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"{WHAT}: shared_resources[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        check_unknown_fields(item, ("name", "type", "required"), where, c)
        name = get_str(item, "name", where, c, required=True, non_blank=True)
        resource_type = get_str(item, "type", where, c, required=True, non_blank=True)
        if name is not None:
            if name in seen:
                c.add("DUPLICATE_NAME", f"{where}: shared resource name '{name}' is used more than once")
            seen.add(name)
        resources.append({"name": name, "type": resource_type, "required": get_bool(item, "required", where, c, True)})
    return resources


def validate_job_interface(doc: dict | None) -> dict:
    """Normalize a job interface (defaults filled) or raise SpecError listing every problem."""
    c = Collector()
    doc = root_object(doc, WHAT, c, allow_none=False)
    c.raise_if_any()
    version = check_version(doc, WHAT, c)
    check_unknown_fields(
        doc, ("version", "command", "command_arguments", "input_data", "output_data", "shared_resources"), WHAT, c
    )

    command = get_str(doc, "command", WHAT, c, required=True, non_blank=True)
    if command is not None:
        try:
            shlex.split(command)
        except ValueError as exc:
            c.add("INVALID_COMMAND", f"{WHAT}: command '{command}' cannot be split into words ({exc})")
    arguments = get_str(doc, "command_arguments", WHAT, c)
    if arguments is None:
        arguments = ""

    inputs = check_input_specs(get_list(doc, "input_data", WHAT, c) or [], WHAT, c)
    outputs = _check_outputs(get_list(doc, "output_data", WHAT, c) or [], c)
    resources = _check_shared_resources(get_list(doc, "shared_resources", WHAT, c) or [], c)

    # The documentation: "The name of every input and output in the interface must be unique."
    seen: dict[str, str] = {}
    for kind, entries in (("input", inputs), ("output", outputs)):
        for entry in entries:
            name = entry["name"]
            if name is None:
                continue
            if name == JOB_OUTPUT_DIR:
                c.add("RESERVED_NAME", f"{WHAT}: {kind} name '{JOB_OUTPUT_DIR}' is reserved for the output directory")
            if name in seen:
                c.add(
                    "DUPLICATE_NAME",
                    f"{WHAT}: {kind} name '{name}' is already used by an {seen[name]}; "
                    f"every input and output name must be unique",
                )
            else:
                seen[name] = kind

    try:
        for ph in placeholders(arguments):
            if not ph.name:
                c.add("INVALID_PLACEHOLDER", f"{WHAT}: command_arguments placeholder '{ph.text}' names nothing")
            elif ph.name != JOB_OUTPUT_DIR and ph.name not in seen:
                c.add(
                    "UNKNOWN_PLACEHOLDER",
                    f"{WHAT}: command_arguments placeholder '{ph.text}' refers to '{ph.name}', "
                    f"which is not an input, an output or {JOB_OUTPUT_DIR}",
                )
    except SpecError as exc:
        c.absorb(exc, WHAT)

    c.raise_if_any()
    return {
        "version": version,
        "command": command,
        "command_arguments": arguments,
        "input_data": inputs,
        "output_data": outputs,
        "shared_resources": resources,
    }


# ---------------------------------------------------------------- helpers on a normalized interface


def input_by_name(interface: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in interface.get("input_data", [])}


def output_by_name(interface: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in interface.get("output_data", [])}


def file_input_names(interface: dict) -> list[str]:
    """Names of inputs that receive files (type file or files), in interface order."""
    return [entry["name"] for entry in interface.get("input_data", []) if entry.get("type") in FILE_TYPES]


def property_input_names(interface: dict) -> list[str]:
    return [entry["name"] for entry in interface.get("input_data", []) if entry.get("type") == "property"]


def output_names(interface: dict) -> list[str]:
    """Names of every output (all outputs are files), in interface order."""
    return [entry["name"] for entry in interface.get("output_data", [])]


def has_file_outputs(interface: dict) -> bool:
    return any(entry.get("type") in FILE_TYPES for entry in interface.get("output_data", []))
