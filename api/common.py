"""Conventions every list and write endpoint shares: parameters, errors, ordering, pagination."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlencode

import isodate
from flask import request
from sqlalchemy import Select, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db import iso, utcnow  # noqa: F401 (iso: the API's datetime format, imported from here)
from app.settings import settings
from app.specs.base import (  # noqa: F401  (MAX_DB_INT: used by api/__init__)
    MAX_DB_INT,
    STABLE_NAME,
    describe,
    finite_float,
    fits_db_int,
    is_int,
    short_repr,
)
from app.states import InvalidTransition

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


class ApiError(Exception):
    """An error answered as JSON `{"detail": message, ...extra}` with its status code."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, **self.extra}


def bad_request(detail: str, **extra: Any) -> ApiError:
    return ApiError(400, detail, **extra)


def not_found(what: str, ident: Any) -> ApiError:
    return ApiError(404, f"{what} {ident} does not exist")


def get_or_404(session: Session, model, ident: Any, what: str):
    """The row of `model` with primary key `ident`, or a 404 naming what was asked for."""
    row = session.get(model, ident)
    if row is None:
        raise not_found(what, ident)
    return row


# ---------------------------------------------------------------- query parameters


def reject_nul(value: Any, where: str) -> None:
    """Refuse strings no database column or process argument can hold, at any depth: NUL characters
    (PostgreSQL text) and lone surrogates such as "\\udce9" (not encodable as UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise bad_request(f"{where} must not contain NUL (\\u0000) characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise bad_request(
                f"{where} holds a lone surrogate ({value[exc.start : exc.end]!r}), which is not valid Unicode text"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, where)
            reject_nul(item, where)
    elif isinstance(value, list):
        for item in value:
            reject_nul(item, where)


def _values(name: str) -> list[str]:
    values = request.args.getlist(name)
    if not values and request.is_json and request.method == "GET":
        body = request.get_json(silent=True)
        if isinstance(body, dict) and name in body:
            raw = body[name]
            values = [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]
    reject_nul(values, f"Parameter '{name}'")
    return values


def param_str(name: str, default: str | None = None, choices: Sequence[str] | None = None) -> str | None:
    values = _values(name)
    if not values:
        return default
    value = values[-1]
    if choices is not None and value not in choices:
        raise bad_request(f"Invalid value for '{name}': '{value}'. Choices: {', '.join(choices)}")
    return value


def param_str_list(name: str, choices: Sequence[str] | None = None) -> list[str]:
    values = _values(name)
    if choices is not None:
        wrong = [v for v in values if v not in choices]
        if wrong:
            raise bad_request(f"Invalid value for '{name}': {', '.join(wrong)}. Choices: {', '.join(choices)}")
    return values


def _to_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad_request(f"Parameter '{name}' must be an integer, got '{value}'") from None
    if not fits_db_int(number):
        raise bad_request(f"Parameter '{name}' is out of range: {value}")
    return number


def param_int(
    name: str, default: int | None = None, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    values = _values(name)
    if not values:
        return default
    value = _to_int(name, values[-1])
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise bad_request(f"Parameter '{name}' must be between {minimum} and {maximum}, got {value}")
    return value


def param_int_list(name: str) -> list[int]:
    return [_to_int(name, v) for v in _values(name)]


_TRUE = ("true", "t", "1", "yes")
_FALSE = ("false", "f", "0", "no")


def parse_bool(name: str, value: str) -> bool:
    """A query parameter's boolean: the words a URL carries (bodies take JSON true/false only)."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise bad_request(f"Parameter '{name}' must be a boolean (true/false), got '{value}'")


def param_bool(name: str, default: bool | None = None) -> bool | None:
    values = _values(name)
    return parse_bool(name, values[-1]) if values else default


def parse_timestamp(name: str, value: str, now: datetime | None = None) -> datetime:
    """ISO-8601 datetime with a zone, or an ISO-8601 duration meaning now minus the duration."""
    text = value.strip()
    if text.upper().startswith("P"):
        try:
            duration = isodate.parse_duration(text)
            if not isinstance(duration, timedelta):
                duration = duration.totimedelta(end=now or utcnow())
            return (now or utcnow()) - duration
        except (isodate.ISO8601Error, ValueError, OverflowError):
            raise bad_request(
                f"Parameter '{name}' is not a valid ISO-8601 duration (or reaches before year 1): '{value}'"
            ) from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(f"Parameter '{name}' is not a valid ISO-8601 datetime: '{value}'") from None
    if parsed.tzinfo is None:
        raise bad_request(f"Parameter '{name}' must include a time zone (e.g. 2015-01-01T00:00:00Z): '{value}'")
    return parsed.astimezone(timezone.utc)


def param_timestamp(name: str, default: datetime | None = None) -> datetime | None:
    values = _values(name)
    return parse_timestamp(name, values[-1]) if values else default


