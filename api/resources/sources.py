"""Source file services: GET /sources/, GET /sources/<id>/, GET /sources/updates/."""

from __future__ import annotations

from flask import send_file
from flask_restx import Namespace, Resource
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from api.session import get_session
from api import serializers as ser
from api.common import (
    list_params,
    ApiError,
    bad_request,
    apply_order,
    filter_in,
    filter_time,
    iso,
    not_found,
    paginate,
    param_bool,
    param_str_list,
    query_param,
    repeated_param,
    time_range,
)
from api.resources.ingests import ingest_item
from app.models import Ingest, ScaleFile, Workspace
from app.services.workspaces import WorkspacePathError, broker_for

ns = Namespace("sources", path="/sources", description="Source files: files ingested by Strike")
NAMESPACES = [ns]

FILE_ORDER_FIELDS = {
    name: getattr(ScaleFile, name)
    for name in ser.FILE_FIELDS
    if name not in ("geometry", "center_point", "meta_data", "countries")
}
ORDER_FIELDS = {
    **FILE_ORDER_FIELDS,
    "is_parsed": ScaleFile.is_parsed,
    "parsed": ScaleFile.parsed,
    "workspace__name": Workspace.name,
}
PARAMS = {
    **list_params(ORDER_FIELDS),
    "is_parsed": query_param("Only sources that were (true) or were not (false) parsed", "boolean"),
    "file_name": repeated_param("Only sources with this file name"),
}


def source_update(f: ScaleFile) -> dict:
    """What happened last to a source file: DELETED, else PARSED, else CREATED."""
    if f.is_deleted:
        action, when = "DELETED", f.deleted or f.last_modified
    elif f.is_parsed:
        action, when = "PARSED", f.parsed or f.last_modified
    else:
        action, when = "CREATED", f.created
    return {"action": action, "when": iso(when)}


def _sources():
    """SOURCE files with the list filters of the request applied."""
    started, ended = time_range()
    stmt = (
        select(ScaleFile)
        .join(Workspace, Workspace.id == ScaleFile.workspace_id)
        .options(joinedload(ScaleFile.workspace))
        .where(ScaleFile.file_type == "SOURCE")
    )
    stmt = filter_time(stmt, ScaleFile.last_modified, started, ended)
    is_parsed = param_bool("is_parsed")
    if is_parsed is not None:
        stmt = stmt.where(ScaleFile.is_parsed.is_(is_parsed))
    stmt = filter_in(stmt, ScaleFile.file_name, param_str_list("file_name"))
    return apply_order(stmt, ORDER_FIELDS, ("last_modified",), tiebreak=ScaleFile.id)


CONTENT_RESPONSES = {
    200: "The file's bytes (streamed)",
    400: "The stored path leaves the workspace",
    404: "No such file, or its content is not in the workspace",
}


def file_content(f: ScaleFile, what: str):
    """Stream a file's bytes from its workspace; a path leaving the workspace (even by symlink) is refused."""
    if f.is_deleted or not f.file_path or f.workspace is None:
        raise ApiError(404, f"{what} {f.id} has no content in a workspace")
    try:
        path = broker_for(f.workspace.json_config).resolve(f.file_path)
    except WorkspacePathError as exc:
        raise bad_request(f"{what} {f.id}: {exc}") from None
    except ValueError as exc:
        raise ApiError(404, f"{what} {f.id}: {exc}") from None
    if not path.is_file():
        raise ApiError(404, f"{what} {f.id}: the file is missing from workspace {f.workspace.name}")
    return send_file(
        path,
        mimetype=f.media_type or "application/octet-stream",
        as_attachment=True,
        download_name=f.file_name,
        max_age=0,
    )


@ns.route("/")
class SourceList(Resource):
    @ns.doc(params=PARAMS)
    def get(self):
        """Source files, filtered by last_modified within started/ended."""
        return paginate(get_session(), _sources(), ser.source_file)


@ns.route("/updates/")
class SourceUpdates(Resource):
    @ns.doc(params=PARAMS)
    def get(self):
        """Source files created, parsed or deleted within started/ended, each with its latest update."""
        return paginate(get_session(), _sources(), lambda f: {**ser.source_file(f), "update": source_update(f)})


@ns.route("/<int:source_id>/", endpoint="source_details")
class SourceDetails(Resource):
    def get(self, source_id: int):
        """A source file and the ingests that stored it."""
        session = get_session()
        source = session.get(ScaleFile, source_id)
        if source is None or source.file_type != "SOURCE":
            raise not_found("Source file", source_id)
        ingests = session.scalars(
            select(Ingest)
            .options(joinedload(Ingest.strike))
            .where(Ingest.source_file_id == source.id)
            .order_by(Ingest.id)
        ).all()
        return {**ser.source_file(source), "ingests": [ingest_item(i, source=False) for i in ingests]}


@ns.route("/<int:source_id>/content/", endpoint="source_content")
class SourceContent(Resource):
    @ns.doc(responses=CONTENT_RESPONSES, produces=["application/octet-stream"])
    def get(self, source_id: int):
        """The source file's bytes, streamed from its workspace."""
        source = get_session().get(ScaleFile, source_id)
        if source is None or source.file_type != "SOURCE":
            raise not_found("Source file", source_id)
        return file_content(source, "Source file")
