"""Job types whose resources no node could ever offer are refused at the API (create and edit),
and JSON bodies using Python's NaN/Infinity extensions are refused as invalid JSON."""

from __future__ import annotations

import json

import pytest

from tests import samples

RESOURCE_FIELDS = ("cpus_required", "mem_required", "disk_out_const_required", "disk_out_mult_required")


@pytest.fixture
def rs_workspace(client, tmp_path):
    response = client.post("/workspaces/", json=samples.workspace("rs", str(tmp_path / "rs")))
    assert response.status_code == 201
    return response.get_json()


def post_raw(client, url, text, method="post"):
    return getattr(client, method)(url, data=text, content_type="application/json")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_invalid_json(client, rs_workspace, literal):
    text = json.dumps(samples.job_type()).replace('"cpus_required": 0.5', f'"cpus_required": {literal}')
    assert literal in text
    response = post_raw(client, "/job-types/", text)
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["detail"]
    assert client.get("/job-types/").get_json()["count"] == 0


def test_huge_and_negative_resources_are_refused_listing_every_field(client, rs_workspace):
    doc = samples.job_type()
    doc.update(cpus_required=1e308, mem_required=-1, disk_out_const_required=2.0**31, disk_out_mult_required=-0.5)
    response = client.post("/job-types/", json=doc)
    assert response.status_code == 400
    detail = json.dumps(response.get_json())
    for name in RESOURCE_FIELDS:
        assert name in detail
    assert client.get("/job-types/").get_json()["count"] == 0


def test_largest_allowed_resources_are_accepted(client, rs_workspace):
    doc = samples.job_type()
    doc.update(cpus_required=1024, mem_required=2**31 - 1, disk_out_const_required=0, disk_out_mult_required=0)
    response = client.post("/job-types/", json=doc)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["cpus_required"] == 1024


def test_edit_refuses_resources_that_can_never_fit(client, rs_workspace):
    created = client.post("/job-types/", json=samples.job_type()).get_json()
    url = f"/job-types/{created['id']}/"
    response = client.patch(url, json={"cpus_required": 1025, "mem_required": 1e308})
    assert response.status_code == 400
    detail = json.dumps(response.get_json())
    assert "cpus_required" in detail and "mem_required" in detail
    response = post_raw(client, url, '{"mem_required": Infinity}', method="patch")
    assert response.status_code == 400
    assert client.get(url).get_json()["cpus_required"] == created["cpus_required"]
