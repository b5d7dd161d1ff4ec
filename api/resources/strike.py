"""Strike services: POST /strike/create/ (as documented), GET/POST /strikes/, POST /strikes/validation/,
GET/PATCH /strikes/<id>/."""

from __future__ import annotations

from flask import url_for
from flask_restx import Namespace, Resource, fields
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.session import get_session
from api import serializers as ser
from api.common import (
    write,
    get_or_404,
    list_params,
    NAME_PATTERN,
    ApiError,
    apply_order,
    bad_request,
    body_bool,
    body_dict,
    body_str,
    check_fields,
    filter_in,
    filter_time,
    iso,
    json_body,
    paginate,
    param_str_list,
    repeated_param,
    time_range,
)
from app.db import utcnow
from app.models import Job, Strike
from app.services import strike as strike_service
from app.specs.base import SpecError, warnings_to_dicts

create_ns = Namespace("strike", path="/strike", description="Create a Strike process (the documented route)")
ns = Namespace("strikes", path="/strikes", description="Strike processes: directories watched for files to ingest")
NAMESPACES = [create_ns, ns]

CREATE_FIELDS = ("name", "title", "description", "configuration")
EDIT_FIELDS = ("title", "description", "configuration", "is_active")
ORDER_FIELDS = {
    name: getattr(Strike, name) for name in ("id", "name", "title", "is_active", "created", "last_modified")
}

strike_create = ns.model(
    "StrikeCreate",
    {
        "name": fields.String(required=True, description="Unique name of the Strike process"),
        "title": fields.String(description="Display title"),
        "description": fields.String(description="Description"),
        "configuration": fields.Raw(
            required=True, description="Strike configuration 1.0 (mount, transfer_suffix, files_to_ingest)"
        ),
    },
)
strike_edit = ns.model(
    "StrikeEdit",
    {
        "title": fields.String(description="Display title"),
        "description": fields.String(description="Description"),
        "configuration": fields.Raw(
            description="Strike configuration 1.0; applied by the Strike process within seconds"
        ),
        "is_active": fields.Boolean(description="false stops watching the directory"),
    },
)


# ---------------------------------------------------------------- serializers (shared with the ingest resources)


def strike_ref(strike: Strike | None) -> dict | None:
    """The short form the ingest list shows."""
    if strike is None:
        return None
    return {"id": strike.id, "name": strike.name, "job": {"id": strike.job_id} if strike.job_id is not None else None}


def strike_summary(strike: Strike) -> dict:
    job = get_session().get(Job, strike.job_id) if strike.job_id is not None else None
    out = {
        "id": strike.id,
        "name": strike.name,
        "title": strike.title,
        "description": strike.description,
        "is_active": strike.is_active,
        "job": ser.job_brief(job) if job is not None else None,
    }
    out.update(created=iso(strike.created), last_modified=iso(strike.last_modified))
    return out


def strike_detail(strike: Strike) -> dict:
    out = strike_summary(strike)
    out["configuration"] = strike.configuration
    return out


# ---------------------------------------------------------------- body checks


def _text_fields(body: dict) -> dict:
    return {
        "title": body_str(body, "title", max_length=50),
        "description": body_str(body, "description", max_length=500),
    }


def _checked_new_strike(body: dict) -> tuple[dict, list]:
    """Every check of a new Strike; returns (values, warnings) or raises 400 listing every problem found."""
    check_fields(body, CREATE_FIELDS, required=("name", "configuration"))
    problems: list[str] = []

    def attempt(check):
        try:
            return check()
        except ApiError as exc:
            problems.append(exc.detail)
            return None

    name = attempt(lambda: body_str(body, "name", max_length=50))
    if name is not None and not NAME_PATTERN.match(name):
        problems.append(f"Field 'name' may only contain letters, digits, '_', '.' and '-', got '{name}'")
    session = get_session()
    if name is not None and session.scalar(select(Strike.id).where(Strike.name == name)) is not None:
        problems.append(f"A Strike process named '{name}' already exists")
    text = {
        key: attempt(lambda k=key, n=limit: body_str(body, k, max_length=n))
        for key, limit in (("title", 50), ("description", 500))
    }
    configuration = attempt(lambda: body_dict(body, "configuration"))
    config, warnings = None, []
    if configuration is not None:
        try:
            config, warnings = strike_service.validate_configuration(session, configuration)
        except SpecError as exc:
            if not problems:
                raise  # answered with the list of configuration problems ("errors")
            problems.append(str(exc))
    if problems:
        raise bad_request("; ".join(problems))
    return {"name": name, **text, "configuration": config}, warnings


def _create(body: dict) -> Strike:
    values, _ = _checked_new_strike(body)
    session = get_session()
    try:
        return write(
            session,
            lambda: strike_service.create_strike(
                session,
                values["name"],
                values["configuration"],
                title=values["title"],
                description=values["description"],
            ),
        )
    except IntegrityError:  # a concurrent create of the same name won the race
        raise bad_request(f"A Strike process named '{values['name']}' already exists") from None


# ---------------------------------------------------------------- routes


@create_ns.route("/create/")
class StrikeCreate(Resource):
    @create_ns.expect(strike_create)
    def post(self):
        """Create a Strike process; the Strike process starts watching its directory within seconds."""
        return {"strike_id": _create(json_body()).id}


@ns.route("/")
class StrikeList(Resource):
    @ns.doc(params={**list_params(ORDER_FIELDS), "name": repeated_param("Only Strikes with this name")})
    def get(self):
        """Strike processes, filtered by last_modified within started/ended."""
        started, ended = time_range()
        stmt = filter_time(select(Strike), Strike.last_modified, started, ended)
        stmt = filter_in(stmt, Strike.name, param_str_list("name"))
        stmt = apply_order(stmt, ORDER_FIELDS, ("name",), tiebreak=Strike.id)
        return paginate(get_session(), stmt, strike_summary)

    @ns.expect(strike_create)
    def post(self):
        """Create a Strike process (201 with its details)."""
        strike = _create(json_body())
        return strike_detail(strike), 201, {"Location": url_for("strike_details", strike_id=strike.id, _external=True)}


@ns.route("/validation/")
class StrikeValidation(Resource):
    @ns.expect(strike_create)
    def post(self):
        """Check a new Strike without saving it: 200 with warnings, or 400 listing the problems."""
        _, warnings = _checked_new_strike(json_body())
        return {"warnings": warnings_to_dicts(warnings)}


@ns.route("/<int:strike_id>/", endpoint="strike_details")
class StrikeDetails(Resource):
    def get(self, strike_id: int):
        return strike_detail(get_or_404(get_session(), Strike, strike_id, "Strike"))

    @ns.expect(strike_edit)
    def patch(self, strike_id: int):
        """Edit title, description, configuration or is_active; the Strike process picks changes up without a restart."""
        session = get_session()
        strike = get_or_404(session, Strike, strike_id, "Strike")
        body = json_body()
        check_fields(body, EDIT_FIELDS)
        if not body:
            raise bad_request(f"Nothing to change: give any of {', '.join(EDIT_FIELDS)}")
        values = {k: v for k, v in _text_fields(body).items() if k in body}
        if "is_active" in body:
            values["is_active"] = body_bool(body, "is_active", nullable=False)
        if "configuration" in body:
            configuration = body_dict(body, "configuration")
            if configuration is None:
                raise bad_request("Field 'configuration' must be a Strike configuration object")
            values["configuration"], _ = strike_service.validate_configuration(session, configuration)

        def apply() -> None:
            for key, value in values.items():
                setattr(strike, key, value)
            strike.last_modified = utcnow()

        write(session, apply)
        return strike_detail(strike)
