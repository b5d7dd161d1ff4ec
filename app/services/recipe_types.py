"""Recipe types: checking, creating and editing them (a changed definition makes a new revision), and
the job types a definition uses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import JobType, RecipeType, RecipeTypeRevision
from app.services.fields import STRING, FieldRule, check_type_fields, flush_unique, normalized_or_none, require_object
from app.services.job_types import lookup_job_type_interfaces
from app.services.trigger_rules import check_linked_rule, link_trigger_rule
from app.specs.base import Problem, SpecError
from app.specs.recipe_definition import JobTypeKey, validate_recipe_definition

RECIPE_TYPE_FIELDS: dict[str, FieldRule] = {"title": STRING, "description": STRING}
RECIPE_TYPE_DOCUMENTS = ("definition", "trigger_rule")


def job_types_of_definition(session: Session, definition: dict | None) -> list[JobType]:
    """The job types a recipe definition uses, in the definition's order."""
    keys: list[JobTypeKey] = []
    for job in (definition or {}).get("jobs") or []:
        job_type = job.get("job_type") if isinstance(job, dict) else None
        if isinstance(job_type, dict):
            key = (job_type.get("name"), job_type.get("version"))
            if key not in keys:
                keys.append(key)
    if not keys:
        return []
    rows = {
        (jt.name, jt.version): jt
        for jt in session.scalars(select(JobType).where(tuple_(JobType.name, JobType.version).in_(keys)))
    }
    return [rows[k] for k in keys if k in rows]


def recipe_definition_from_body(doc: dict) -> dict:
    """The documentation's validation example puts input_data/jobs at the top level instead of under
    `definition`; accept that form too."""
    if "definition" not in doc and "jobs" in doc:
        doc = dict(doc)
        doc["definition"] = {k: doc.pop(k) for k in ("input_data", "jobs") if k in doc}
    return doc


def validate_recipe_type(
    session: Session, doc: Any, *, recipe_type: RecipeType | None = None
) -> tuple[dict, list[Problem]]:
    """Checked values of a new recipe type (recipe_type=None) or of an edit of `recipe_type`."""
    doc, c, where, values = check_type_fields(
        session, doc, RecipeType, "recipe type", RECIPE_TYPE_FIELDS, RECIPE_TYPE_DOCUMENTS, "definition", recipe_type
    )

    definition = None
    if doc.get("definition") is not None:
        try:
            definition, warnings = validate_recipe_definition(
                doc["definition"], lookup_job_types=lookup_job_type_interfaces(session)
            )
            c.absorb_warnings(warnings, where)
            values["definition"] = definition
        except SpecError as exc:
            c.absorb(exc, where)
    elif "definition" in doc and recipe_type is not None:
        c.add("INVALID_TYPE", f"{where}: 'definition' must not be null")

    definition_changed = False
    if recipe_type is not None and definition is not None:
        current = normalized_or_none(
            lambda d: validate_recipe_definition(d, lookup_job_types=lookup_job_type_interfaces(session))[0],
            recipe_type.definition,
        )
        definition_changed = definition != current
    check_linked_rule(session, doc, "definition", definition, recipe_type, definition_changed, where, c, values)
    c.raise_if_any()
    values["_definition_changed"] = definition_changed
    return values, c.warnings


def _apply_recipe_type_fields(recipe_type: RecipeType, values: dict) -> None:
    for key, value in values.items():
        if key in RECIPE_TYPE_FIELDS or key in ("definition", "name", "version"):
            setattr(recipe_type, key, value)


def create_recipe_type(session: Session, doc: Any) -> tuple[RecipeType, list[Problem]]:
    """A new recipe type with revision 1 (and its trigger rule); returns (recipe type, warnings)."""
    values, warnings = validate_recipe_type(session, recipe_definition_from_body(require_object(doc, "recipe type")))
    now = utcnow()
    recipe_type = RecipeType(revision_num=1, is_active=True, created=now, last_modified=now)
    _apply_recipe_type_fields(recipe_type, values)
    session.add(recipe_type)
    flush_unique(session, f"recipe type {values['name']} {values['version']} already exists")
    session.add(
        RecipeTypeRevision(
            recipe_type_id=recipe_type.id, revision_num=1, definition=recipe_type.definition, created=now
        )
    )
    if values.get("trigger_rule") is not None:
        link_trigger_rule(session, recipe_type, values["trigger_rule"])
    session.flush()
    return recipe_type, warnings


def edit_recipe_type(session: Session, recipe_type: RecipeType, doc: Any) -> list[Problem]:
    """Edit a recipe type; a changed definition makes a new revision (recipes keep theirs)."""
    values, warnings = validate_recipe_type(session, doc, recipe_type=recipe_type)
    now = utcnow()
    _apply_recipe_type_fields(recipe_type, values)
    if values["_definition_changed"]:
        recipe_type.revision_num = (recipe_type.revision_num or 1) + 1
        session.add(
            RecipeTypeRevision(
                recipe_type_id=recipe_type.id,
                revision_num=recipe_type.revision_num,
                definition=values["definition"],
                created=now,
            )
        )
    if "trigger_rule" in values:
        link_trigger_rule(session, recipe_type, values["trigger_rule"])
    recipe_type.last_modified = now
    session.flush()
    return warnings
