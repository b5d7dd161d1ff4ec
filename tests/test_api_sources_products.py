"""GET /sources/, /sources/<id>/, /sources/updates/, /products/, /products/<id>/, /products/updates/."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from tests import factories as f


def job_with_inputs(session, job_type, file_ids: list[int]):
    data = {"version": "1.0", "input_data": [{"name": "input_file", "file_ids": file_ids}], "output_data": []}
    return f.make_job(session, job_type, status="COMPLETED", data=data)


@pytest.fixture
def files(session):
    """Two sources (one parsed, one deleted), a product of the first, and a product made from that product."""
    now = utcnow()
    ws = f.make_workspace(session, name="raw")
    parsed = f.make_file(
        session,
        ws,
        file_name="scene.h5",
        media_type="image/x-hdf5-image",
        is_parsed=True,
        parsed=now,
        data_type="h5,raw",
    )
    deleted = f.make_file(session, ws, file_name="old.txt", is_deleted=True, deleted=now)
    plain = f.make_file(session, ws, file_name="plain.txt")
    footprint = f.make_job_type(session, name="kml-footprint", category="footprint")
    refine = f.make_job_type(session, name="refine", category="analysis", is_operational=False)
    first_job = job_with_inputs(session, footprint, [parsed.id])
    kml = f.make_file(
        session,
        ws,
        file_type="PRODUCT",
        file_name="scene.kml",
        job_type_id=footprint.id,
        job_id=first_job.id,
        is_published=True,
        published=now,
        is_operational=True,
    )
    second_job = job_with_inputs(session, refine, [kml.id, plain.id])
    refined = f.make_file(
        session,
        ws,
        file_type="PRODUCT",
        file_name="refined.kml",
        job_type_id=refine.id,
        job_id=second_job.id,
        is_published=False,
        published=now - timedelta(hours=1),
        unpublished=now,
        is_operational=False,
    )
    session.commit()
    return {
        "parsed": parsed.id,
        "deleted": deleted.id,
        "plain": plain.id,
        "kml": kml.id,
        "refined": refined.id,
        "footprint": footprint.id,
    }


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [r["file_name"] for r in response.get_json()["results"]]


def test_source_list_and_filters(client, files):
    assert sorted(names(client.get("/sources/"))) == ["old.txt", "plain.txt", "scene.h5"]
    assert names(client.get("/sources/?is_parsed=true")) == ["scene.h5"]
    assert sorted(names(client.get("/sources/?is_parsed=false"))) == ["old.txt", "plain.txt"]
    assert names(client.get("/sources/?file_name=plain.txt")) == ["plain.txt"]
    assert names(client.get("/sources/?order=-file_name")) == ["scene.h5", "plain.txt", "old.txt"]
    item = client.get("/sources/?file_name=scene.h5").get_json()["results"][0]
    assert item["data_type"] == ["h5", "raw"] and item["is_parsed"] is True and item["parsed"]
    assert item["workspace"] == {"id": item["workspace"]["id"], "name": "raw"}
    assert item["url"] == "http://files.test/ws/data/scene.h5"
    assert client.get("/sources/?is_parsed=perhaps").status_code == 400


def test_source_updates_say_what_happened(client, files):
    body = client.get("/sources/updates/?order=file_name").get_json()
    actions = {r["file_name"]: r["update"]["action"] for r in body["results"]}
    assert actions == {"old.txt": "DELETED", "plain.txt": "CREATED", "scene.h5": "PARSED"}
    assert all(r["update"]["when"] for r in body["results"])


def test_source_details(client, files, session):
    body = client.get(f"/sources/{files['parsed']}/").get_json()
    assert body["file_name"] == "scene.h5" and body["ingests"] == []
    assert client.get(f"/sources/{files['kml']}/").status_code == 404  # a product is not a source
    assert client.get("/sources/9999/").status_code == 404


def test_product_list_and_filters(client, files):
    assert sorted(names(client.get("/products/"))) == ["refined.kml", "scene.kml"]
    assert names(client.get("/products/?job_type_name=kml-footprint")) == ["scene.kml"]
    assert names(client.get(f"/products/?job_type_id={files['footprint']}")) == ["scene.kml"]
    assert names(client.get("/products/?job_type_category=analysis")) == ["refined.kml"]
    assert names(client.get("/products/?is_operational=false")) == ["refined.kml"]
    assert names(client.get("/products/?is_published=true")) == ["scene.kml"]
    assert names(client.get("/products/?order=-job_type__name")) == ["refined.kml", "scene.kml"]
    item = client.get("/products/?file_name=scene.kml").get_json()["results"][0]
    assert item["job_type"]["name"] == "kml-footprint" and item["is_published"] is True
    assert item["job"]["id"] and "source_files" not in item
    assert client.get("/products/?job_type_id=x").status_code == 400


def test_product_updates_carry_action_and_source_files(client, files):
    body = client.get("/products/updates/?order=file_name").get_json()
    refined, scene = body["results"]
    assert scene["update"]["action"] == "PUBLISHED" and refined["update"]["action"] == "UNPUBLISHED"
    assert [s["file_name"] for s in scene["source_files"]] == ["scene.h5"]
    # Through the intermediate product: scene.h5 (via scene.kml) and plain.txt (direct input).
    assert sorted(s["file_name"] for s in refined["source_files"]) == ["plain.txt", "scene.h5"]


def test_product_details(client, files):
    body = client.get(f"/products/{files['refined']}/").get_json()
    assert body["file_name"] == "refined.kml" and body["is_operational"] is False
    assert sorted(s["id"] for s in body["source_files"]) == sorted([files["parsed"], files["plain"]])
    assert client.get(f"/products/{files['plain']}/").status_code == 404
