"""API_AUTH: bearer tokens, roles per route (derived from the OpenAPI document), revocation, expiry,
the console's sign-in, and the refusal to serve beyond loopback without authentication."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.db import utcnow
from app.models import ApiToken
from app.settings import ROOT

# The policy, written out here rather than read from api.auth, so a change there must change this.
OPERATOR_WRITES = {
    "post /queue/new-job/",
    "post /queue/new-jobs/",
    "post /queue/new-recipe/",
    "post /queue/requeue-job/",
    "post /queue/requeue-jobs/",
    "patch /jobs/{job_id}/",
    "patch /scheduler/",
    "patch /cluster/auto-mode/",
    "post /nodes/{node_id}/hold/",
    "post /nodes/{node_id}/unhold/",
    "post /nodes/{node_id}/vacate/",
    "post /resource-pools/{pool_id}/drain/",
    "post /resource-pools/{pool_id}/freeze/",
    "post /resource-pools/{pool_id}/restore/",
    "post /resource-pools/{pool_id}/launch/",
    "patch /job-types/{job_type_id}/",  # with a body of is_paused only (this test sends {})
    "patch /nodes/{node_id}/",  # likewise: is_paused and pause_reason only
}
ADMIN_READS = ("/tokens/", "/audit/")
ROLES = ("viewer", "operator", "admin")


@pytest.fixture
def auth_app(scale_env, monkeypatch):
    from api import create_app
    from app.settings import settings

    monkeypatch.setenv("API_AUTH", "true")
    settings.reload()
    flask_app = create_app()
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def tokens(auth_app) -> dict[str, str]:
    """A token of each role."""
    from app.db import session_scope
    from app.tokens import create_token

    made = {}
    with session_scope() as session:
        for role in ROLES:
            made[role] = create_token(session, f"{role}-token", role)[1]
    return made


@pytest.fixture
def auth_client(auth_app):
    return auth_app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def needed(method: str, path: str) -> str:
    if method == "get":
        return "admin" if path.startswith(ADMIN_READS) else "viewer"
    if path.endswith("/validation/"):
        return "viewer"
    return "operator" if f"{method} {path}" in OPERATOR_WRITES else "admin"


def documented_operations(client) -> list[tuple[str, str]]:
    paths = client.get("/swagger.json").get_json()["paths"]
    return [
        (method, path)
        for path, item in paths.items()
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    ]


def call(client, method: str, path: str, headers: dict):
    url = path
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        url = url.replace("{" + name + "}", "999999")
    kwargs = {"headers": headers}
    if method != "get":
        kwargs["json"] = {}
    return getattr(client, method)(url, **kwargs)


def test_every_documented_route_answers_each_role_by_the_policy(auth_client, tokens, redis_server, monkeypatch):
    from tasks.celery_app import app as celery_app

    monkeypatch.setattr(celery_app.conf, "broker_url", redis_server)
    operations = documented_operations(auth_client)
    assert len(operations) > 60
    wrong = []
    for method, path in operations:
        anonymous = call(auth_client, method, path, {})
        if anonymous.status_code != 401 or "token" not in anonymous.get_json()["detail"]:
            wrong.append(f"{method} {path} without a token: {anonymous.status_code}")
        for role in ROLES:
            status = call(auth_client, method, path, bearer(tokens[role])).status_code
            allowed = ROLES.index(role) >= ROLES.index(needed(method, path))
            if allowed and status in (401, 403) or not allowed and status != 403:
                wrong.append(f"{method} {path} as {role}: {status} ({'allowed' if allowed else 'refused'} expected)")
    assert not wrong, "\n".join(wrong)


def test_an_operator_may_pause_a_job_type_but_not_change_what_it_runs(auth_client, tokens, session):
    from tests.factories import make_job_type

    job_type = make_job_type(session)
    session.commit()
    url = f"/job-types/{job_type.id}/"
    operator = bearer(tokens["operator"])
    assert auth_client.patch(url, json={"is_paused": True}, headers=operator).status_code == 200
    refused = auth_client.patch(url, json={"is_paused": False, "docker_image": "evil"}, headers=operator)
    assert refused.status_code == 403
    assert "needs admin" in refused.get_json()["detail"] and "operator" in refused.get_json()["detail"]
    assert auth_client.patch(url, json={"title": "New"}, headers=bearer(tokens["admin"])).status_code == 200


def test_what_a_token_queues_records_the_token_in_its_event(auth_client, tokens, session):
    from tests.factories import make_job_type

    job_type = make_job_type(session)
    session.commit()
    body = {"job_type_id": job_type.id, "job_data": {"version": "1.0", "input_data": [], "output_data": []}}
    response = auth_client.post("/queue/new-job/", json=body, headers=bearer(tokens["operator"]))
    assert response.status_code == 201, response.get_json()
    event = response.get_json()["event"]
    assert (event["type"], event["description"]) == ("USER", {"user": "operator-token"})


def test_a_refusal_names_the_token_and_the_role_needed(auth_client, tokens):
    response = auth_client.post("/errors/", json={}, headers=bearer(tokens["viewer"]))
    assert response.status_code == 403
    assert response.get_json() == {"detail": "Token 'viewer-token' has role viewer; POST /errors/ needs admin"}
    missing = auth_client.get("/jobs/")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "missing" in missing.get_json()["detail"]
    for header in ("Bearer scale_not-a-token", "Bearer", "Basic dXNlcjpwYXNz", tokens["admin"]):
        assert auth_client.get("/jobs/", headers={"Authorization": header}).status_code == 401, header


def test_tokens_are_created_once_stored_hashed_and_revoked(auth_client, tokens, session):
    admin = bearer(tokens["admin"])
    created = auth_client.post("/tokens/", json={"name": "ci", "role": "operator"}, headers=admin)
    assert created.status_code == 201
    body = created.get_json()
    token = body["token"]
    assert token.startswith("scale_") and len(token) > 40 and body["role"] == "operator" and body["is_active"]
    assert created.headers["Location"].endswith(f"/tokens/{body['id']}/")
    stored = session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and all(len(h) == 64 for h in stored)
    listed = auth_client.get("/tokens/", headers=admin).get_json()["results"]
    assert {t["name"] for t in listed} >= {"ci", "admin-token"} and all("token" not in t for t in listed)

    assert auth_client.post("/queue/requeue-jobs/", json={}, headers=bearer(token)).status_code != 401
    again = auth_client.post("/tokens/", json={"name": "ci", "role": "nobody", "x": 1}, headers=admin)
    assert again.status_code == 400 and "Unknown fields: x" in again.get_json()["detail"]
    duplicate = auth_client.post("/tokens/", json={"name": "ci", "role": "viewer"}, headers=admin)
    assert duplicate.status_code == 400 and "active token named 'ci'" in duplicate.get_json()["detail"]

    revoked = auth_client.delete(f"/tokens/{body['id']}/", headers=admin)
    assert revoked.status_code == 200 and revoked.get_json()["is_active"] is False
    after = auth_client.get("/jobs/", headers=bearer(token))
    assert after.status_code == 401 and "revoked" in after.get_json()["detail"]


def test_an_expired_token_is_refused(auth_client, tokens, session):
    admin = bearer(tokens["admin"])
    past = auth_client.post(
        "/tokens/", json={"name": "old", "role": "viewer", "expires": "2020-01-01T00:00:00Z"}, headers=admin
    )
    assert past.status_code == 400 and "future" in past.get_json()["detail"]
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    body = auth_client.post(
        "/tokens/", json={"name": "temp", "role": "viewer", "expires": soon}, headers=admin
    ).get_json()
    assert auth_client.get("/jobs/", headers=bearer(body["token"])).status_code == 200
    row = session.get(ApiToken, body["id"])
    row.expires = utcnow() - timedelta(seconds=1)
    session.commit()
    assert auth_client.get("/jobs/", headers=bearer(body["token"])).status_code == 401
    assert auth_client.get(f"/tokens/{body['id']}/", headers=admin).get_json()["is_active"] is False


def test_the_openapi_document_is_public_and_describes_the_bearer_scheme(auth_client):
    doc = auth_client.get("/swagger.json")
    assert doc.status_code == 200
    assert doc.get_json()["securityDefinitions"]["bearer"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Bearer <token>",
    }
    assert doc.get_json()["security"] == [{"bearer": []}]
    assert auth_client.get("/docs/").status_code == 200


def test_the_console_signs_in_with_a_token_and_keeps_roles(auth_client, tokens):
    page = auth_client.get("/console/jobs")
    assert page.status_code == 303 and "/console/login" in page.headers["Location"]
    assert auth_client.get("/console/login").status_code == 200
    bad = auth_client.post("/console/login", data={"token": "scale_wrong", "next": "/console/jobs"})
    assert bad.status_code == 401 and b"not valid" in bad.data
    good = auth_client.post("/console/login", data={"token": tokens["viewer"], "next": "/console/jobs"})
    assert good.status_code == 303 and good.headers["Location"].endswith("/console/jobs")
    assert auth_client.get("/console/jobs").status_code == 200
    assert b"viewer-token" in auth_client.get("/").data
    assert auth_client.post("/console/scheduler", data={"is_paused": "true"}).status_code == 403
    assert auth_client.get("/jobs/").status_code == 401  # the cookie is the console's only

    auth_client.post("/console/logout")
    auth_client.post("/console/login", data={"token": tokens["operator"]})
    assert auth_client.post("/console/scheduler", data={"is_paused": "true"}).status_code == 303
    auth_client.post("/console/logout")
    assert auth_client.get("/console/jobs").status_code == 303


def test_the_tokens_command_creates_lists_and_revokes(auth_app, auth_client):
    from app.tokens import cli

    runner = CliRunner()
    created = runner.invoke(cli, ["create", "--name", "first", "--role", "admin", "--expires-in-days", "30"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert auth_client.get("/tokens/", headers=bearer(token)).status_code == 200
    listed = runner.invoke(cli, ["list"])
    assert "first\tadmin\tactive" in listed.output
    assert runner.invoke(cli, ["create", "--name", "x", "--role", "root"]).exit_code == 2
    token_id = listed.output.split("\t")[0]
    assert runner.invoke(cli, ["revoke", token_id]).exit_code == 0
    assert auth_client.get("/tokens/", headers=bearer(token)).status_code == 401
    assert "no token 999" in runner.invoke(cli, ["revoke", "999"]).output


def _serve(env_changes: dict[str, str], scale_env) -> subprocess.CompletedProcess:
    env = {**os.environ, "SCALE_VAR_DIR": str(scale_env), **env_changes}
    code = "import api.wsgi"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_api_refuses_to_serve_beyond_loopback_without_authentication(scale_env):
    refused = _serve({"API_HOST": "0.0.0.0", "API_AUTH": "false"}, scale_env)
    assert refused.returncode != 0
    assert "refusing to serve the API: API_HOST=0.0.0.0" in refused.stderr and "API_AUTH=true" in refused.stderr
    assert _serve({"API_HOST": "0.0.0.0", "API_AUTH": "true"}, scale_env).returncode == 0
    assert _serve({"API_HOST": "127.0.0.1", "API_AUTH": "false"}, scale_env).returncode == 0


def test_flower_beyond_loopback_needs_basic_auth(monkeypatch, scale_env):
    from app.settings import exposure_problems, settings
    from workers import run_all

    monkeypatch.setenv("FLOWER_ADDRESS", "0.0.0.0")
    settings.reload()
    assert exposure_problems(settings) == [
        "FLOWER_ADDRESS=0.0.0.0 serves Flower beyond this machine: set FLOWER_BASIC_AUTH (user:password) or bind 127.0.0.1"
    ]
    with pytest.raises(SystemExit, match="refusing to start: FLOWER_ADDRESS"):
        run_all.main()
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:secret")
    settings.reload()
    assert exposure_problems(settings) == []


@pytest.fixture
def served(auth_app, monkeypatch):
    """The authenticating app over real HTTP, for the `scale` command."""
    from tests.conftest import LiveServer

    server = LiveServer(auth_app)
    monkeypatch.setenv("SCALE_API_URL", server.url)
    yield
    server.stop()


def test_the_scale_cli_manages_tokens_and_shows_the_audit_trail(served, tokens, monkeypatch):
    from scale_cli.main import cli

    def scale(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    monkeypatch.setenv("SCALE_API_TOKEN", tokens["admin"])
    created = scale("tokens", "create", "--name", "robot", "--role", "viewer", "--json")
    assert created.exit_code == 0, created.output
    import json

    made = json.loads(created.output)
    assert made["token"].startswith("scale_") and made["role"] == "viewer"
    assert "robot" in scale("tokens", "list").output
    monkeypatch.setenv("SCALE_API_TOKEN", made["token"])
    refused = scale("tokens", "list")
    assert refused.exit_code == 1 and "403" in refused.output and "needs admin" in refused.output
    monkeypatch.setenv("SCALE_API_TOKEN", tokens["admin"])
    assert scale("tokens", "revoke", str(made["id"])).exit_code == 0
    trail = json.loads(scale("audit", "--json").output)
    assert [(e["method"], e["route"], e["token_name"], e["outcome"]) for e in trail[:2]] == [
        ("DELETE", "/tokens/<int:token_id>/", "admin-token", "ok"),
        ("POST", "/tokens/", "admin-token", "ok"),
    ]
    assert trail[1]["object_ids"] == {"created_id": made["id"]}
    assert all(e["method"] != "GET" for e in trail)  # the viewer's refused read is not a write


def test_every_write_is_in_the_audit_trail_refused_or_not(auth_client, tokens, session):
    from app.models import AuditEntry

    created = auth_client.post("/errors/", json={"name": "e1", "category": "DATA"}, headers=bearer(tokens["admin"]))
    assert created.status_code == 201
    auth_client.post("/errors/", json={"name": "e2", "category": "DATA"}, headers=bearer(tokens["operator"]))
    auth_client.post("/errors/", json={"name": "bad name!", "category": "DATA"}, headers=bearer(tokens["admin"]))
    auth_client.patch("/scheduler/", json={"is_paused": True})
    auth_client.get("/errors/", headers=bearer(tokens["admin"]))
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    seen = [(r.token_name, r.role, r.method, r.path, r.status_code, r.outcome) for r in rows]
    assert seen == [
        ("admin-token", "admin", "POST", "/errors/", 201, "ok"),
        ("operator-token", "operator", "POST", "/errors/", 403, "denied"),
        ("admin-token", "admin", "POST", "/errors/", 400, "refused"),
        (None, None, "PATCH", "/scheduler/", 401, "denied"),
    ]
    assert rows[0].object_ids == {"created_id": created.get_json()["id"]} and rows[0].remote_addr == "127.0.0.1"
    page = auth_client.get("/audit/?outcome=denied", headers=bearer(tokens["admin"])).get_json()
    assert [e["path"] for e in page["results"]] == ["/scheduler/", "/errors/"]
    assert auth_client.get("/audit/", headers=bearer(tokens["operator"])).status_code == 403


def test_without_authentication_writes_are_recorded_as_anonymous(client, session, monkeypatch):
    from app.models import AuditEntry
    from app.settings import settings

    assert client.patch("/scheduler/", json={"is_paused": True}).status_code == 201
    client.post("/console/scheduler", data={"is_paused": "false"})
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(r.token_name, r.method, r.route, r.outcome) for r in rows] == [
        (None, "PATCH", "/scheduler/", "ok"),
        (None, "POST", "/console/scheduler", "ok"),
    ]
    monkeypatch.setenv("API_AUDIT", "false")
    settings.reload()
    client.patch("/scheduler/", json={"is_paused": False})
    assert len(session.scalars(select(AuditEntry)).all()) == 2


def test_the_console_shows_the_audit_trail_to_admins(auth_client, tokens):
    auth_client.post("/console/login", data={"token": tokens["operator"]})
    auth_client.post("/console/scheduler", data={"is_paused": "true"})
    assert auth_client.get("/console/audit").status_code == 403
    auth_client.post("/console/logout")
    auth_client.post("/console/login", data={"token": tokens["admin"]})
    page = auth_client.get("/console/audit").data.decode()
    assert "POST /console/scheduler" in page and "operator-token" in page and "POST /console/login" in page
