"""GET /ingests/, GET /ingests/<id>/, GET /ingests/status/ over ingests made by the real Strike logic."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from app.db import session_scope, utcnow
from app.models import Ingest, ScaleFile
from app.services import ingest as ingest_service
from app.services.strike import StrikeProcessor
from tests.test_strike import age, ingest_config, ingest_row, make_strike, make_workspace


@pytest.fixture
def ingested(scale_env):
    """Strike A ingested a.txt and b.txt and deferred c.png; Strike B ingested d.txt."""
    make_workspace(scale_env)
    a_id, a_dir = make_strike("strike-a")
    b_id, b_dir = make_strike("strike-b")
    for directory, names in ((a_dir, ("a.txt", "b.txt", "c.png")), (b_dir, ("d.txt",))):
        for name in names:
            (directory / name).write_text(name * 10)
            age(directory / name)
    for strike_id in (a_id, b_id):
        ingest_service.ingest_files(StrikeProcessor(strike_id, ingest_config(strike_id)).scan())
    return {"a": a_id, "b": b_id}


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [r["file_name"] for r in response.get_json()["results"]]


def test_list_shape_and_filters(client, ingested):
    body = client.get("/ingests/").get_json()
    assert body["count"] == 4 and body["next"] is None and body["previous"] is None
    item = next(r for r in body["results"] if r["file_name"] == "a.txt")
    assert item["status"] == "INGESTED"
    assert item["strike"] == {"id": ingested["a"], "name": "strike-a", "job": None}
    assert item["media_type"] == "text/plain" and item["file_size"] == 50 and item["bytes_transferred"] == 50
    assert item["data_type"] == ["text", "raw"]
    assert item["transfer_started"] and item["transfer_ended"] and item["ingest_started"] and item["ingest_ended"]
    source = item["source_file"]
    assert source["file_name"] == "a.txt" and source["workspace"]["name"] == "raw"
    assert source["is_parsed"] is False and source["url"].startswith("http://files.test/ws/incoming/")

    assert sorted(names(client.get("/ingests/?status=DEFERRED"))) == ["c.png"]
    assert sorted(names(client.get("/ingests/?status=DEFERRED&status=INGESTED"))) == [
        "a.txt",
        "b.txt",
        "c.png",
        "d.txt",
    ]
    assert names(client.get(f"/ingests/?strike_id={ingested['b']}")) == ["d.txt"]
    assert names(client.get("/ingests/?file_name=b.txt")) == ["b.txt"]
    assert names(client.get("/ingests/?order=-file_name")) == ["d.txt", "c.png", "b.txt", "a.txt"]
    assert names(client.get("/ingests/?order=strike__name&order=-file_name")) == ["c.png", "b.txt", "a.txt", "d.txt"]
    assert names(client.get("/ingests/?page_size=1&page=2&order=file_name")) == ["b.txt"]
    assert client.get("/ingests/?started=PT1H").get_json()["count"] == 4
    assert client.get("/ingests/?ended=2000-01-01T00:00:00Z").get_json()["count"] == 0


@pytest.mark.parametrize(
    "query, text",
    [
        ("status=DONE", "Invalid value for 'status'"),
        ("strike_id=abc", "must be an integer"),
        ("order=nope", "Invalid value for 'order'"),
        ("started=2015-01-01T00:00:00", "time zone"),
    ],
)
def test_list_refuses_bad_parameters(client, ingested, query, text):
    response = client.get(f"/ingests/?{query}")
    assert response.status_code == 400
    assert text in response.get_json()["detail"]


def test_details(client, ingested, scale_env):
    row = ingest_row(ingested["a"], "a.txt")
    body = client.get(f"/ingests/{row.id}/").get_json()
    assert body["id"] == row.id and body["status"] == "INGESTED"
    assert body["strike"]["configuration"]["transfer_suffix"] == "_tmp"
    assert body["strike"]["name"] == "strike-a"
    assert body["transfer_path"] == str(scale_env / "mounts" / "host" / "transfer" / "strike-a" / "a.txt")
    assert body["ingest_path"] == str(scale_env / "mounts" / "host" / "transfer" / "strike-a" / "ingesting" / "a.txt")
    assert body["file_path"].startswith("incoming/") and body["file_path"].endswith("/a.txt")
    assert body["source_file"]["id"] == row.source_file_id
    source = client.get(f"/sources/{row.source_file_id}/").get_json()
    assert [i["id"] for i in source["ingests"]] == [row.id]

    deferred = ingest_row(ingested["a"], "c.png")
    assert client.get(f"/ingests/{deferred.id}/").get_json()["source_file"] is None
    assert client.get("/ingests/9999/").status_code == 404


def test_errored_ingest_shows_its_reason(client, scale_env):
    make_workspace(scale_env)
    strike_id, directory = make_strike()
    (directory / "gone.txt_tmp").write_text("x")
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    processor.handle("gone.txt_tmp")
    (directory / "gone.txt_tmp").unlink()
    processor.scan()
    [item] = client.get("/ingests/?status=ERRORED").get_json()["results"]
    assert item["file_name"] == "gone.txt" and "disappeared" in item["error_message"]


def hour(dt: datetime) -> datetime:
    return dt.replace(minute=0, second=0, microsecond=0)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def test_status_by_ingest_time_in_hourly_slots(client, ingested):
    ingested_at = [ingest_row(ingested["a"], n).ingest_ended for n in ("a.txt", "b.txt")]
    body = client.get("/ingests/status/?use_ingest_time=true&started=PT3H").get_json()
    assert body["count"] == 2
    a, b = body["results"]
    assert a["strike"]["name"] == "strike-a" and b["strike"]["name"] == "strike-b"
    assert (a["files"], a["size"]) == (2, 100)
    assert (b["files"], b["size"]) == (1, 50)
    assert a["most_recent"] is not None
    slots = {v["time"]: (v["files"], v["size"]) for v in a["values"] if v["files"]}
    assert len(a["values"]) in (3, 4)  # every hour of the range, empty ones included
    per_hour = Counter(iso(hour(moment)) for moment in ingested_at)  # both files are 50 bytes
    assert slots == {time: (files, files * 50) for time, files in per_hour.items()}


def test_status_by_data_time(client, ingested):
    data_time = hour(utcnow()) - timedelta(hours=30) + timedelta(minutes=20)
    with session_scope() as s:
        source_id = ingest_row(ingested["a"], "a.txt").source_file_id
        s.get(ScaleFile, source_id).data_started = data_time
    b_ingested = ingest_row(ingested["a"], "b.txt").ingest_ended
    a = client.get("/ingests/status/").get_json()["results"][0]  # default: data time, the past week
    slots = {v["time"]: v["files"] for v in a["values"] if v["files"]}
    # a.txt counts at its data time; b.txt (no data time known) at its ingest time.
    assert slots == {iso(hour(data_time)): 1, iso(hour(b_ingested)): 1}
    assert len(a["values"]) >= 7 * 24


def test_status_range_is_limited_to_31_days(client, ingested):
    response = client.get("/ingests/status/?started=2015-01-01T00:00:00Z&ended=2015-03-01T00:00:00Z")
    assert response.status_code == 400 and "31 days" in response.get_json()["detail"]
    old = client.get("/ingests/status/?started=2015-01-01T00:00:00Z&ended=2015-01-02T00:00:00Z").get_json()
    assert [r["files"] for r in old["results"]] == [0, 0]
    assert len(old["results"][0]["values"]) == 25
    assert old["results"][0]["values"][0] == {"time": "2015-01-01T00:00:00Z", "files": 0, "size": 0}


def test_status_ignores_unfinished_ingests(client, scale_env):
    make_workspace(scale_env)
    strike_id, _ = make_strike()
    with session_scope() as s:
        s.add(
            Ingest(
                strike_id=strike_id,
                file_name="q.txt",
                status="QUEUED",
                file_size=10,
                ingest_ended=datetime.now(timezone.utc),
            )
        )
    [result] = client.get("/ingests/status/?use_ingest_time=true").get_json()["results"]
    assert result["files"] == 0 and result["most_recent"] is None
