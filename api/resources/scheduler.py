"""Scheduler services: GET/PATCH /scheduler/, GET /version/ and GET /v6/version/."""

from __future__ import annotations

from flask import url_for
from flask_restx import Namespace, Resource, fields

from api import VERSION
from api.openapi import non_empty
from api.session import get_session
from api.common import bad_request, check_fields, json_body, write
from app.services.operations import scheduler_row
from app.models import Scheduler
from app.specs.base import Collector, SpecError, describe, is_int

ns = Namespace("scheduler", path="/scheduler", description="The cluster-wide scheduler settings")
version_ns = Namespace("version", path="/version", description="The system version")
v6_version_ns = Namespace("v6-version", path="/v6/version", description="The system version (v6 API)")
NAMESPACES = [ns, version_ns, v6_version_ns]

QUEUE_MODES = ("FIFO", "LIFO")
LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SCHEDULER_FIELDS = ("is_paused", "num_message_handlers", "system_logging_level", "queue_mode")

scheduler_edit = non_empty(
    ns.model(
        "SchedulerEdit",
        {
            "is_paused": fields.Boolean(description="Pause every node without touching their own pause state"),
            "num_message_handlers": fields.Integer(min=0),
            "system_logging_level": fields.String(enum=list(LOGGING_LEVELS)),
            "queue_mode": fields.String(enum=list(QUEUE_MODES)),
        },
    )
)


def serialize(row: Scheduler) -> dict:
    return {name: getattr(row, name) for name in SCHEDULER_FIELDS}


def checked_values(body: dict) -> dict:
    c = Collector()
    values = {}
    for name, value in body.items():
        if name == "is_paused" and not isinstance(value, bool):
            c.add("INVALID_TYPE", f"'is_paused' must be true or false, got {describe(value)}")
        elif name == "num_message_handlers" and (not is_int(value) or value < 0):
            c.add("INVALID_VALUE", f"'num_message_handlers' must be an integer of 0 or more, got {value!r}")
        elif name == "system_logging_level" and value not in LOGGING_LEVELS:
            c.add("INVALID_VALUE", f"'system_logging_level' must be one of {', '.join(LOGGING_LEVELS)}, got {value!r}")
        elif name == "queue_mode" and value not in QUEUE_MODES:
            c.add("INVALID_VALUE", f"'queue_mode' must be one of {', '.join(QUEUE_MODES)}, got {value!r}")
        else:
            values[name] = value
    if c:
        raise SpecError(c.problems)
    return values


@ns.route("/", endpoint="scheduler")
class SchedulerResource(Resource):
    def get(self):
        return serialize(scheduler_row(get_session()))

    @ns.expect(scheduler_edit)
    @ns.response(201, "Updated (the specification's answer to this PATCH)")
    def patch(self):
        """Update scheduler fields. A global pause leaves every node's own pause state as it is."""
        body = json_body()
        if not body:
            raise bad_request(f"No fields were given; expected one or more of: {', '.join(SCHEDULER_FIELDS)}")
        check_fields(body, SCHEDULER_FIELDS)
        values = checked_values(body)
        session = get_session()
        row = scheduler_row(session)

        def apply() -> None:
            for name, value in values.items():
                setattr(row, name, value)

        write(session, apply)
        return serialize(row), 201, {"Location": url_for("scheduler", _external=True)}


@version_ns.route("/")
class Version(Resource):
    def get(self):
        return {"version": VERSION}


@v6_version_ns.route("/")
class V6Version(Resource):
    def get(self):
        return {"version": VERSION}
