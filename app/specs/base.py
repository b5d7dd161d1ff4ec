"""Shared pieces of the JSON specification modules: problems, the error carrying them, and field checks.

Every validator collects *all* problems of a document before raising, so a user fixes a document in
one round trip instead of one error at a time. Warnings use the same `Problem` type; the REST layer
renders them as `{"id", "details"}` (the shape the specification shows for warnings).

Problem ids used across the modules (stable, machine readable):
UNSUPPORTED_VERSION, INVALID_DOCUMENT, MISSING_FIELD, UNKNOWN_FIELD, INVALID_TYPE, BLANK_VALUE,
INVALID_NAME, DUPLICATE_NAME, RESERVED_NAME, INVALID_COMMAND, UNKNOWN_PLACEHOLDER, INVALID_PLACEHOLDER,
INVALID_EXIT_CODE, UNKNOWN_INPUT, UNKNOWN_OUTPUT, MISSING_REQUIRED_INPUT, MISSING_REQUIRED_OUTPUT,
INVALID_PROPERTY_VALUE, MISSING_FILE, UNKNOWN_FILE, TOO_MANY_FILES, MISSING_WORKSPACE, UNKNOWN_WORKSPACE,
INACTIVE_WORKSPACE, UNKNOWN_JOB_TYPE, INVALID_JOB_INTERFACE, UNKNOWN_RECIPE_INPUT, UNKNOWN_DEPENDENCY,
DUPLICATE_DEPENDENCY, INPUT_FED_TWICE, TYPE_MISMATCH, OPTIONAL_FEEDS_REQUIRED, CYCLE, INVALID_MOUNT,
INVALID_REGEX, INVALID_PATH, INVALID_SCHEDULE, UNKNOWN_BROKER_TYPE, INVALID_DATETIME, INVALID_CATEGORY,
INVALID_MANIFEST_OUTPUT, MISSING_INPUT_PATHS, EMPTY_LIST.
Warning ids: media_type (as in the specification's examples), IGNORED_OUTPUT.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

# Names of inputs, outputs and recipe jobs: "less than 256 of: alphanumeric, ' ', '_' and '-'".
NAME_PATTERN = re.compile(r"^[A-Za-z0-9 _-]{1,255}$")
NAME_RULE = "may only contain letters, digits, spaces, '_' and '-' and be 1 to 255 characters long"
# Stable names (errors, job types, recipe types, workspaces, Strikes, resource pools) are used in queries and paths.
STABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
STABLE_NAME_RULE = "may only contain letters, digits, '_', '.' and '-'"

MEDIA_TYPE_WARNING = "media_type"

# NFS mounts are written "host:/file/path".
MOUNT_PATTERN = re.compile(r"^[^\s:/]+:/.*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (or, as a warning, worth knowing about) a document."""

    id: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "message": self.message}

    def to_warning_dict(self) -> dict[str, str]:
        """The specification's warning shape: `{"id": ..., "details": ...}`."""
        return {"id": self.id, "details": self.message}


class SpecError(Exception):
    """A document is invalid; `problems` lists every reason found."""

    def __init__(self, problems: Problem | Iterable[Problem]) -> None:
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        if not self.problems:
            raise ValueError("SpecError needs at least one problem")
        super().__init__(str(self))

    def __str__(self) -> str:
        return "; ".join(p.message for p in self.problems)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.problems]

    def to_dict(self) -> dict[str, Any]:
        return {"detail": str(self), "errors": [p.to_dict() for p in self.problems]}


def warnings_to_dicts(warnings: Iterable[Problem]) -> list[dict[str, str]]:
    return [w.to_warning_dict() for w in warnings]


class Collector:
    """Accumulates problems and warnings while a document is checked, then raises once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, problem_id: str, message: str) -> None:
        self.problems.append(Problem(problem_id, message))

    def warn(self, problem_id: str, message: str) -> None:
        self.warnings.append(Problem(problem_id, message))

    def absorb(self, error: SpecError, context: str = "") -> None:
        """Take over the problems of a nested document's SpecError, naming where they came from."""
        for p in error.problems:
            self.problems.append(Problem(p.id, f"{context}: {p.message}" if context else p.message))

    def absorb_warnings(self, warnings: Iterable[Problem], context: str = "") -> None:
        for w in warnings:
            self.warnings.append(Problem(w.id, f"{context}: {w.message}" if context else w.message))

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise SpecError(self.problems)


# ---------------------------------------------------------------- field checks
# Each check records a problem and returns a usable value (or None) so validation can go on and
# report the remaining problems too.


# Integers the system stores: integer columns (ids included) are 32-bit on PostgreSQL.
MAX_DB_INT = 2**31 - 1


def fits_db_int(number: int) -> bool:
    """The one range check of stored integers."""
    return -MAX_DB_INT - 1 <= number <= MAX_DB_INT


