"""Workspace services: GET/POST /workspaces/, POST /workspaces/validation/, GET/PATCH /workspaces/<id>/."""

from __future__ import annotations

from flask import url_for
from flask_restx import Namespace, Resource, fields
from sqlalchemy import select

from api.session import get_session
from api import serializers as ser
from api.common import (
    write,
    get_or_404,
    list_params,
    apply_order,
    filter_in,
    filter_time,
    json_body,
    paginate,
    param_str_list,
    repeated_param,
    time_range,
)
from api.openapi import rule_fields, stable_name
from app.models import Workspace
from app.services import workspaces as workspace_service

ns = Namespace("workspaces", path="/workspaces", description="Workspaces: where files are stored")
NAMESPACES = [ns]

ORDER_FIELDS = {name: getattr(Workspace, name) for name in ser.WORKSPACE_FIELDS}

workspace_edit = ns.model(
    "WorkspaceEdit",
    {
        **rule_fields(workspace_service.WORKSPACE_FIELDS, Workspace),
        "json_config": fields.Raw(description="Workspace configuration 1.0 (broker nfs or host)"),
    },
)
workspace_create = ns.clone(
    "WorkspaceCreate",
    workspace_edit,
    {
        "name": stable_name(Workspace),
        "json_config": fields.Raw(required=True, description="Workspace configuration 1.0 (broker nfs or host)"),
    },
)


@ns.route("/")
class WorkspaceList(Resource):
    @ns.doc(params={**list_params(ORDER_FIELDS), "name": repeated_param("Only workspaces with this name")})
    def get(self):
        """Workspaces, filtered by last_modified within started/ended."""
        started, ended = time_range()
        stmt = filter_time(select(Workspace), Workspace.last_modified, started, ended)
        stmt = filter_in(stmt, Workspace.name, param_str_list("name"))
        stmt = apply_order(stmt, ORDER_FIELDS, ("name",), tiebreak=Workspace.id)
        return paginate(get_session(), stmt, ser.workspace)

    @ns.expect(workspace_create)
    def post(self):
        """Create a workspace; its sizes are read from its storage in the background (null until then, up to 30 s)."""
        session = get_session()
        workspace = write(session, lambda: workspace_service.create_workspace(session, json_body()))
        location = url_for("workspace_details", workspace_id=workspace.id, _external=True)
        return ser.workspace_detail(workspace), 201, {"Location": location}


@ns.route("/validation/")
class WorkspaceValidation(Resource):
    @ns.expect(workspace_create)
    def post(self):
        """Check a new workspace without saving it: 200 with warnings, or 400 listing the problems."""
        workspace_service.validate_workspace(get_session(), json_body())
        return {"warnings": []}


@ns.route("/<int:workspace_id>/", endpoint="workspace_details")
class WorkspaceDetails(Resource):
    def get(self, workspace_id: int):
        return ser.workspace_detail(get_or_404(get_session(), Workspace, workspace_id, "Workspace"))

    @ns.expect(workspace_edit)
    def patch(self, workspace_id: int):
        """Edit a workspace; is_active false archives it."""
        session = get_session()
        workspace = get_or_404(session, Workspace, workspace_id, "Workspace")
        write(session, lambda: workspace_service.edit_workspace(session, workspace, json_body()))
        return ser.workspace_detail(workspace)
