"""GET/PATCH /scheduler/, GET /version/ and GET /v6/version/."""

from __future__ import annotations

from app.models import Node, Scheduler
from tests.factories import make_node

DEFAULTS = {"is_paused": False, "num_message_handlers": 2, "system_logging_level": "INFO", "queue_mode": "FIFO"}


def test_get_shows_the_scheduler_fields(client):
    response = client.get("/scheduler/")
    assert response.status_code == 200
    assert response.get_json() == DEFAULTS


def test_patch_updates_fields_and_answers_201_with_location(client, session):
    response = client.patch(
        "/scheduler/", json={"queue_mode": "LIFO", "num_message_handlers": 4, "system_logging_level": "DEBUG"}
    )
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/scheduler/")
    assert response.get_json() == {
        **DEFAULTS,
        "queue_mode": "LIFO",
        "num_message_handlers": 4,
        "system_logging_level": "DEBUG",
    }
    assert session.get(Scheduler, 1).queue_mode == "LIFO"
    assert client.get("/scheduler/").get_json()["queue_mode"] == "LIFO"


def test_global_pause_keeps_each_nodes_own_pause_state(client, session):
    held = make_node(session, is_paused=True, pause_reason="maintenance")
    free = make_node(session)
    session.commit()
    assert client.patch("/scheduler/", json={"is_paused": True}).get_json()["is_paused"] is True
    assert client.patch("/scheduler/", json={"is_paused": False}).get_json()["is_paused"] is False
    session.expire_all()
    assert (session.get(Node, held.id).is_paused, session.get(Node, held.id).pause_reason) == (True, "maintenance")
    assert session.get(Node, free.id).is_paused is False


def test_patch_refuses_unknown_fields_bad_values_and_an_empty_body(client):
    response = client.patch("/scheduler/", json={"is_paused": True, "colour": "red"})
    assert response.status_code == 400 and "colour" in response.get_json()["detail"]
    response = client.patch(
        "/scheduler/",
        json={"queue_mode": "RANDOM", "num_message_handlers": -1, "is_paused": "yes", "system_logging_level": "LOUD"},
    )
    detail = response.get_json()["detail"]
    assert response.status_code == 400
    assert all(name in detail for name in ("queue_mode", "num_message_handlers", "is_paused", "system_logging_level"))
    assert client.patch("/scheduler/", json={}).status_code == 400
    assert client.get("/scheduler/").get_json() == DEFAULTS


def test_a_missing_scheduler_row_is_recreated(client, session):
    session.delete(session.get(Scheduler, 1))
    session.commit()
    assert client.get("/scheduler/").get_json() == DEFAULTS


def test_versions(client):
    from api import VERSION

    assert client.get("/version/").get_json() == {"version": VERSION}
    assert client.get("/v6/version/").get_json() == {"version": VERSION}
