"""Unknown routes and ids that are not integers answer a JSON 404, as every other error of the API does."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/no/such/route/", "/jobs/abc/", "/jobs/99999999999999999999999/"])
def test_unknown_routes_answer_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json and response.get_json() == {"detail": f"No such resource: {path}"}


def test_a_missing_row_keeps_its_own_message(client):
    response = client.get("/jobs/12345/")
    assert response.status_code == 404 and response.is_json
    assert response.get_json()["detail"] != "No such resource: /jobs/12345/"
