"""Limits a request meets before any route works on it: body size, JSON depth and array lengths, the Host
header of a loopback API, and a bounded requeue."""

from __future__ import annotations

import pytest

from app.settings import settings
from tests.factories import make_job, make_job_type


@pytest.fixture
def limited(monkeypatch):
    def set_(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        settings.reload()

    yield set_
    monkeypatch.undo()
    settings.reload()


def test_a_body_over_the_limit_is_refused_before_it_is_read(limited, app):
    limited(API_MAX_BODY_BYTES=1000)
    from api import create_app

    client = create_app().test_client()
    response = client.post("/errors/", data="x" * 5000, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["detail"] == "The request body is larger than 1000 bytes (API_MAX_BODY_BYTES)"


def test_deep_nesting_is_a_400_not_a_500(client):
    for depth in (100_000, 65):
        body = '{"job_data": ' + "[" * depth + "]" * depth + "}"
        response = client.post("/queue/new-job/", data=body, content_type="application/json")
        assert response.status_code == 400, depth
        assert "nested deeper than 64 levels" in response.get_json()["detail"]


def test_an_overlong_array_is_refused_naming_where_it_is(client, limited):
    limited(API_MAX_LIST_ITEMS=5)
    response = client.post("/queue/requeue-jobs/", json={"job_ids": list(range(1, 7))})
    assert response.status_code == 400
    assert response.get_json()["detail"] == ("The request body has 6 items in .job_ids; at most 5 are accepted")
    assert client.post("/queue/requeue-jobs/", json={"job_ids": [1, 2, 3]}).status_code == 200


def test_requeue_refuses_filters_matching_more_than_its_bound_and_changes_nothing(client, session, limited):
    limited(REQUEUE_MAX_JOBS=3)
    job_type = make_job_type(session)
    jobs = [make_job(session, job_type, status="FAILED") for _ in range(4)]
    session.commit()
    response = client.post("/queue/requeue-jobs/", json={})
    assert response.status_code == 400
    assert response.get_json()["detail"].startswith("The filters match 4 jobs; at most 3 are requeued per request")
    session.expire_all()
    assert {j.status for j in jobs} == {"FAILED"}
    response = client.post("/queue/requeue-jobs/", json={"job_ids": [j.id for j in jobs[:3]]})
    assert response.status_code == 200 and response.get_json()["count"] == 3


def test_a_loopback_api_answers_only_to_loopback_names(client, limited):
    assert client.get("/version/").status_code == 200  # the test client's Host is localhost
    for host in ("127.0.0.1:8000", "[::1]:8000", "localhost"):
        assert client.get("/version/", headers={"Host": host}).status_code == 200, host
    response = client.get("/version/", headers={"Host": "attacker.example:8000"})
    assert response.status_code == 400
    assert response.get_json()["detail"].startswith("Host 'attacker.example' is not served here")
    limited(API_ALLOWED_HOSTS="scale.example, localhost")
    assert client.get("/version/", headers={"Host": "scale.example"}).status_code == 200
    limited(API_ALLOWED_HOSTS="", API_HOST="0.0.0.0")
    assert client.get("/version/", headers={"Host": "anything.example"}).status_code == 200
