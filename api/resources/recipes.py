"""Recipe services: GET /recipes/, GET /recipes/<id>/."""

from __future__ import annotations

from flask import url_for
from flask_restx import Namespace, Resource
from sqlalchemy import select
from sqlalchemy.orm import Session, defer, selectinload

from api.session import get_session
from api import serializers as ser
from api.common import (
    list_params,
    apply_order,
    filter_in,
    filter_time,
    iso,
    not_found,
    paginate,
    param_int_list,
    param_str_list,
    repeated_param,
    time_range,
)
from api.queries import (
    RECIPE_SUMMARY_OPTIONS,
    count_of,
    data_file_ids,
    event_detail,
    input_files_json,
    job_with_full_revision,
    load_files,
    merged_values,
    recipe_summary,
    related,
)
from app.models import Job, Recipe, RecipeJob, RecipeType, TriggerEvent

ns = Namespace("recipes", path="/recipes", description="Recipes and their jobs")
NAMESPACES = [ns]


def _recipe_type_column(column):
    return related(column, RecipeType.id == Recipe.recipe_type_id, Recipe)


RECIPE_ORDER_FIELDS = {name: getattr(Recipe, name) for name in ("id", "created", "completed", "last_modified")}
RECIPE_ORDER_FIELDS.update(
    {
        "recipe_type": Recipe.recipe_type_id,
        "recipe_type__id": Recipe.recipe_type_id,
        "recipe_type__name": _recipe_type_column(RecipeType.name),
        "recipe_type__version": _recipe_type_column(RecipeType.version),
        "recipe_type__title": _recipe_type_column(RecipeType.title),
        "event": Recipe.event_id,
        "event__id": Recipe.event_id,
    }
)


def recipe_detail_url(recipe_id: int) -> str:
    return url_for("recipe_details", recipe_id=recipe_id, _external=True)


def recipe_details(session: Session, recipe_id: int) -> dict:
    """GET /recipes/<id>/ (also the body of POST /queue/new-recipe/)."""
    recipe = session.scalar(
        select(Recipe)
        .where(Recipe.id == recipe_id)
        .execution_options(populate_existing=True)
        .options(
            selectinload(Recipe.recipe_type),
            selectinload(Recipe.recipe_type_rev),
            selectinload(Recipe.event).selectinload(TriggerEvent.rule),
        )
    )
    if recipe is None:
        raise not_found("Recipe", recipe_id)
    out = recipe_summary(recipe)
    out["recipe_type"] = ser.recipe_type(recipe.recipe_type)
    rev = recipe.recipe_type_rev
    out["recipe_type_rev"].update(definition=rev.definition, created=iso(rev.created))
    out["event"] = event_detail(recipe.event)
    out["data"] = recipe.data
    files = load_files(session, data_file_ids(recipe.data))
    out["input_files"] = input_files_json(recipe.data, files)
    out["inputs"] = merged_values(
        (rev.definition or {}).get("input_data", []), (recipe.data or {}).get("input_data"), files, ser.scale_file
    )
    recipe_jobs = session.scalars(
        select(RecipeJob)
        .where(RecipeJob.recipe_id == recipe.id)
        .order_by(RecipeJob.id)
        .options(
            selectinload(RecipeJob.job).options(
                selectinload(Job.job_type),
                selectinload(Job.job_type_rev),
                selectinload(Job.error),
                selectinload(Job.event).selectinload(TriggerEvent.rule),
                defer(Job.data),
                defer(Job.results),
            )
        )
        .execution_options(populate_existing=True)
    ).all()
    out["jobs"] = [{"job_name": rj.job_name, "job": job_with_full_revision(rj.job)} for rj in recipe_jobs]
    return out


@ns.route("/")
class RecipeList(Resource):
    @ns.doc(
        params={
            **list_params(RECIPE_ORDER_FIELDS),
            "type_id": repeated_param("Recipe type id", "integer"),
            "type_name": repeated_param("Recipe type name"),
        }
    )
    def get(self):
        """Recipes, filtered on last_modified (started/ended) and recipe type."""
        session = get_session()
        stmt = select(Recipe)
        stmt = filter_in(stmt, Recipe.recipe_type_id, param_int_list("type_id"))
        names = param_str_list("type_name")
        if names:
            stmt = stmt.where(Recipe.recipe_type_id.in_(select(RecipeType.id).where(RecipeType.name.in_(names))))
        started, ended = time_range()
        stmt = filter_time(stmt, Recipe.last_modified, started, ended)
        count_stmt = count_of(stmt)
        stmt = apply_order(
            stmt.options(*RECIPE_SUMMARY_OPTIONS, defer(Recipe.data)),
            RECIPE_ORDER_FIELDS,
            ["last_modified"],
            Recipe.id.asc(),
        )
        return paginate(session, stmt, recipe_summary, count_stmt)


@ns.route("/<int:recipe_id>/", endpoint="recipe_details")
class RecipeDetails(Resource):
    def get(self, recipe_id: int):
        return recipe_details(get_session(), recipe_id)
