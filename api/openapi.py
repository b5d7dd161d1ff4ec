"""The OpenAPI document made to tell the truth about what every route shares:

* answers: request checks that run before any route (host, body size, authentication) and the errors
  every route shares (a bad parameter or body, an unknown id); a route's own description of a code wins;
* constraints: what the shared parsers in api/common.py enforce (page bounds, ids a database holds,
  ISO-8601 times, no NUL characters, no unknown body fields), so a request valid by the document is
  one the API accepts.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask_restx import Api, fields

from api.common import MAX_PAGE_SIZE
from app.services.fields import FieldRule, max_length
from app.specs.base import MAX_DB_INT, STABLE_NAME

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


NO_NUL = "^[^\\u0000]*$"
TIME_PARAMS = ("started", "ended")


def _constrain_value(spec: dict[str, Any], name: str) -> None:
    """Constraints of one parameter or property by its type and name (existing ones are kept)."""
    kind = spec.get("type")
    if kind == "array" and isinstance(spec.get("items"), dict):
        _constrain_value(spec["items"], name)
    elif kind == "integer":
        spec.setdefault("maximum", MAX_DB_INT)
        if name == "page":
            spec.setdefault("minimum", 1)
        elif name == "page_size":
            spec.setdefault("minimum", 1)
            spec["maximum"] = min(spec["maximum"], MAX_PAGE_SIZE)
        elif name.endswith("_id") or name == "id":
            spec.setdefault("minimum", 0)
        else:
            spec.setdefault("minimum", -MAX_DB_INT)
    elif kind == "string":
        if name in TIME_PARAMS:
            spec.setdefault("format", "date-time")
        elif "pattern" not in spec and "enum" not in spec and "format" not in spec:
            spec["pattern"] = NO_NUL


_NON_EMPTY: set[str] = set()


def non_empty(model: Any) -> Any:
    """Mark a body model whose route refuses an empty body ("no fields were given"): minProperties 1."""
    _NON_EMPTY.add(model.name)
    return model


def document_constraints(schema: dict[str, Any]) -> dict[str, Any]:
    for item in (schema.get("paths") or {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for param in operation.get("parameters") or []:
                if param.get("in") in ("query", "path"):
                    if param.get("name") in ("page", "page_size"):  # some routes describe them in words only
                        param["type"] = "integer"
                    _constrain_value(param, param.get("name", ""))
    for model_name, definition in (schema.get("definitions") or {}).items():
        definition.setdefault("additionalProperties", False)  # unknown fields are refused
        if model_name in _NON_EMPTY:
            definition["minProperties"] = 1
        for name, prop in (definition.get("properties") or {}).items():
            _constrain_value(prop, name)
    return schema


_RESTX_FIELDS = {"str": fields.String, "bool": fields.Boolean, "int": fields.Integer, "number": fields.Float}


def rule_fields(rules: Mapping[str, FieldRule], model: type) -> dict[str, fields.Raw]:
    """Swagger fields for the body fields a service checks, with the bounds it enforces (so the document
    follows the checks)."""
    out: dict[str, fields.Raw] = {}
    for name, rule in rules.items():
        options: dict[str, Any] = {}
        limit = max_length(model, name)
        if rule.kind in ("int", "number"):
            if rule.minimum is not None:
                options.update(min=rule.minimum, exclusiveMin=rule.exclusive)
            if rule.maximum is not None:
                options["max"] = rule.maximum
        elif rule.kind == "str" and limit:
            options["max_length"] = limit
        out[name] = _RESTX_FIELDS[rule.kind](**options)
    return out


def stable_name(model: type, name: str = "name", **options: Any) -> fields.String:
    """A name used in queries and paths (app.services.fields.check_stable_name): letters, digits, '_', '.'
    and '-', within its column."""
    return fields.String(
        required=True, pattern=STABLE_NAME.pattern, min_length=1, max_length=max_length(model, name), **options
    )


class ScaleApi(Api):
    @property
    def __schema__(self) -> dict[str, Any]:
        return document_constraints(document_shared_answers(super().__schema__))
