"""Answers every operation can give, added to the OpenAPI document so it tells the truth: request
checks that run before any route (host, body size, authentication) and the errors every route shares
(a bad parameter or body, an unknown id). A route's own description of a code wins."""

from __future__ import annotations

from typing import Any

from flask_restx import Api

WRITE_METHODS = ("post", "put", "patch", "delete")
_ANSWERS = {
    "400": "Invalid parameters or body (the message lists every problem), or a host not served here",
    "401": "No token, or an unknown or revoked one (when API_AUTH is on)",
    "403": "The token's role may not do this",
}


def document_shared_answers(schema: dict[str, Any]) -> dict[str, Any]:
    for path, item in (schema.get("paths") or {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, text in _ANSWERS.items():
                responses.setdefault(code, {"description": text})
            if "{" in path:
                responses.setdefault("404", {"description": "No such resource with this id"})
            if method in ("post", "put", "patch"):
                responses.setdefault("413", {"description": "Body larger than API_MAX_BODY_BYTES"})
            produces = operation.get("produces")
            if produces and "application/json" not in produces:  # its errors are JSON
                operation["produces"] = [*produces, "application/json"]
    return schema


class ScaleApi(Api):
    @property
    def __schema__(self) -> dict[str, Any]:
        return document_shared_answers(super().__schema__)
