"""GET/POST /errors/, GET/PATCH /errors/<id>/."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import Error
from tests.factories import error_by_name

ERROR_FIELDS = {"id", "name", "title", "description", "category", "created", "last_modified"}
NEW_ERROR = {"name": "error1", "title": "Error 1", "description": "This is an algorithm error", "category": "ALGORITHM"}


def test_list_shows_the_builtin_errors_in_the_page_envelope(client):
    body = client.get("/errors/").get_json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(body["results"]) > 0
    unknown = next(e for e in body["results"] if e["name"] == "unknown")
    assert set(unknown) == ERROR_FIELDS
    assert unknown["category"] == "SYSTEM"


def test_list_pages_and_orders(client):
    body = client.get("/errors/?page_size=2&order=-name").get_json()
    assert len(body["results"]) == 2 and body["next"] is not None and body["previous"] is None
    names = [e["name"] for e in body["results"]]
    assert names == sorted(names, reverse=True)
    assert client.get("/errors/?order=nope").status_code == 400


def test_create_answers_201_with_location_and_details(client):
    response = client.post("/errors/", json=NEW_ERROR)
    assert response.status_code == 201
    created = response.get_json()
    assert set(created) == ERROR_FIELDS
    assert {k: created[k] for k in NEW_ERROR} == NEW_ERROR
    assert response.headers["Location"].endswith(f"/errors/{created['id']}/")
    assert client.get(response.headers["Location"]).get_json() == created


def test_create_refuses_system_category_unknown_fields_and_duplicates(client, session):
    before = session.scalar(select(func.count()).select_from(Error))
    response = client.post("/errors/", json={**NEW_ERROR, "category": "SYSTEM"})
    assert response.status_code == 400 and "SYSTEM" in response.get_json()["detail"]

    response = client.post("/errors/", json={**NEW_ERROR, "colour": "red"})
    assert response.status_code == 400 and "colour" in response.get_json()["detail"]

    response = client.post("/errors/", json={"title": "no name"})
    detail = response.get_json()["detail"]
    assert response.status_code == 400 and "'name' is required" in detail and "'category' is required" in detail

    assert client.post("/errors/", json=NEW_ERROR).status_code == 201
    response = client.post("/errors/", json=NEW_ERROR)
    assert response.status_code == 400 and "already exists" in response.get_json()["detail"]
    assert session.scalar(select(func.count()).select_from(Error)) == before + 1


def test_create_refuses_a_body_that_is_not_an_object(client):
    response = client.post("/errors/", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    response = client.post("/errors/", data="{not json", content_type="application/json")
    assert response.status_code == 400


def test_edit_changes_the_given_fields(client):
    error_id = client.post("/errors/", json=NEW_ERROR).get_json()["id"]
    response = client.patch(f"/errors/{error_id}/", json={"title": "My Error", "category": "DATA"})
    assert response.status_code == 200
    edited = response.get_json()
    assert (edited["title"], edited["category"], edited["description"]) == (
        "My Error",
        "DATA",
        NEW_ERROR["description"],
    )
    assert client.get(f"/errors/{error_id}/").get_json()["category"] == "DATA"


def test_edit_refuses_system_errors_and_changes_to_system(client, session):
    unknown = error_by_name(session, "unknown")
    response = client.patch(f"/errors/{unknown.id}/", json={"title": "Renamed"})
    assert response.status_code == 400 and "SYSTEM" in response.get_json()["detail"]
    session.expire_all()
    assert error_by_name(session, "unknown").title == "Unknown"

    error_id = client.post("/errors/", json=NEW_ERROR).get_json()["id"]
    response = client.patch(f"/errors/{error_id}/", json={"category": "SYSTEM"})
    assert response.status_code == 400
    assert client.get(f"/errors/{error_id}/").get_json()["category"] == "ALGORITHM"


def test_edit_refuses_unknown_fields_and_the_name(client):
    error_id = client.post("/errors/", json=NEW_ERROR).get_json()["id"]
    response = client.patch(f"/errors/{error_id}/", json={"name": "other", "title": 5})
    detail = response.get_json()["detail"]
    assert response.status_code == 400 and "name" in detail and "'title' must be a string" in detail


def test_unknown_ids_answer_404(client):
    assert client.get("/errors/999999/").status_code == 404
    response = client.patch("/errors/999999/", json={"title": "x"})
    assert response.status_code == 404 and "999999" in response.get_json()["detail"]
