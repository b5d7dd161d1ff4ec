"""Workspace services: list, create, validate, details and edit."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import Workspace
from tests import samples

LIST_FIELDS = {
    "id",
    "name",
    "title",
    "description",
    "base_url",
    "is_active",
    "used_size",
    "total_size",
    "created",
    "archived",
    "last_modified",
}


def read_sizes(session) -> None:
    """What the background task (tasks.maintenance.workspace_sizes) does."""
    from app.services.workspaces import refresh_sizes

    refresh_sizes(session)
    session.commit()


def test_create_answers_details_and_sizes_are_read_in_the_background(client, session, tmp_path):
    root = tmp_path / "products"
    root.mkdir()
    (root / "a.bin").write_bytes(b"x" * 1234)
    response = client.post("/workspaces/", json=samples.workspace("products", str(root)))
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == LIST_FIELDS | {"json_config"}
    assert response.headers["Location"].endswith(f"/workspaces/{body['id']}/")
    assert body["json_config"] == {"version": "1.0", "broker": {"type": "host", "host_path": str(root)}}
    assert body["used_size"] is None and body["total_size"] is None  # no tree walk inside the request
    assert (body["is_active"], body["archived"]) == (True, None)
    assert client.get(response.headers["Location"]).get_json() == body
    read_sizes(session)
    sized = client.get(response.headers["Location"]).get_json()
    assert sized["used_size"] == 1234 and sized["total_size"] > 1234


def test_nfs_workspaces_are_accepted(client):
    doc = samples.workspace("remote", "/unused")
    doc["json_config"] = {"version": "1.0", "broker": {"type": "nfs", "mount": "nfs-host:/exports/remote"}}
    response = client.post("/workspaces/", json=doc)
    assert response.status_code == 201
    assert response.get_json()["json_config"]["broker"]["mount"] == "nfs-host:/exports/remote"


def test_create_refuses_duplicates_bad_configurations_and_unknown_fields(client, session, tmp_path):
    assert client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path))).status_code == 201
    response = client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path)))
    assert response.status_code == 400 and "already exists" in response.get_json()["detail"]

    doc = samples.workspace("other", str(tmp_path), size="big")
    doc["json_config"]["broker"] = {"type": "ftp"}
    response = client.post("/workspaces/", json=doc)
    detail = response.get_json()["detail"]
    assert response.status_code == 400 and "ftp" in detail and "size" in detail

    doc = samples.workspace("relative", "not/absolute")
    assert "absolute" in client.post("/workspaces/", json=doc).get_json()["detail"]
    response = client.post("/workspaces/", json={"name": "bad name!"})
    detail = response.get_json()["detail"]
    assert "json_config" in detail and "bad name!" in detail
    assert session.scalar(select(func.count()).select_from(Workspace)) == 1


def test_validation_checks_without_saving(client, session, tmp_path):
    response = client.post("/workspaces/validation/", json=samples.workspace("rs", str(tmp_path)))
    assert response.status_code == 200 and response.get_json() == {"warnings": []}
    assert session.scalar(select(func.count()).select_from(Workspace)) == 0
    client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path)))
    response = client.post("/workspaces/validation/", json=samples.workspace("rs", str(tmp_path)))
    assert response.status_code == 400 and "rs" in response.get_json()["detail"]


def test_list_filters_by_name_and_orders(client, tmp_path):
    for name in ("beta", "alpha", "gamma"):
        client.post("/workspaces/", json=samples.workspace(name, str(tmp_path / name)))
    body = client.get("/workspaces/").get_json()
    assert set(body["results"][0]) == LIST_FIELDS
    assert [w["name"] for w in body["results"]] == ["alpha", "beta", "gamma"]
    filtered = client.get("/workspaces/?name=gamma&name=alpha&order=-name").get_json()["results"]
    assert [w["name"] for w in filtered] == ["gamma", "alpha"]


def test_edit_archives_and_refreshes_sizes(client, session, tmp_path):
    workspace_id = client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path / "one"))).get_json()["id"]
    archived = client.patch(f"/workspaces/{workspace_id}/", json={"is_active": False, "title": "Old"}).get_json()
    assert (archived["is_active"], archived["title"]) == (False, "Old") and archived["archived"] is not None
    restored = client.patch(f"/workspaces/{workspace_id}/", json={"is_active": True}).get_json()
    assert restored["archived"] is None

    other = tmp_path / "two"
    other.mkdir()
    (other / "f").write_bytes(b"y" * 10)
    config = {"version": "1.0", "broker": {"type": "host", "host_path": str(other)}}
    moved = client.patch(f"/workspaces/{workspace_id}/", json={"json_config": config}).get_json()
    assert moved["json_config"]["broker"]["host_path"] == str(other) and moved["used_size"] is None
    read_sizes(session)
    assert client.get(f"/workspaces/{workspace_id}/").get_json()["used_size"] == 10


def test_edit_refuses_the_name_bad_values_and_a_null_configuration(client, tmp_path):
    workspace_id = client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path))).get_json()["id"]
    response = client.patch(f"/workspaces/{workspace_id}/", json={"name": "renamed", "is_active": "no"})
    detail = response.get_json()["detail"]
    assert response.status_code == 400 and "name" in detail and "is_active" in detail
    assert client.patch(f"/workspaces/{workspace_id}/", json={"json_config": None}).status_code == 400
    assert client.get(f"/workspaces/{workspace_id}/").get_json()["name"] == "rs"


def test_unknown_ids_answer_404(client):
    assert client.get("/workspaces/4040/").status_code == 404
    assert client.patch("/workspaces/4040/", json={"title": "x"}).status_code == 404


def test_storage_outside_the_allowed_roots_is_refused_naming_them(client, tmp_path, monkeypatch):
    from app.settings import settings

    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "escape").symlink_to("/etc")
    monkeypatch.setenv("WORKSPACE_ALLOWED_ROOTS", str(allowed))
    settings.reload()
    for path, expected in (
        ("/usr", "is outside the allowed roots"),
        (f"{allowed}/../elsewhere", "must not contain '..'"),
        (f"{allowed}/escape", "is outside the allowed roots"),  # a link out is followed
    ):
        response = client.post("/workspaces/", json=samples.workspace("out", path))
        assert response.status_code == 400, path
        assert expected in response.get_json()["detail"], path
    assert "is outside the allowed roots (" + str(allowed) + ")" in response.get_json()["detail"]  # names them
    assert not (tmp_path / "elsewhere").exists()  # nothing created
    nfs = samples.workspace("nfs", "/unused")
    nfs["json_config"] = {"version": "1.0", "broker": {"type": "nfs", "mount": "h:/../../../../etc"}}
    response = client.post("/workspaces/", json=nfs)
    assert response.status_code == 400 and "must not contain '..'" in response.get_json()["detail"]
    fine = client.post("/workspaces/", json=samples.workspace("in", str(allowed / "products")))
    assert fine.status_code == 201
    assert not (allowed / "products").exists()  # the request creates no directory; the broker does on first store
