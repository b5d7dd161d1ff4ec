"""Import/export services: GET/POST /configuration/, POST /configuration/validation/,
GET /configuration/download/, POST /configuration/upload/."""

from __future__ import annotations

import json

from flask import Response, request
from flask_restx import Namespace, Resource, fields, reqparse
from werkzeug.datastructures import FileStorage

from api.session import get_session
from api.common import (
    reject_nul,
    bad_request,
    check_fields,
    json_body,
    param_int_list,
    param_str_list,
    repeated_param,
    write,
)
from app.services import configuration as configuration_service
from app.specs.base import warnings_to_dicts

ns = Namespace(
    "configuration",
    path="/configuration",
    description="Export and import errors, job types and recipe types between installations",
)
NAMESPACES = [ns]

DOWNLOAD_FILE_NAME = "scale-configuration.json"
UPLOAD_FIELDS = ("import_file", "import")  # the documentation's form names the file input "import"

EXPORT_PARAMS = {
    "include": repeated_param("Kinds of records to export (default all)", enum=configuration_service.EXPORT_INCLUDES),
    "recipe_type_id": repeated_param("Only recipe types with this id", "integer"),
    "recipe_type_name": repeated_param("Only recipe types with this name"),
    "job_type_id": repeated_param("Only job types with this id", "integer"),
    "job_type_name": repeated_param("Only job types with this name"),
    "job_type_category": repeated_param("Only job types of this category"),
    "error_id": repeated_param("Only errors with this id", "integer"),
    "error_name": repeated_param("Only errors with this name"),
}
import_model = ns.model(
    "ConfigurationImport",
    {
        "import": fields.Raw(
            required=True, description="An exported configuration document (version, errors, job_types, recipe_types)"
        ),
    },
)
upload_parser = reqparse.RequestParser()
upload_parser.add_argument(
    "import_file",
    type=FileStorage,
    location="files",
    required=True,
    help="The exported configuration document as a JSON file",
)


def _export() -> dict:
    return configuration_service.export_configuration(
        get_session(),
        include=param_str_list("include", choices=configuration_service.EXPORT_INCLUDES),
        recipe_type_ids=param_int_list("recipe_type_id"),
        recipe_type_names=param_str_list("recipe_type_name"),
        job_type_ids=param_int_list("job_type_id"),
        job_type_names=param_str_list("job_type_name"),
        job_type_categories=param_str_list("job_type_category"),
        error_ids=param_int_list("error_id"),
        error_names=param_str_list("error_name"),
    )


def _import_body() -> dict:
    body = json_body()
    check_fields(body, ("import",), required=("import",))
    return body["import"]


def _run_import(doc, keep: bool) -> dict:
    """Import in the request's transaction: committed when `keep`, always rolled back otherwise (and on
    any problem), so an import is all-or-nothing and a validation leaves no trace."""
    session = get_session()
    if not keep:
        try:
            return {"warnings": warnings_to_dicts(configuration_service.import_configuration(session, doc))}
        finally:
            session.rollback()
    return {
        "warnings": warnings_to_dicts(write(session, lambda: configuration_service.import_configuration(session, doc)))
    }


@ns.route("/")
class Configuration(Resource):
    @ns.doc(params=EXPORT_PARAMS)
    def get(self):
        """Export user errors, non-system job types and recipe configuration_service."""
        return _export()

    @ns.expect(import_model)
    def post(self):
        """Import a configuration document: all of it, or nothing (400 listing every problem)."""
        return _run_import(_import_body(), keep=True)


@ns.route("/validation/")
class ConfigurationValidation(Resource):
    @ns.expect(import_model)
    def post(self):
        """Check an import without keeping anything: 200 with warnings, or 400 listing the problems."""
        return _run_import(_import_body(), keep=False)


@ns.route("/download/")
class ConfigurationDownload(Resource):
    @ns.doc(params=EXPORT_PARAMS)
    def get(self):
        """The export as a file attachment."""
        body = json.dumps(_export(), indent=2)
        return Response(
            body,
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="{DOWNLOAD_FILE_NAME}"'},
        )


def _uploaded_document():
    upload = next((request.files[name] for name in UPLOAD_FIELDS if name in request.files), None)
    if upload is not None:
        content = upload.read()
    elif request.headers.get("X-File-Name") and request.data:
        content = request.data  # AJAX upload: the file is the body, its name in a header
    else:
        raise bad_request(f"No file was uploaded: send it as multipart form field '{UPLOAD_FIELDS[0]}'")
    try:
        doc = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"The uploaded file is not a JSON document: {exc}") from None
    reject_nul(doc, "The uploaded file")
    if isinstance(doc, dict) and set(doc) == {"import"}:
        doc = doc["import"]  # a saved POST /configuration/ body
    return doc


@ns.route("/upload/")
class ConfigurationUpload(Resource):
    @ns.expect(upload_parser)
    def post(self):
        """Import a configuration document uploaded as a file."""
        return _run_import(_uploaded_document(), keep=True)
