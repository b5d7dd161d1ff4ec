"""The import/export document of errors, job types and recipe types.

An import is only complete when the caller commits: any SpecError means roll back.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Error, JobType, RecipeType
from app.services.errors import ERROR_FIELDS, check_mapped_errors, create_error, edit_error
from app.services.job_types import (
    JOB_TYPE_DOCUMENTS,
    JOB_TYPE_EXPORT_FIELDS,
    create_job_type,
    edit_job_type,
    lookup_job_type_interfaces,
)
from app.services.lookups import lookup_workspaces_by_name
from app.services.recipe_types import RECIPE_TYPE_DOCUMENTS, RECIPE_TYPE_FIELDS, create_recipe_type, edit_recipe_type
from app.services.trigger_rules import TRIGGER_RULE_FIELDS, trigger_rule_document
from app.specs.base import Collector, Problem, SpecError
from app.specs.port_config import normalize_import_configuration

CONFIGURATION_VERSION = "1.0"

EXPORT_INCLUDES = ("recipe_types", "job_types", "errors")


def _job_type_document(jt: JobType) -> dict:
    out = {name: getattr(jt, name) for name in JOB_TYPE_EXPORT_FIELDS}
    out["interface"] = jt.interface
    out["error_mapping"] = jt.error_mapping or {"version": "1.0", "exit_codes": {}}
    out["trigger_rule"] = trigger_rule_document(jt.trigger_rule)
    return out


def _recipe_type_document(rt: RecipeType) -> dict:
    return {
        "name": rt.name,
        "version": rt.version,
        "title": rt.title,
        "description": rt.description,
        "definition": rt.definition,
        "trigger_rule": trigger_rule_document(rt.trigger_rule),
    }


def _error_document(e: Error) -> dict:
    return {"name": e.name, "title": e.title, "description": e.description, "category": e.category}


def _filter(stmt, column, values: Sequence) -> Any:
    return stmt.where(column.in_(list(values))) if values else stmt


def export_configuration(
    session: Session,
    *,
    include: Sequence[str] = (),
    recipe_type_ids: Sequence[int] = (),
    recipe_type_names: Sequence[str] = (),
    job_type_ids: Sequence[int] = (),
    job_type_names: Sequence[str] = (),
    job_type_categories: Sequence[str] = (),
    error_ids: Sequence[int] = (),
    error_names: Sequence[str] = (),
) -> dict:
    """The import/export document: user errors (not builtin), non-system job types, recipe types."""
    include = set(include or EXPORT_INCLUDES)
    doc: dict[str, Any] = {"version": CONFIGURATION_VERSION}
    if "recipe_types" in include:
        stmt = select(RecipeType).where(RecipeType.archived.is_(None))
        stmt = _filter(_filter(stmt, RecipeType.id, recipe_type_ids), RecipeType.name, recipe_type_names)
        doc["recipe_types"] = [
            _recipe_type_document(rt) for rt in session.scalars(stmt.order_by(RecipeType.name, RecipeType.version))
        ]
    if "job_types" in include:
        stmt = select(JobType).where(JobType.is_system.is_(False), JobType.archived.is_(None))
        stmt = _filter(
            _filter(_filter(stmt, JobType.id, job_type_ids), JobType.name, job_type_names),
            JobType.category,
            job_type_categories,
        )
        doc["job_types"] = [
            _job_type_document(jt) for jt in session.scalars(stmt.order_by(JobType.name, JobType.version))
        ]
    if "errors" in include:
        stmt = select(Error).where(Error.is_builtin.is_(False))
        stmt = _filter(_filter(stmt, Error.id, error_ids), Error.name, error_names)
        doc["errors"] = [_error_document(e) for e in session.scalars(stmt.order_by(Error.name))]
    return doc


def _pick(item: Mapping[str, Any], keys: Iterable[str]) -> dict:
    """Exported documents carry read-only fields (ids, timestamps); an import takes what it can set."""
    picked = {k: item[k] for k in keys if k in item}
    if isinstance(picked.get("trigger_rule"), dict):
        picked["trigger_rule"] = {k: v for k, v in picked["trigger_rule"].items() if k in TRIGGER_RULE_FIELDS}
    return picked


def _items(doc: Any, key: str) -> list[dict]:
    items = doc.get(key) if isinstance(doc, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _check_import_error_names(session: Session, doc: Any, c: Collector) -> None:
    """Error names that the job types of a (possibly malformed) import document map to but that neither
    the document nor the installation defines."""
    defined = {e.get("name") for e in _items(doc, "errors")}
    for item in _items(doc, "job_types"):
        mapping = item.get("error_mapping")
        exit_codes = mapping.get("exit_codes") if isinstance(mapping, dict) else None
        if isinstance(exit_codes, dict):
            wanted = {v for v in exit_codes.values() if isinstance(v, str)}
            where = f"import configuration: job type {item.get('name')} {item.get('version')}"
            check_mapped_errors(session, wanted, where, c, also_known=defined)


def _import_type(session: Session, model, fields: dict, create, edit, c: Collector) -> None:
    """Create the job or recipe type an import names, or edit the one of that name and version."""
    existing = session.scalar(select(model).where(model.name == fields["name"], model.version == fields["version"]))
    try:
        if existing is None:
            c.absorb_warnings(create(session, fields)[1], "import configuration")
        else:
            del fields["name"], fields["version"]
            c.absorb_warnings(edit(session, existing, fields), "import configuration")
    except SpecError as exc:
        c.absorb(exc, "import configuration")


def import_configuration(session: Session, doc: Any) -> list[Problem]:
    """Create or edit the errors (by name), job types and recipe types (by name and version) of an
    import document, in that order. Returns warnings; raises SpecError listing every problem, after
    which the caller must roll back (nothing of a failed import may stay)."""
    try:
        normalize_import_configuration(
            doc,
            lookup_job_types=lookup_job_type_interfaces(session),
            lookup_workspaces_by_name=lookup_workspaces_by_name(session),
        )
    except SpecError as exc:
        # The document check cannot know the installation's errors: add those problems too, so one
        # answer lists everything.
        c = Collector()
        c.absorb(exc)
        _check_import_error_names(session, doc, c)
        c.raise_if_any()
    c = Collector()
    for item in doc.get("errors") or []:
        fields = _pick(item, ("name",) + tuple(ERROR_FIELDS))
        existing = session.scalar(select(Error).where(Error.name == fields["name"]))
        try:
            if existing is None:
                create_error(session, fields)
            else:
                fields.pop("name")
                edit_error(session, existing, fields)
        except SpecError as exc:
            c.absorb(exc, "import configuration")

    for item in doc.get("job_types") or []:
        fields = _pick(item, JOB_TYPE_EXPORT_FIELDS + JOB_TYPE_DOCUMENTS)
        where = f"import configuration: job type {fields['name']} {fields['version']}"
        fields.pop("uses_docker", None)  # follows docker_image
        if fields.pop("is_system", False):
            c.add("SYSTEM_JOB_TYPE", f"{where}: system job types cannot be imported")
            continue
        _import_type(session, JobType, fields, create_job_type, edit_job_type, c)

    for item in doc.get("recipe_types") or []:
        fields = _pick(item, ("name", "version") + tuple(RECIPE_TYPE_FIELDS) + RECIPE_TYPE_DOCUMENTS)
        _import_type(session, RecipeType, fields, create_recipe_type, edit_recipe_type, c)
    c.raise_if_any()
    return c.warnings
