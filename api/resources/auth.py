"""Tokens and the audit trail (extensions of the specification, admin only; see api.auth):
GET/POST /tokens/, GET/DELETE /tokens/<id>/, GET /audit/."""

from __future__ import annotations

from flask import url_for
from flask_restx import Namespace, Resource, fields
from sqlalchemy import select

from api.common import (
    LIST_PARAMS,
    body_str,
    check_fields,
    filter_time,
    get_or_404,
    iso,
    json_body,
    paginate,
    param_str,
    parse_timestamp,
    query_param,
    time_range,
    write,
)
from api.session import get_session
from app.models import ApiToken, AuditEntry
from app.tokens import ROLES, create_token, is_active, revoke

tokens_ns = Namespace("tokens", path="/tokens", description="API tokens and their roles (admin)")
audit_ns = Namespace("audit", path="/audit", description="Every write through the API and the console (admin)")
NAMESPACES = [tokens_ns, audit_ns]

token_create = tokens_ns.model(
    "TokenCreate",
    {
        "name": fields.String(required=True, min_length=1, max_length=100, description="Shown in the audit trail"),
        "role": fields.String(required=True, enum=list(ROLES)),
        "expires": fields.DateTime(description="ISO-8601 with zone; absent: the token never expires"),
    },
)
OUTCOMES = ("ok", "denied", "refused", "error")


def token_json(row: ApiToken) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "created": iso(row.created),
        "expires": iso(row.expires),
        "revoked": iso(row.revoked),
        "is_active": is_active(row),
    }


def audit_json(row: AuditEntry) -> dict:
    return {
        "id": row.id,
        "occurred": iso(row.occurred),
        "token_name": row.token_name,
        "role": row.role,
        "method": row.method,
        "route": row.route,
        "path": row.path,
        "object_ids": row.object_ids,
        "status_code": row.status_code,
        "outcome": row.outcome,
        "remote_addr": row.remote_addr,
    }


@tokens_ns.route("/")
class TokenList(Resource):
    @tokens_ns.doc(params={"page": LIST_PARAMS["page"], "page_size": LIST_PARAMS["page_size"]})
    def get(self):
        """Every token (never the token itself: only its hash is kept)."""
        return paginate(get_session(), select(ApiToken).order_by(ApiToken.id), token_json)

    @tokens_ns.expect(token_create)
    @tokens_ns.doc(responses={201: "Created: the answer's `token` is shown only this once", 400: "Invalid"})
    def post(self):
        """Create a token; the answer carries the token once."""
        body = json_body()
        check_fields(body, ["name", "role", "expires"], required=["name", "role"])
        name, role = body_str(body, "name", max_length=100) or "", body_str(body, "role") or ""
        expires_text = body_str(body, "expires")
        expires = parse_timestamp("expires", expires_text) if expires_text else None
        session = get_session()
        row, token = write(session, lambda: create_token(session, name, role, expires))
        location = url_for("token_details", token_id=row.id, _external=True)
        return {**token_json(row), "token": token}, 201, {"Location": location}


@tokens_ns.route("/<int:token_id>/", endpoint="token_details")
class TokenDetails(Resource):
    def get(self, token_id: int):
        return token_json(get_or_404(get_session(), ApiToken, token_id, "Token"))

    @tokens_ns.doc(responses={200: "Revoked", 404: "No such token"})
    def delete(self, token_id: int):
        """Revoke a token: from now on it gets 401 (the row stays, for the audit trail)."""
        session = get_session()
        row = get_or_404(session, ApiToken, token_id, "Token")
        write(session, lambda: revoke(row))
        return token_json(row)


@audit_ns.route("/")
class AuditList(Resource):
    @audit_ns.doc(
        params={
            **LIST_PARAMS,
            "token_name": query_param("Only writes made with tokens of this name"),
            "outcome": query_param("ok, denied (401/403), refused (other 4xx) or error (5xx)", enum=OUTCOMES),
        }
    )
    def get(self):
        """The audit trail, newest first, filtered by occurred within started/ended."""
        started, ended = time_range()
        stmt = filter_time(select(AuditEntry), AuditEntry.occurred, started, ended)
        token_name, outcome = param_str("token_name"), param_str("outcome", choices=OUTCOMES)
        if token_name is not None:
            stmt = stmt.where(AuditEntry.token_name == token_name)
        if outcome is not None:
            stmt = stmt.where(AuditEntry.outcome == outcome)
        return paginate(get_session(), stmt.order_by(AuditEntry.id.desc()), audit_json)
