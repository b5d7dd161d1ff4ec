"""Checks of a record body's simple fields, shared by errors, job types, recipe types and workspaces.

Every problem goes to the caller's Collector, so one answer lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.specs.base import (
    STABLE_NAME,
    STABLE_NAME_RULE,
    Collector,
    Problem,
    SpecError,
    check_unknown_fields,
    describe,
    finite_float,
    is_int,
    short_repr,
    is_number,
)


@dataclass(frozen=True)
class FieldRule:
    kind: str  # "str", "bool", "int" or "number"
    minimum: float | None = None
    exclusive: bool = False  # the minimum itself is refused
    nullable: bool = True
    maximum: float | None = None  # numbers must also be finite


# Resources no node can ever offer would leave the job queued forever.
MAX_CPUS = 1024
MAX_MIB = 2**31 - 1


STRING = FieldRule("str")
BOOLEAN = FieldRule("bool", nullable=False)


def max_length(model: type, name: str) -> int | None:
    column = model.__table__.columns.get(name)
    return getattr(column.type, "length", None) if column is not None else None


def check_fields(
    doc: Mapping[str, Any], rules: Mapping[str, FieldRule], model: type, where: str, c: Collector
) -> dict[str, Any]:
    """The given fields that pass their rule (the others are recorded as problems)."""
    values: dict[str, Any] = {}
    for name, rule in rules.items():
        if name not in doc:
            continue
        value = doc[name]
        if value is None:
            if rule.nullable:
                values[name] = None
            else:
                c.add("INVALID_TYPE", f"{where}: '{name}' must not be null")
            continue
        if rule.kind == "str":
            if not isinstance(value, str):
                c.add("INVALID_TYPE", f"{where}: '{name}' must be a string, got {describe(value)}")
                continue
            limit = max_length(model, name)
            if limit is not None and len(value) > limit:
                c.add("INVALID_VALUE", f"{where}: '{name}' must be at most {limit} characters long")
                continue
        elif rule.kind == "bool":
            if not isinstance(value, bool):
                c.add("INVALID_TYPE", f"{where}: '{name}' must be true or false, got {describe(value)}")
                continue
        elif rule.kind == "int":
            if not is_int(value):
                c.add("INVALID_TYPE", f"{where}: '{name}' must be an integer, got {describe(value)}")
                continue
        elif rule.kind == "number":
            if not is_number(value):
                c.add("INVALID_TYPE", f"{where}: '{name}' must be a number, got {describe(value)}")
                continue
            number = finite_float(value)
            if number is None:
                c.add("INVALID_VALUE", f"{where}: '{name}' must be a finite number, got {short_repr(value)}")
                continue
            value = number
        if rule.maximum is not None and value > rule.maximum:
            c.add("INVALID_VALUE", f"{where}: '{name}' must be at most {rule.maximum:g}, got {value}")
            continue
        if rule.minimum is not None and (value <= rule.minimum if rule.exclusive else value < rule.minimum):
            bound = f"greater than {rule.minimum:g}" if rule.exclusive else f"at least {rule.minimum:g}"
            c.add("INVALID_VALUE", f"{where}: '{name}' must be {bound}, got {value}")
            continue
        values[name] = value
    return values


def check_stable_name(
    doc: Mapping[str, Any], key: str, model: type, where: str, c: Collector, pattern: re.Pattern | None = STABLE_NAME
) -> str | None:
    value = doc.get(key)
    if value is None:
        c.add("MISSING_FIELD", f"{where}: '{key}' is required")
        return None
    if not isinstance(value, str):
        c.add("INVALID_TYPE", f"{where}: '{key}' must be a string, got {describe(value)}")
        return None
    limit = max_length(model, key)
    if not value.strip():
        c.add("BLANK_VALUE", f"{where}: '{key}' must not be blank")
    elif limit is not None and len(value) > limit:
        c.add("INVALID_VALUE", f"{where}: '{key}' must be at most {limit} characters long")
    elif pattern is not None and not pattern.match(value):
        c.add("INVALID_NAME", f"{where}: {key} '{value}' {STABLE_NAME_RULE}")
    else:
        return value
    return None


def require_object(doc: Any, what: str) -> dict:
    if not isinstance(doc, dict):
        raise SpecError(Problem("INVALID_DOCUMENT", f"{what} must be a JSON object, got {describe(doc)}"))
    return doc


def flush_unique(session: Session, duplicate_message: str) -> None:
    """Flush; a unique constraint hit by a concurrent writer becomes a problem instead of a 500."""
    try:
        session.flush()
    except IntegrityError:
        raise SpecError(Problem("DUPLICATE_NAME", duplicate_message)) from None


def normalized_or_none(validate, doc):
    try:
        return validate(doc)
    except SpecError:
        return None


def check_type_fields(
    session: Session, doc: Any, model, kind: str, fields, documents, document: str, existing
) -> tuple[dict, Collector, str, dict]:
    """The checks a job type and a recipe type share: a JSON object, no unknown fields, valid simple fields,
    and for a new type its name, version and `document`. Returns (doc, collector, how to name it, values)."""
    doc = require_object(doc, kind)
    c = Collector()
    where = kind if existing is None else f"{kind} {existing.name} {existing.version}"
    allowed = list(fields) + list(documents) + (["name", "version"] if existing is None else [])
    check_unknown_fields(doc, allowed, where, c)
    values = check_fields(doc, fields, model, where, c)
    if existing is None:
        where = check_new_name_version(session, doc, model, kind, document, values, c)
    return doc, c, where, values


def check_new_name_version(
    session: Session, doc: dict, model, kind: str, document: str, values: dict, c: Collector
) -> str:
    """Name, version (unique together) and the required document of a new job or recipe type.

    Adds name and version to `values`; returns how later problems should name the type.
    """
    where = kind
    name = check_stable_name(doc, "name", model, where, c)
    version = check_stable_name(doc, "version", model, where, c)
    if name is not None and version is not None:
        values.update(name=name, version=version)
        where = f"{kind} {name} {version}"
        if session.scalar(select(model.id).where(model.name == name, model.version == version)) is not None:
            c.add("DUPLICATE_NAME", f"{where} already exists")
    if doc.get(document) is None:
        c.add("MISSING_FIELD", f"{where}: '{document}' is required")
    return where
