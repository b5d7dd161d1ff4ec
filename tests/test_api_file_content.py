"""GET /sources/<id>/content/ and /products/<id>/content/: the bytes, only from inside the workspace."""

from __future__ import annotations

import os

import pytest

from tests import factories as f


@pytest.fixture
def workspace(session, tmp_path):
    root = tmp_path / "ws"
    (root / "data").mkdir(parents=True)
    ws = f.make_workspace(
        session, name="raw", json_config={"version": "1.0", "broker": {"type": "host", "host_path": str(root)}}
    )
    session.commit()
    return ws, root


def test_source_content_is_streamed_as_a_download(client, session, workspace):
    ws, root = workspace
    (root / "data" / "scene.txt").write_bytes(b"hello\x00world" * 1000)
    source = f.make_file(session, ws, file_name="scene.txt", file_path="data/scene.txt", media_type="text/plain")
    session.commit()
    response = client.get(f"/sources/{source.id}/content/")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.data == b"hello\x00world" * 1000
    assert response.mimetype == "text/plain"
    assert "filename=scene.txt" in response.headers["Content-Disposition"]


def test_product_content_and_kinds_are_not_mixed(client, session, workspace):
    ws, root = workspace
    (root / "data" / "out.kml").write_text("<kml/>")
    job_type = f.make_job_type(session)
    product = f.make_file(
        session,
        ws,
        file_type="PRODUCT",
        file_name="out.kml",
        file_path="data/out.kml",
        media_type=None,
        job_type_id=job_type.id,
    )
    session.commit()
    response = client.get(f"/products/{product.id}/content/")
    assert response.status_code == 200 and response.data == b"<kml/>"
    assert response.mimetype == "application/octet-stream"
    assert client.get(f"/sources/{product.id}/content/").status_code == 404
    assert client.get("/products/999999/content/").status_code == 404


def test_missing_or_deleted_content_is_404(client, session, workspace):
    ws, _root = workspace
    missing = f.make_file(session, ws, file_path="data/nothing.txt")
    deleted = f.make_file(session, ws, file_path="data/nothing.txt", is_deleted=True)
    session.commit()
    for file_id in (missing.id, deleted.id):
        response = client.get(f"/sources/{file_id}/content/")
        assert response.status_code == 404, response.data
        assert str(file_id) in response.get_json()["detail"]


def test_paths_leaving_the_workspace_are_refused(client, session, workspace, tmp_path):
    ws, root = workspace
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    os.symlink(secret, root / "data" / "link.txt")
    dotdot = f.make_file(session, ws, file_path="../secret.txt")
    absolute = f.make_file(session, ws, file_path=str(secret))
    linked = f.make_file(session, ws, file_path="data/link.txt")
    session.commit()
    for file_id in (dotdot.id, absolute.id, linked.id):
        response = client.get(f"/sources/{file_id}/content/")
        assert response.status_code == 400, (file_id, response.data)
        assert b"do not serve" not in response.data
        assert "workspace" in response.get_json()["detail"]


def test_content_routes_are_documented(client):
    paths = client.get("/swagger.json").get_json()["paths"]
    for path in ("/sources/{source_id}/content/", "/products/{product_id}/content/"):
        assert set(paths[path]["get"]["responses"]) >= {"200", "400", "404"}
