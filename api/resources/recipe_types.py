"""Recipe type services: GET/POST /recipe-types/, POST /recipe-types/validation/,
GET/PATCH /recipe-types/<id>/."""

from __future__ import annotations

from flask import url_for
from flask_restx import Namespace, Resource, fields
from sqlalchemy import select

from api.session import get_session
from api import serializers as ser
from api.common import get_or_404, list_params, apply_order, filter_time, json_body, paginate, time_range, write
from api.openapi import rule_fields, stable_name
from app.models import RecipeType
from app.services import recipe_types as recipe_type_service
from app.specs.base import warnings_to_dicts

ns = Namespace("recipe-types", path="/recipe-types", description="Recipe types: jobs wired together")
NAMESPACES = [ns]

ORDER_FIELDS = {
    name: getattr(RecipeType, name)
    for name in (
        "id",
        "name",
        "version",
        "title",
        "description",
        "is_active",
        "revision_num",
        "created",
        "archived",
        "last_modified",
    )
}

recipe_type_edit = ns.model(
    "RecipeTypeEdit",
    {
        **rule_fields(recipe_type_service.RECIPE_TYPE_FIELDS, RecipeType),
        "definition": fields.Raw(description="Recipe definition 1.0"),
        "trigger_rule": fields.Raw(description="{type: INGEST|PARSE, configuration, is_active}; null removes the rule"),
    },
)
recipe_type_create = ns.clone(
    "RecipeTypeCreate",
    recipe_type_edit,
    {
        "name": stable_name(RecipeType),
        "version": stable_name(RecipeType, "version"),
        "definition": fields.Raw(required=True, description="Recipe definition 1.0"),
    },
)


def recipe_type_summary(rt: RecipeType) -> dict:
    out = ser.recipe_type(rt)
    out["trigger_rule"] = {"id": rt.trigger_rule_id} if rt.trigger_rule_id is not None else None
    return out


def recipe_type_details(rt: RecipeType) -> dict:
    """The details shape: the summary with the full trigger rule and the job types the definition uses."""
    out = ser.recipe_type(rt)
    out["trigger_rule"] = ser.trigger_rule(rt.trigger_rule)
    out["job_types"] = [
        {**ser.job_type_base(jt), "interface": jt.interface}
        for jt in recipe_type_service.job_types_of_definition(get_session(), rt.definition)
    ]
    return out


@ns.route("/")
class RecipeTypeList(Resource):
    @ns.doc(params=list_params(ORDER_FIELDS))
    def get(self):
        """Recipe types, filtered by last_modified within started/ended."""
        started, ended = time_range()
        stmt = filter_time(select(RecipeType), RecipeType.last_modified, started, ended)
        stmt = apply_order(stmt, ORDER_FIELDS, ("name", "version"), tiebreak=RecipeType.id)
        return paginate(get_session(), stmt, recipe_type_summary)

    @ns.expect(recipe_type_create)
    def post(self):
        """Create a recipe type (revision 1) with its definition and trigger rule."""
        session = get_session()
        recipe_type, _warnings = write(session, lambda: recipe_type_service.create_recipe_type(session, json_body()))
        location = url_for("recipe_type_details", recipe_type_id=recipe_type.id, _external=True)
        return recipe_type_details(recipe_type), 201, {"Location": location}


@ns.route("/validation/")
class RecipeTypeValidation(Resource):
    @ns.expect(recipe_type_create)
    def post(self):
        """Check a new recipe type without saving it: 200 with warnings, or 400 listing the problems."""
        body = recipe_type_service.recipe_definition_from_body(json_body())
        _values, warnings = recipe_type_service.validate_recipe_type(get_session(), body)
        return {"warnings": warnings_to_dicts(warnings)}


@ns.route("/<int:recipe_type_id>/", endpoint="recipe_type_details")
class RecipeTypeDetails(Resource):
    def get(self, recipe_type_id: int):
        return recipe_type_details(get_or_404(get_session(), RecipeType, recipe_type_id, "Recipe type"))

    @ns.expect(recipe_type_edit)
    def patch(self, recipe_type_id: int):
        """Edit a recipe type; a new definition makes a new revision, recipes keep the revision they had."""
        session = get_session()
        recipe_type = get_or_404(session, RecipeType, recipe_type_id, "Recipe type")
        write(session, lambda: recipe_type_service.edit_recipe_type(session, recipe_type, json_body()))
        return recipe_type_details(recipe_type)
