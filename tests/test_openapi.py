"""The OpenAPI (Swagger 2.0) document, and a property-based run over every operation it describes:
whatever the generated request, the API must answer without a server error, with a status code and
a content type the document describes for that operation."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

EXAMPLES_PER_OPERATION = 10


@pytest.fixture
def swagger(client) -> dict:
    response = client.get("/swagger.json")
    assert response.status_code == 200
    return response.get_json()


def test_swagger_describes_the_routes(swagger):
    assert swagger["swagger"] == "2.0"
    paths = swagger["paths"]
    for path, method in (
        ("/errors/", "post"),
        ("/errors/{error_id}/", "patch"),
        ("/job-types/", "get"),
        ("/job-types/validation/", "post"),
        ("/job-types/{job_type_id}/", "patch"),
        ("/job-types/status/", "get"),
        ("/recipe-types/{recipe_type_id}/", "get"),
        ("/workspaces/validation/", "post"),
        ("/configuration/upload/", "post"),
        ("/scheduler/", "patch"),
        ("/v6/version/", "get"),
    ):
        assert method in paths[path], f"{method.upper()} {path} is not documented"
    # query parameters and bodies are described, so generated requests exercise them
    list_params = {p["name"] for p in paths["/job-types/"]["get"]["parameters"]}
    assert {"page", "page_size", "started", "ended", "order", "name", "category"} <= list_params
    assert "JobTypeCreate" in swagger["definitions"]


def test_operator_writes_document_their_bodies(swagger):
    """Swagger's "Try it out" can only send a body the document describes."""
    for path, method in (
        ("/nodes/{node_id}/", "patch"),
        ("/nodes/{node_id}/", "put"),
        ("/nodes/{node_id}/hold/", "post"),
        ("/resource-pools/", "post"),
        ("/resource-pools/{pool_id}/", "patch"),
        ("/resource-pools/{pool_id}/launch/", "post"),
        ("/cluster/auto-mode/", "patch"),
        ("/scheduler/", "patch"),
    ):
        params = swagger["paths"][path][method].get("parameters", [])
        assert any(p["in"] == "body" for p in params), f"{method.upper()} {path} does not document its body"
    pool = swagger["definitions"]["ResourcePoolCreate"]
    assert pool["required"] == ["name"] and pool["properties"]["max_nodes"]["minimum"] == 0


def test_every_registered_namespace_is_documented(app, swagger):
    api = app.extensions["restx_api"]
    for ns in api.namespaces:
        if ns.resources:
            prefix = (ns.path or f"/{ns.name}").rstrip("/") + "/"
            assert any(path.startswith(prefix) for path in swagger["paths"]), f"namespace {ns.name} has no paths"


def _server_errors(operation, mode: schemathesis.GenerationMode, headers: dict) -> str | None:
    """Run generated requests for one operation; the failure report, or None when none was a 5xx."""
    try:
        strategy = operation.as_strategy(generation_mode=mode)
    except Exception as exc:  # some operations have nothing to make invalid
        return None if mode is schemathesis.GenerationMode.NEGATIVE else f"cannot generate requests: {exc!r}"

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case):
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # TESTING lets the app's exceptions through instead of answering 500
            raise AssertionError(f"{case.as_curl_command()}\n-> {type(exc).__name__}: {exc}") from exc
        # 503 is a documented answer (/status/ while the scheduler is offline); 500 never is.
        assert response.status_code != 500, f"{case.as_curl_command()}\n-> 500 {response.text[:1000]}"
        try:  # and every answer is one the document describes, in a content type it names
            case.validate_response(response, checks=[status_code_conformance, content_type_conformance])
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
            raise AssertionError(f"{case.as_curl_command()}\n-> {response.status_code}: {exc}") from None

    try:
        run()
    except Unsatisfiable:  # nothing in this operation can be made invalid
        return None if mode is schemathesis.GenerationMode.NEGATIVE else "no request could be generated"
    except (AssertionError, BaseExceptionGroup) as exc:  # the shrunk request(s) that failed
        return str(exc)[:3000] if isinstance(exc, AssertionError) else "\n".join(str(e)[:1500] for e in exc.exceptions)
    return None


def test_no_operation_answers_a_server_error(scale_env, redis_server, monkeypatch):
    """Valid and invalid requests to every documented operation (of every namespace registered now), with
    authentication on and an admin's token, so every route runs past the token check."""
    from api import create_app
    from app.db import session_scope
    from app.settings import settings as scale_settings
    from app.tokens import create_token
    from tasks.celery_app import app as celery_app

    # Operations that send Celery messages send them to the test Redis.
    monkeypatch.setattr(celery_app.conf, "broker_url", redis_server)
    monkeypatch.setenv("API_AUTH", "true")
    scale_settings.reload()
    app = create_app()
    app.config["TESTING"] = True
    with session_scope() as session:
        headers = {"Authorization": f"Bearer {create_token(session, 'fuzz', 'admin')[1]}"}
    schema = schemathesis.openapi.from_wsgi("/swagger.json", app)
    failures, tested = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tested += 1
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            report = _server_errors(operation, mode, headers)
            if report:
                failures.append(f"{operation.label} ({mode.value}):\n{report}")
    assert tested >= 20
    assert not failures, "\n\n".join(failures)
    from sqlalchemy import func, select

    from app.models import AuditEntry

    with session_scope() as session:  # the token was taken: the writes ran past the check, each recorded
        outcomes = dict(
            session.execute(
                select(AuditEntry.outcome, func.count())
                .where(AuditEntry.token_name == "fuzz")
                .group_by(AuditEntry.outcome)
            ).all()
        )
    assert (
        outcomes.get("ok", 0) >= 5
        and outcomes.get("refused", 0) > 10
        and "denied" not in outcomes
        and "error" not in outcomes
    ), outcomes