def time_range(
    default_started: datetime | None = None, default_ended: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """The `started`/`ended` pair; equal or reversed ranges are refused."""
    started = param_timestamp("started", default_started)
    ended = param_timestamp("ended", default_ended)
    if started is not None and ended is not None and started >= ended:
        raise bad_request(
            "Parameter 'started' must be before 'ended'"
            if started > ended
            else "Parameters 'started' and 'ended' must not be equal"
        )
    return started, ended


def filter_time(stmt: Select, column, started: datetime | None, ended: datetime | None) -> Select:
    if started is not None:
        stmt = stmt.where(column >= started)
    if ended is not None:
        stmt = stmt.where(column <= ended)
    return stmt


def filter_in(stmt: Select, column, values: Iterable) -> Select:
    values = list(values)
    if values:
        stmt = stmt.where(column.in_(values)) if len(values) > 1 else stmt.where(column == values[0])
    return stmt


# ---------------------------------------------------------------- ordering and pages


def apply_order(stmt: Select, fields: Mapping[str, Any], default: Sequence[str], tiebreak=None) -> Select:
    """Apply repeatable `order` parameters (`-` for descending, `__` for nested fields).

    `fields` maps accepted names (e.g. "job_type__name") to columns; unknown names get a 400.
    """
    names = _values("order") or list(default)
    clauses = []
    for raw in names:
        descending = raw.startswith("-")
        name = raw[1:] if descending else raw
        column = fields.get(name)
        if column is None:
            raise bad_request(f"Invalid value for 'order': '{raw}'. Choices: {', '.join(sorted(fields))}")
        clauses.append(column.desc() if descending else column.asc())
    if tiebreak is not None:
        clauses.append(tiebreak)
    return stmt.order_by(*clauses)


def page_params() -> tuple[int, int]:
    page = param_int("page", 1, minimum=1, maximum=10**9)
    page_size = param_int("page_size", DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    return page, page_size


def _page_url(page: int) -> str:
    args = request.args.to_dict(flat=False)
    args["page"] = [str(page)]
    return f"{request.base_url}?{urlencode(args, doseq=True)}"


def paginate(
    session: Session, stmt: Select, serialize: Callable[[Any], dict], count_stmt: Select | None = None
) -> dict[str, Any]:
    """Run one page of `stmt` and wrap it in the `{count, next, previous, results}` envelope."""
    page, page_size = page_params()
    if count_stmt is None:
        count_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
    count = session.scalar(count_stmt) or 0
    rows = session.scalars(stmt.limit(page_size).offset((page - 1) * page_size)).unique().all()
    return page_envelope([serialize(r) for r in rows], count, page, page_size)


def page_envelope(results: list, count: int, page: int | None = None, page_size: int | None = None) -> dict[str, Any]:
    if page is None:
        page, page_size = page_params()
    return {
        "count": count,
        "next": _page_url(page + 1) if page * page_size < count else None,
        "previous": _page_url(page - 1) if page > 1 else None,
        "results": results,
    }


def paginate_list(items: list, serialize: Callable[[Any], dict] = lambda x: x) -> dict[str, Any]:
    """Paginate an in-memory list (summaries computed in Python)."""
    page, page_size = page_params()
    start = (page - 1) * page_size
    return page_envelope([serialize(i) for i in items[start : start + page_size]], len(items), page, page_size)


# ---------------------------------------------------------------- request bodies


def _refuse_constant(literal: str) -> Any:
    raise ValueError(f"{literal} is not JSON")


# Bodies browsers' forms send: refused with a message that names what is expected, not "not valid JSON".
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def json_body() -> dict[str, Any]:
    """The JSON object body; Python's NaN/Infinity extensions are refused like any invalid JSON."""
    if not request.get_data():
        return {}
    if request.mimetype in FORM_TYPES and not _looks_like_json(request.get_data()):
        raise bad_request(f"Expected a JSON body (Content-Type: application/json), got {request.mimetype}")
    try:
        body = json.loads(request.get_data(), parse_constant=_refuse_constant)
    except ValueError:
        raise bad_request("The request body is not valid JSON") from None
    except RecursionError:
        raise bad_request(f"The request body is nested deeper than {settings.API_MAX_JSON_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    problem = shape_problem(body, settings.API_MAX_JSON_DEPTH, settings.API_MAX_LIST_ITEMS)
    if problem:
        raise bad_request(f"The request body {problem}")
    reject_nul(body, "The request body")
    return body


def shape_problem(doc: Any, max_depth: int, max_items: int) -> str | None:
    """Why a parsed JSON document is too deep or holds too long an array (None when it is fine); iterative,
    so a deep document cannot exhaust the stack of the code that reads it next."""
    stack: list[tuple[Any, int, str]] = [(doc, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            items: Iterable[tuple[Any, Any]] = value.items()
        elif isinstance(value, list):
            if len(value) > max_items:
                return f"has {len(value)} items in {path or 'its top level'}; at most {max_items} are accepted"
            items = enumerate(value)
        else:
            continue
        if depth > max_depth:
            return f"is nested deeper than {max_depth} levels (at {path})"
        stack.extend(
            (child, depth + 1, f"{path}[{key!r}]" if isinstance(key, int) else f"{path}.{key}") for key, child in items
        )
    return None


def _looks_like_json(data: bytes) -> bool:
    """Some clients label JSON as a form (curl -d without -H); such a body is still read."""
    return data.lstrip()[:1] in (b"{", b"[")


def check_fields(body: Mapping[str, Any], allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    """Refuse unknown fields and missing required fields, listing all of them."""
    allowed = set(allowed)
    problems = []
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        problems.append(f"Unknown fields: {', '.join(unknown)}")
    missing = [k for k in required if body.get(k) is None]
    if missing:
        problems.append(f"Missing required fields: {', '.join(missing)}")
    if problems:
        raise bad_request("; ".join(problems))


def body_str(body: Mapping[str, Any], name: str, max_length: int | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"Field '{name}' must be a string")
    if max_length is not None and len(value) > max_length:
        raise bad_request(f"Field '{name}' must be at most {max_length} characters")
    return value


def body_int(body: Mapping[str, Any], name: str, minimum: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"Field '{name}' must be an integer, got {describe(value)}")
    if not is_int(value):
        raise bad_request(f"Field '{name}' is out of range: {short_repr(value)}")
    if minimum is not None and value < minimum:
        raise bad_request(f"Field '{name}' must be at least {minimum}")
    return value


def body_number(body: Mapping[str, Any], name: str, minimum: float | None = None) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    number = finite_float(value)
    if number is None:
        raise bad_request(f"Field '{name}' must be a finite number, got {short_repr(value)}")
    if minimum is not None and number < minimum:
        raise bad_request(f"Field '{name}' must be at least {minimum}")
    return number


def body_bool(body: Mapping[str, Any], name: str, nullable: bool = True) -> bool | None:
    """JSON true or false; "yes", 1 and "true" are refused (a body is JSON, not a query string)."""
    value = body.get(name)
    if isinstance(value, bool) or (value is None and nullable):
        return value
    raise bad_request(f"Field '{name}' must be true or false, got {describe(value)}")


def body_dict(body: Mapping[str, Any], name: str) -> dict | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"Field '{name}' must be a JSON object")
    return value


NAME_PATTERN = STABLE_NAME


# ---------------------------------------------------------------- OpenAPI descriptions of the conventions
# For `@ns.doc(params={...})`, so /swagger.json (and the property-based test over it) knows each query.


def query_param(description: str, type_: str = "string", enum: Sequence[str] | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"in": "query", "description": description, "type": type_}
    if enum:
        param["enum"] = list(enum)
    return param


def repeated_param(description: str, type_: str = "string", enum: Sequence[str] | None = None) -> dict[str, Any]:
    """A parameter that may be given several times (`?name=a&name=b`)."""
    items: dict[str, Any] = {"type": type_}
    if enum:
        items["enum"] = list(enum)
    return {"in": "query", "description": description, "type": "array", "items": items, "collectionFormat": "multi"}


PAGE_PARAMS = {
    "page": query_param("Page of the results, from 1", "integer"),
    "page_size": query_param(f"Results per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})", "integer"),
}
TIME_PARAMS = {
    "started": query_param("Start of the time range: ISO-8601 datetime with zone, or a duration before now (PT3H)"),
    "ended": query_param("End of the time range: ISO-8601 datetime with zone, or a duration before now"),
}
LIST_PARAMS = {**PAGE_PARAMS, **TIME_PARAMS}  # and list_params' order, for a route that orders


def list_params(order_fields: Iterable[str]) -> dict[str, Any]:
    """Paging, time range and the `order` values apply_order takes for these fields."""
    names = sorted(order_fields)
    order = repeated_param(
        "Field to order by, '-' prefix for descending; repeat to multi-sort", enum=[*names, *(f"-{n}" for n in names)]
    )
    return {**LIST_PARAMS, "order": order}


def write(session: Session, work: Callable[[], Any], attempts: int = 1) -> Any:
    """The one way an API write ends: run `work()` and commit; on any error nothing it wrote stays.

    A refused state transition becomes a 400. With `attempts` > 1 a write that lost a race with another
    writer (OperationalError: locked or serialization failure) runs again from the start.
    """
    for attempt in range(attempts):
        try:
            result = work()
            session.commit()
            return result
        except InvalidTransition as exc:
            session.rollback()
            raise bad_request(str(exc)) from None
        except OperationalError:
            session.rollback()
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")
