"""The console's sign-in (API_AUTH): a token entered once, its id kept in the signed session cookie;
and the audit trail page (admins)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session as cookie, url_for
from sqlalchemy import select

from api.session import get_session
from app.models import AuditEntry
from app.tokens import authenticate

AUDIT_PAGE_SIZE = 100


def local_path(target: str | None) -> str:
    """`target` when it is a path on this site, else the dashboard (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("console.dashboard")
    return target


def login():
    next_page = local_path(request.values.get("next"))
    if request.method == "GET":
        return render_template("console/login.html", next_page=next_page, failed=False)
    identity = authenticate(get_session(), (request.form.get("token") or "").strip())
    if identity is None:
        return render_template("console/login.html", next_page=next_page, failed=True), 401
    cookie.clear()
    cookie["token_id"] = identity.token_id
    return redirect(next_page, code=303)


def logout():
    cookie.clear()
    return redirect(url_for("console.login"), code=303)


def audit():
    entries = get_session().scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE_SIZE)).all()
    return render_template("console/audit.html", entries=entries)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/console/login", "login", login, methods=["GET", "POST"])
    bp.add_url_rule("/console/logout", "logout", logout, methods=["POST"])
    bp.add_url_rule("/console/audit", "audit", audit)
