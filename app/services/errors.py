"""Errors users define (ALGORITHM and DATA; SYSTEM errors are built in): checking, creating, editing,
and the check that an error mapping names only errors that exist.
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Error
from app.services.fields import STRING, FieldRule, check_fields, check_stable_name, flush_unique, require_object
from app.specs.base import Collector, check_unknown_fields

USER_ERROR_CATEGORIES = ("ALGORITHM", "DATA")
ERROR_FIELDS: dict[str, FieldRule] = {
    "title": STRING,
    "description": STRING,
    "category": FieldRule("str", nullable=False),
}


def validate_error(session: Session, doc: Any, *, error: Error | None = None) -> dict[str, Any]:
    """Checked fields of a new error (error=None) or of an edit of `error`."""
    doc = require_object(doc, "error")
    c = Collector()
    name = error.name if error is not None else doc.get("name")
    where = f"error '{name}'" if isinstance(name, str) else "error"
    allowed = list(ERROR_FIELDS) + (["name"] if error is None else [])
    check_unknown_fields(doc, allowed, where, c)
    values = check_fields(doc, ERROR_FIELDS, Error, where, c)
    if error is None:
        name = check_stable_name(doc, "name", Error, where, c)
        if name is not None:
            values["name"] = name
            if session.scalar(select(Error.id).where(Error.name == name)) is not None:
                c.add("DUPLICATE_NAME", f"{where}: an error named '{name}' already exists")
        if doc.get("category") is None:
            c.add("MISSING_FIELD", f"{where}: 'category' is required (one of {', '.join(USER_ERROR_CATEGORIES)})")
    elif error.category == "SYSTEM":
        c.add("SYSTEM_ERROR", f"{where} is a SYSTEM error and cannot be edited")
    category = values.get("category")
    if category == "SYSTEM":
        c.add("INVALID_CATEGORY", f"{where}: category cannot be set to SYSTEM (SYSTEM errors are built in)")
    elif category is not None and category not in USER_ERROR_CATEGORIES:
        c.add("INVALID_CATEGORY", f"{where}: category {category!r} is not one of {', '.join(USER_ERROR_CATEGORIES)}")
    c.raise_if_any()
    return values


def create_error(session: Session, doc: Any) -> Error:
    values = validate_error(session, doc)
    now = utcnow()
    error = Error(is_builtin=False, created=now, last_modified=now, **values)
    session.add(error)
    flush_unique(session, f"an error named '{values['name']}' already exists")
    return error


def edit_error(session: Session, error: Error, doc: Any) -> None:
    for key, value in validate_error(session, doc, error=error).items():
        setattr(error, key, value)
    session.flush()


def check_mapped_errors(
    session: Session, wanted: set[str], where: str, c: Collector, also_known: Iterable[str] = ()
) -> None:
    """Every error an error mapping names must exist (or be in `also_known`)."""
    wanted = set(wanted) - set(also_known)
    known = set(session.scalars(select(Error.name).where(Error.name.in_(sorted(wanted))))) if wanted else set()
    for missing in sorted(wanted - known):
        c.add("UNKNOWN_ERROR", f"{where}: error mapping refers to error '{missing}', which does not exist")
