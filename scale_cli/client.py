"""HTTP calls to the API. Every failure becomes a ClickException carrying the API's own message."""

from __future__ import annotations

import os

import click
import requests

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT = 30


def api_url() -> str:
    return os.environ.get("SCALE_API_URL", DEFAULT_URL).rstrip("/")


def _headers() -> dict:
    token = os.environ.get("SCALE_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if body.get(key):
                return str(body[key])
    return str(body)


def request(method: str, path: str, *, params=None, json=None, raw: bool = False):
    """The decoded JSON answer (or the Response when raw); exits with the API's message on 4xx/5xx."""
    url = f"{api_url()}/{path.lstrip('/')}"
    try:
        response = requests.request(method, url, params=params, json=json, headers=_headers(), timeout=TIMEOUT)
    except requests.ConnectionError:
        raise click.ClickException(f"cannot reach the Scale API at {api_url()} (set SCALE_API_URL)") from None
    except requests.Timeout:
        raise click.ClickException(f"the Scale API at {api_url()} did not answer in {TIMEOUT}s") from None
    if response.status_code >= 400:
        raise click.ClickException(f"{method} {path}: {response.status_code}: {_message(response)}")
    if raw:
        return response
    return response.json() if response.content else {}


def get(path: str, **params):
    return request("GET", path, params={k: v for k, v in params.items() if v not in (None, (), [])})


def post(path: str, body=None):
    return request("POST", path, json=body if body is not None else {})


def patch(path: str, body):
    return request("PATCH", path, json=body)


def get_all(path: str, **params) -> list[dict]:
    """Every result of a paged list."""
    results, page = [], 1
    while True:
        answer = get(path, page=page, page_size=100, **params)
        results.extend(answer["results"])
        if not answer.get("next") or not answer["results"]:
            return results
        page += 1
