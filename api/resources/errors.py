"""Error services: GET/POST /errors/, GET/PATCH /errors/<id>/."""

from __future__ import annotations

from flask import url_for
from flask_restx import Namespace, Resource, fields
from sqlalchemy import select

from api.openapi import stable_name
from api.session import get_session
from api import serializers as ser
from api.common import get_or_404, list_params, apply_order, filter_time, json_body, paginate, time_range, write
from app.models import Error
from app.services import errors as error_service

ns = Namespace("errors", path="/errors", description="Registered errors that failed jobs are mapped to")
NAMESPACES = [ns]

ORDER_FIELDS = {
    name: getattr(Error, name)
    for name in ("id", "name", "title", "description", "category", "created", "last_modified")
}

error_create = ns.model(
    "ErrorCreate",
    {
        "name": stable_name(Error, description="Stable name used in error mappings"),
        "title": fields.String(),
        "description": fields.String(),
        "category": fields.String(required=True, enum=list(error_service.USER_ERROR_CATEGORIES)),
    },
)
error_edit = ns.model(
    "ErrorEdit",
    {
        "title": fields.String(),
        "description": fields.String(),
        "category": fields.String(enum=list(error_service.USER_ERROR_CATEGORIES)),
    },
)


@ns.route("/")
class ErrorList(Resource):
    @ns.doc(params=list_params(ORDER_FIELDS))
    def get(self):
        """Errors, filtered by last_modified within started/ended."""
        started, ended = time_range()
        stmt = filter_time(select(Error), Error.last_modified, started, ended)
        stmt = apply_order(stmt, ORDER_FIELDS, ("last_modified",), tiebreak=Error.id)
        return paginate(get_session(), stmt, ser.error)

    @ns.expect(error_create)
    @ns.response(201, "Created")
    def post(self):
        """Create an ALGORITHM or DATA error (SYSTEM errors are built in)."""
        session = get_session()
        error = write(session, lambda: error_service.create_error(session, json_body()))
        return ser.error(error), 201, {"Location": url_for("error_details", error_id=error.id, _external=True)}


@ns.route("/<int:error_id>/", endpoint="error_details")
class ErrorDetails(Resource):
    def get(self, error_id: int):
        return ser.error(get_or_404(get_session(), Error, error_id, "Error"))

    @ns.expect(error_edit)
    def patch(self, error_id: int):
        """Edit title, description or category; SYSTEM errors cannot be edited."""
        session = get_session()
        error = get_or_404(session, Error, error_id, "Error")
        write(session, lambda: error_service.edit_error(session, error, json_body()))
        return ser.error(error)
