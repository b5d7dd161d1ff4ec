"""Error interface 1.0: a job type's map from algorithm exit codes to error names."""

from __future__ import annotations

import re
from app.specs.base import Collector, check_unknown_fields, check_version, describe, get_object, root_object

WHAT = "error mapping"
_EXIT_CODE = re.compile(r"^-?[0-9]+$")


def validate_error_mapping(doc: dict | None) -> dict:
    """Normalize `{"version", "exit_codes": {"<int>": "<error name>"}}`; raise SpecError listing every problem.

    None or {} means "no mapping" (a job type without one); any other document must carry exit_codes.
    """
    c = Collector()
    doc = root_object(doc, WHAT, c)
    c.raise_if_any()
    if not doc:
        return {"version": "1.0", "exit_codes": {}}

    version = check_version(doc, WHAT, c)
    check_unknown_fields(doc, ("version", "exit_codes"), WHAT, c)
    exit_codes = get_object(doc, "exit_codes", WHAT, c, required=True) or {}

    normalized: dict[str, str] = {}
    for key, error_name in exit_codes.items():
        if not isinstance(key, str) or not _EXIT_CODE.match(key.strip()):
            c.add("INVALID_EXIT_CODE", f"{WHAT}: exit code '{key}' must be an integer written as a string, e.g. \"1\"")
            continue
        code = int(key.strip())
        if code == 0:
            c.add("INVALID_EXIT_CODE", f"{WHAT}: exit code 0 means success and cannot be mapped to an error")
            continue
        if str(code) in normalized:
            # "1" and "01" would silently overwrite each other.
            c.add("INVALID_EXIT_CODE", f"{WHAT}: exit code {code} is mapped more than once")
            continue
        if not isinstance(error_name, str):
            c.add(
                "INVALID_TYPE",
                f"{WHAT}: the error for exit code {key} must be an error name string, got {describe(error_name)}",
            )
            continue
        if not error_name.strip():
            c.add("BLANK_VALUE", f"{WHAT}: the error name for exit code {key} must not be blank")
            continue
        normalized[str(code)] = error_name
    c.raise_if_any()
    return {"version": version, "exit_codes": normalized}


def error_name_for_exit_code(mapping: dict | None, exit_code: int) -> str | None:
    """The error name a (normalized) mapping gives an exit code, or None when unmapped."""
    if not mapping:
        return None
    return (mapping.get("exit_codes") or {}).get(str(int(exit_code)))


def error_names(mapping: dict | None) -> set[str]:
    """Every error name the mapping refers to, so callers can check they exist."""
    if not mapping:
        return set()
    return set((mapping.get("exit_codes") or {}).values())
