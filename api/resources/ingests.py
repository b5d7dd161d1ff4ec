"""Ingest services: GET /ingests/, GET /ingests/<id>/, GET /ingests/status/."""

from __future__ import annotations

from datetime import timedelta

from flask_restx import Namespace, Resource
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from api.session import get_session
from api import serializers as ser
from api.common import (
    list_params,
    PAGE_PARAMS,
    TIME_PARAMS,
    apply_order,
    bad_request,
    filter_in,
    filter_time,
    iso,
    not_found,
    paginate,
    paginate_list,
    param_bool,
    param_int_list,
    param_str_list,
    query_param,
    repeated_param,
    time_range,
)
from api.resources.strike import strike_detail, strike_ref, strike_summary
from app.db import utcnow
from app.models import INGEST_STATUSES, Ingest, ScaleFile, Strike
from app.services import ingest as ingest_service
from app.services.strike import strike_directory

ns = Namespace("ingests", path="/ingests", description="Files ingested (or being ingested) by Strike processes")
NAMESPACES = [ns]

INGEST_TIMES = ("bytes_transferred", "transfer_started", "transfer_ended", "media_type", "file_size")
ORDER_FIELDS = {
    **{
        name: getattr(Ingest, name)
        for name in (
            "id",
            "file_name",
            "status",
            "bytes_transferred",
            "transfer_started",
            "transfer_ended",
            "media_type",
            "file_size",
            "ingest_started",
            "ingest_ended",
            "created",
            "last_modified",
        )
    },
    "strike__name": Strike.name,
    "source_file__created": ScaleFile.created,
    "source_file__file_name": ScaleFile.file_name,
}
MAX_STATUS_RANGE = timedelta(days=31)
DEFAULT_STATUS_RANGE = timedelta(days=7)


def ingest_item(ingest: Ingest, source: bool = True) -> dict:
    out = {"id": ingest.id, "file_name": ingest.file_name, "strike": strike_ref(ingest.strike), "status": ingest.status}
    out.update(ser._fields(ingest, INGEST_TIMES))
    out["data_type"] = ser.data_types(ingest.data_type)
    out.update(ingest_started=iso(ingest.ingest_started), ingest_ended=iso(ingest.ingest_ended))
    if source:
        out["source_file"] = ser.source_file(ingest.source_file) if ingest.source_file is not None else None
    out.update(error_message=ingest.error_message, created=iso(ingest.created), last_modified=iso(ingest.last_modified))
    return out


def ingest_detail(ingest: Ingest) -> dict:
    out = ingest_item(ingest)
    out["strike"] = strike_detail(ingest.strike) if ingest.strike is not None else None
    transfer_path = None
    if ingest.strike is not None and (ingest.strike.configuration or {}).get("mount"):
        transfer_path = str(strike_directory(ingest.strike.configuration) / ingest.file_name)
    out.update(
        transfer_path=transfer_path,
        file_path=ingest.file_path,
        ingest_path=ingest.ingest_path,
        workspace=ser.workspace(ingest.workspace),
        checksum=ingest.checksum,
    )
    return out


def _with_relations(stmt):
    return stmt.options(joinedload(Ingest.strike), joinedload(Ingest.source_file).joinedload(ScaleFile.workspace))


@ns.route("/")
class IngestList(Resource):
    @ns.doc(
        params={
            **list_params(ORDER_FIELDS),
            "status": repeated_param("Only ingests in this status", enum=INGEST_STATUSES),
            "strike_id": repeated_param("Only ingests of this Strike process", "integer"),
            "file_name": repeated_param("Only ingests of a file with this name"),
        }
    )
    def get(self):
        """Ingests, filtered by last_modified within started/ended."""
        started, ended = time_range()
        stmt = (
            select(Ingest)
            .outerjoin(Strike, Strike.id == Ingest.strike_id)
            .outerjoin(ScaleFile, ScaleFile.id == Ingest.source_file_id)
        )
        stmt = filter_time(stmt, Ingest.last_modified, started, ended)
        stmt = filter_in(stmt, Ingest.status, param_str_list("status", choices=INGEST_STATUSES))
        stmt = filter_in(stmt, Ingest.strike_id, param_int_list("strike_id"))
        stmt = filter_in(stmt, Ingest.file_name, param_str_list("file_name"))
        stmt = apply_order(stmt, ORDER_FIELDS, ("last_modified",), tiebreak=Ingest.id)
        return paginate(get_session(), _with_relations(stmt), ingest_item)


@ns.route("/<int:ingest_id>/", endpoint="ingest_details")
class IngestDetails(Resource):
    def get(self, ingest_id: int):
        ingest = get_session().scalars(_with_relations(select(Ingest).where(Ingest.id == ingest_id))).first()
        if ingest is None:
            raise not_found("Ingest", ingest_id)
        return ingest_detail(ingest)


@ns.route("/status/")
class IngestStatus(Resource):
    @ns.doc(
        params={
            **PAGE_PARAMS,
            **TIME_PARAMS,
            "use_ingest_time": query_param(
                "Group by ingest time (true) or by data time (false, the default)", "boolean"
            ),
        }
    )
    def get(self):
        """Files and bytes ingested per Strike process in 1-hour slots (default: the past week, at most 31 days)."""
        now = utcnow()
        started, ended = time_range()
        ended = ended or now
        started = started or ended - DEFAULT_STATUS_RANGE
        if started >= ended:
            raise bad_request("Parameter 'started' must be before 'ended'")
        if ended - started > MAX_STATUS_RANGE:
            raise bad_request("The time range must be within 31 days")
        statuses = ingest_service.ingest_status(get_session(), started, ended, param_bool("use_ingest_time", False))
        return paginate_list(
            statuses,
            lambda s: {
                "strike": strike_summary(s.strike),
                "most_recent": iso(s.most_recent),
                "files": s.files,
                "size": s.size,
                "values": [{"time": iso(t), "files": f, "size": b} for t, f, b in s.values],
            },
        )
