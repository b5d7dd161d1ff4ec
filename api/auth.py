"""Who may do what (API_AUTH) and the audit trail of every write (API_AUDIT).

Reading is the viewer's; running work (queue, cancel, requeue, pause and resume, hold, vacate, drain)
the operator's; everything that decides what code runs where (job and recipe types, errors,
workspaces, Strike, configuration import, tokens, deleting nodes) the admin's. A write route not
listed below needs admin, so a new route is closed until someone decides otherwise.

The API takes `Authorization: Bearer <token>`; the console signs in once with a token and keeps the
token's id in its signed session cookie (console routes only, so no API write can be forged from a
cookie).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, redirect, render_template, request, session as cookie, url_for

from api.session import get_session
from app.settings import settings
from app.tokens import ANONYMOUS, Identity, allows, authenticate, identity_of

log = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD", "OPTIONS")
# The OpenAPI document and Swagger UI are public: they describe the API, they do not use it.
PUBLIC_PREFIXES = ("/swagger.json", "/docs", "/swaggerui/", "/console/static/", "/console/login", "/console/logout")
ADMIN_READ_PREFIXES = ("/tokens", "/audit", "/console/audit")
OPERATOR_WRITES = {
    ("POST", "/queue/new-job/"),
    ("POST", "/queue/new-jobs/"),
    ("POST", "/queue/new-recipe/"),
    ("POST", "/queue/requeue-job/"),
    ("POST", "/queue/requeue-jobs/"),
    ("PATCH", "/jobs/<int:job_id>/"),
    ("PATCH", "/scheduler/"),
    ("PATCH", "/cluster/auto-mode/"),
    ("POST", "/nodes/<int:node_id>/hold/"),
    ("POST", "/nodes/<int:node_id>/unhold/"),
    ("POST", "/nodes/<int:node_id>/vacate/"),
    ("POST", "/resource-pools/<int:pool_id>/drain/"),
    ("POST", "/resource-pools/<int:pool_id>/freeze/"),
    ("POST", "/resource-pools/<int:pool_id>/restore/"),
    ("POST", "/resource-pools/<int:pool_id>/launch/"),
}
# Writes that are the operator's only while the body changes nothing but these fields.
OPERATOR_FIELDS = {
    ("PATCH", "/job-types/<int:job_type_id>/"): {"is_paused"},
    ("PATCH", "/nodes/<int:node_id>/"): {"is_paused", "pause_reason"},
}
SECURITY = {"bearer": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Bearer <token>"}}


def _body_keys() -> set[str] | None:
    try:
        body = json.loads(request.get_data(cache=True) or b"{}")
    except (ValueError, RecursionError):
        return None
    return set(body) if isinstance(body, dict) else None


def needed_role(method: str, rule: str | None, path: str) -> str | None:
    """The least role a request needs; None for the public documents."""
    if path.startswith(PUBLIC_PREFIXES):
        return None
    if method in READ_METHODS:
        return "admin" if path.startswith(ADMIN_READ_PREFIXES) else "viewer"
    if rule is None:
        return "admin"
    if rule.endswith("/validation/"):  # checks a document, changes nothing
        return "viewer"
    if rule.startswith("/console/") or (method, rule) in OPERATOR_WRITES:  # the console's buttons run work only
        return "operator"
    fields = OPERATOR_FIELDS.get((method, rule))
    if fields is not None:
        keys = _body_keys()
        return "operator" if keys is not None and keys <= fields else "admin"
    return "admin"


def _bearer() -> str | None:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _identity() -> Identity | None:
    token = _bearer()
    if token is not None:
        return authenticate(get_session(), token)
    if request.blueprint == "console" and cookie.get("token_id") is not None:
        from app.models import ApiToken

        return identity_of(get_session().get(ApiToken, cookie["token_id"]))
    return None


def _refusal(status: int, detail: str):
    if request.blueprint == "console":
        if status == 401 and request.method in READ_METHODS:
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")), code=303)
        return render_template("console/error.html", status=status, message=detail), status
    headers = {"WWW-Authenticate": 'Bearer realm="scale"'} if status == 401 else {}
    return {"detail": detail}, status, headers


def check_request():
    """before_request: 401 without a valid token, 403 when its role is too small; sets g.identity."""
    if not settings.API_AUTH:
        g.identity = ANONYMOUS
        return None
    rule = request.url_rule.rule if request.url_rule is not None else None
    needed = needed_role(request.method, rule, request.path)
    if needed is None:
        return None
    identity = _identity()
    if identity is None:
        why = "is not valid (unknown, revoked or expired)" if _bearer() else "is missing"
        return _refusal(401, f"Authentication required: the bearer token {why} (Authorization: Bearer <token>)")
    g.identity = identity
    if not allows(identity.role, needed):
        what = f"{request.method} {rule or request.path}"
        return _refusal(403, f"Token '{identity.name}' has role {identity.role}; {what} needs {needed}")
    return None


def requester_name() -> str:
    """Who made this request, as the trigger events of what it queues record it."""
    identity = g.get("identity", ANONYMOUS)
    return identity.name or "Anonymous"


def _created_id(response: Response) -> int | None:
    last = (response.headers.get("Location") or "").rstrip("/").rpartition("/")[2]
    return int(last) if last.isdigit() else None


def record_write(response: Response) -> Response:
    """after_request: one audit row per write, refused or not, in a transaction of its own."""
    if request.method in READ_METHODS or not settings.API_AUDIT:
        return response
    from app.db import get_sessionmaker
    from app.models import AuditEntry

    request_session = g.get("db_session")
    if request_session is not None:
        request_session.rollback()  # whatever the route left uncommitted is not kept (and holds no lock)
    identity = g.get("identity")
    objects: dict[str, Any] = {k: v for k, v in (request.view_args or {}).items() if isinstance(v, (int, str))}
    created = _created_id(response) if response.status_code == 201 else None
    if created is not None:
        objects["created_id"] = created
    code = response.status_code
    entry = AuditEntry(
        token_name=identity.name if identity else None,
        role=identity.role if identity and identity.token_id is not None else None,
        method=request.method,
        route=request.url_rule.rule if request.url_rule is not None else None,
        path=request.path[:1000],
        object_ids=objects,
        status_code=code,
        outcome="ok" if code < 400 else "denied" if code in (401, 403) else "refused" if code < 500 else "error",
        remote_addr=request.remote_addr,
    )
    audit_session = get_sessionmaker()()
    try:
        audit_session.add(entry)
        audit_session.commit()
    except Exception:  # the write itself has happened; losing its record must not turn it into a 500
        log.exception("could not record the audit entry of %s %s", request.method, request.path)
    finally:
        audit_session.close()
    return response


def secret_key() -> str:
    """The key that signs the console's cookie: API_SECRET_KEY, else one random key per machine."""
    if settings.API_SECRET_KEY:
        return settings.API_SECRET_KEY
    path = Path(settings.var_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", opener=lambda name, flags: os.open(name, flags, 0o600)) as f:
                f.write(secrets.token_urlsafe(48))
        except FileExistsError:  # another worker wrote it first
            pass
    return path.read_text().strip()


def install(app: Flask) -> None:
    if settings.API_AUTH:
        app.secret_key = secret_key()
        app.config.update(SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_HTTPONLY=True)
    app.before_request(check_request)
    app.after_request(record_write)