def is_int(value: Any) -> bool:
    """An integer the database can hold (bool is a subclass of int in Python; JSON true is not an id)."""
    return isinstance(value, int) and not isinstance(value, bool) and fits_db_int(value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_float(value: Any) -> float | None:
    """The value as a finite float, or None when it is no number, too large for one, NaN or infinite.

    JSON has no NaN or infinity, but `1e400` parses to inf and a 400-digit integer overflows float().
    """
    if not is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def short_repr(value: Any, limit: int = 40) -> str:
    """A value for a message, cut short (a 400-digit number should not fill the answer)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any) -> str:
    """A short JSON-ish type name for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def root_object(doc: Any, what: str, c: Collector, *, allow_none: bool = True) -> dict[str, Any]:
    """The document itself must be a JSON object; None counts as an empty one when allowed."""
    if doc is None and allow_none:
        return {}
    if not isinstance(doc, dict):
        c.add("INVALID_DOCUMENT", f"{what} must be a JSON object, got {describe(doc)}")
        return {}
    return doc


def check_version(
    doc: Mapping[str, Any], what: str, c: Collector, supported: tuple[str, ...] = ("1.0",), default: str = "1.0"
) -> str | None:
    """Missing version means the latest (`default`); anything not in `supported` is refused."""
    if "version" not in doc or doc["version"] is None:
        return default
    version = doc["version"]
    if not isinstance(version, str):
        c.add("UNSUPPORTED_VERSION", f'{what}: version must be a string such as "{default}", got {describe(version)}')
        return None
    if version not in supported:
        c.add(
            "UNSUPPORTED_VERSION", f'{what}: version "{version}" is not supported (supported: {", ".join(supported)})'
        )
        return None
    return version


def check_unknown_fields(obj: Mapping[str, Any], allowed: Iterable[str], where: str, c: Collector) -> None:
    """A misspelt optional field would otherwise be silently ignored, so unknown fields are refused."""
    allowed_set = set(allowed)
    for key in obj:
        if key not in allowed_set:
            c.add("UNKNOWN_FIELD", f"{where}: unknown field '{key}' (allowed: {', '.join(sorted(allowed_set))})")


def get_object(obj: Mapping[str, Any], key: str, where: str, c: Collector, *, required: bool = False) -> dict | None:
    if key not in obj or obj[key] is None:
        if required:
            c.add("MISSING_FIELD", f"{where}: '{key}' is required")
        return None
    value = obj[key]
    if not isinstance(value, dict):
        c.add("INVALID_TYPE", f"{where}: '{key}' must be an object, got {describe(value)}")
        return None
    return value


def get_list(obj: Mapping[str, Any], key: str, where: str, c: Collector, *, required: bool = False) -> list | None:
    """A list field; missing means None (callers apply the documented default, usually [])."""
    if key not in obj or obj[key] is None:
        if required:
            c.add("MISSING_FIELD", f"{where}: '{key}' is required")
        return None
    value = obj[key]
    if not isinstance(value, list):
        c.add("INVALID_TYPE", f"{where}: '{key}' must be an array, got {describe(value)}")
        return None
    return value


def get_str(
    obj: Mapping[str, Any], key: str, where: str, c: Collector, *, required: bool = False, non_blank: bool = False
) -> str | None:
    if key not in obj or obj[key] is None:
        if required:
            c.add("MISSING_FIELD", f"{where}: '{key}' is required")
        return None
    value = obj[key]
    if not isinstance(value, str):
        c.add("INVALID_TYPE", f"{where}: '{key}' must be a string, got {describe(value)}")
        return None
    if non_blank and not value.strip():
        c.add("BLANK_VALUE", f"{where}: '{key}' must not be blank")
        return None
    return value


def get_bool(obj: Mapping[str, Any], key: str, where: str, c: Collector, default: bool) -> bool:
    if key not in obj or obj[key] is None:
        return default
    value = obj[key]
    if not isinstance(value, bool):
        c.add("INVALID_TYPE", f"{where}: '{key}' must be true or false, got {describe(value)}")
        return default
    return value


def get_str_list(obj: Mapping[str, Any], key: str, where: str, c: Collector, *, non_blank: bool = True) -> list[str]:
    """A list of strings defaulting to []; blank entries are refused when `non_blank`."""
    values = get_list(obj, key, where, c)
    if values is None:
        return []
    result: list[str] = []
    for i, v in enumerate(values):
        if not isinstance(v, str):
            c.add("INVALID_TYPE", f"{where}: {key}[{i}] must be a string, got {describe(v)}")
        elif non_blank and not v.strip():
            c.add("BLANK_VALUE", f"{where}: {key}[{i}] must not be blank")
        else:
            result.append(v)
    return result


def check_name(name: Any, where: str, c: Collector) -> str | None:
    """Input, output and job names follow the documented character rule."""
    if name is None:
        c.add("MISSING_FIELD", f"{where}: 'name' is required")
        return None
    if not isinstance(name, str):
        c.add("INVALID_TYPE", f"{where}: 'name' must be a string, got {describe(name)}")
        return None
    if not NAME_PATTERN.match(name):
        c.add("INVALID_NAME", f"{where}: name '{name}' {NAME_RULE}")
        return None
    return name


def media_type_accepted(media_type: str | None, accepted: Iterable[str]) -> bool:
    """An empty accepted list accepts everything (the documented default)."""
    accepted = list(accepted)
    if not accepted:
        return True
    return media_type in accepted


def check_mount(obj: Mapping[str, Any], key: str, where: str, c: Collector) -> str | None:
    """A required NFS mount in the documented `host:/file/path` form."""
    value = get_str(obj, key, where, c, required=True, non_blank=True)
    if value is None:
        return None
    if not MOUNT_PATTERN.match(value.strip()):
        c.add("INVALID_MOUNT", f"{where}: '{key}' value '{value}' must have the form host:/file/path")
        return None
    return value.strip()
