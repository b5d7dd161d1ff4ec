"""One way of reading values everywhere the API takes them: JSON booleans in bodies, integers the database
can hold, finite numbers only, and a clear answer to a form-encoded body."""

from __future__ import annotations

import json

import pytest

from tests import samples
from tests.factories import make_node

HUGE_INT = "1" + "0" * 400


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_a_node_pause_takes_json_true_or_false_only(client, session, value):
    node = make_node(session, hostname="one.test")
    session.commit()
    response = client.patch(f"/nodes/{node.id}/", json={"is_paused": value})
    assert response.status_code == 400
    assert "'is_paused' must be true or false" in response.get_json()["detail"]
    assert client.get(f"/nodes/{node.id}/").get_json()["is_paused"] is False


def test_auto_mode_and_scheduler_agree_on_booleans(client):
    for url, name in (("/scheduler/", "is_paused"), ("/cluster/auto-mode/", "auto_mode")):
        response = client.patch(url, json={name: "true"})
        assert response.status_code == 400, url
        assert f"'{name}' must be true or false, got a string" in response.get_json()["detail"]


def test_query_booleans_still_take_the_words_of_a_url(client, session):
    make_node(session, hostname="one.test", is_active=False)
    session.commit()
    assert client.get("/nodes/?include_inactive=yes").get_json()["count"] == 1
    assert client.get("/nodes/?include_inactive=no").get_json()["count"] == 0
    response = client.get("/nodes/?include_inactive=perhaps")
    assert response.status_code == 400 and "include_inactive" in response.get_json()["detail"]


@pytest.mark.parametrize("number", [HUGE_INT, "1e400", "-1e400"])
def test_numbers_too_large_for_a_float_are_refused_not_a_500(client, tmp_path, number):
    doc = samples.job_type()
    del doc["trigger_rule"]
    text = json.dumps(doc).replace('"mem_required": 64.0', f'"mem_required": {number}')
    assert number in text
    response = client.post("/job-types/", data=text, content_type="application/json")
    assert response.status_code == 400, response.get_json()
    messages = " ".join(e["message"] for e in response.get_json().get("errors", [])) or response.get_json()["detail"]
    assert "'mem_required' must be a finite number" in messages
    assert client.get("/job-types/").get_json()["count"] == 0


def test_ids_beyond_the_database_range_are_refused(client):
    response = client.post(
        "/queue/new-job/", data=f'{{"job_type_id": {HUGE_INT}, "job_data": {{}}}}', content_type="application/json"
    )
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "'job_type_id' is out of range" in detail and len(detail) < 200
    response = client.post("/queue/new-job/", json={"job_type_id": 2**31, "job_data": {}})
    assert response.status_code == 400 and "out of range" in response.get_json()["detail"]
    response = client.post("/queue/new-job/", json={"job_data": {}})
    assert response.status_code == 400 and "Missing required fields: job_type_id" == response.get_json()["detail"]


def test_a_form_encoded_body_is_told_to_send_json(client):
    response = client.post("/errors/", data="name=x&title=y", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.get_json()["detail"] == (
        "Expected a JSON body (Content-Type: application/json), got application/x-www-form-urlencoded"
    )
    response = client.post("/errors/", data={"name": "x"}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Expected a JSON body" in response.get_json()["detail"]


def test_json_labelled_as_a_form_is_still_read(client):
    """`curl -d '{...}'` without a Content-Type header sends a form type; the body is JSON all the same."""
    body = '{"name": "bad-input", "title": "Bad input", "category": "DATA"}'
    response = client.post("/errors/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == "bad-input"
