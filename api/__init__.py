"""The REST API: a Flask app with Flask-RESTX namespaces, one module per resource group."""

from __future__ import annotations

import importlib
import logging
import pkgutil

from flask import Flask, g, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from api import auth, limits
from api.openapi import ScaleApi
from api.common import MAX_DB_INT, ApiError
from app.specs.base import SpecError

log = logging.getLogger(__name__)
VERSION = "1.0.0"


class DatabaseIdConverter(IntegerConverter):
    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_DB_INT)
        super().__init__(map, *args, **kwargs)


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["RESTX_ERROR_404_HELP"] = False
    app.config["RESTX_MASK_SWAGGER"] = False
    app.url_map.strict_slashes = False
    # <int:id> routes only match ids the database can hold; a larger one is a 404, not a driver error.
    app.url_map.converters["int"] = DatabaseIdConverter
    # Loaded like the resources below (by name at app creation): the views import the resources' helpers.
    console = importlib.import_module("api.console.views").bp
    app.register_blueprint(console)  # before the Api: the console's "/" wins over Flask-RESTX's 404 root
    api = ScaleApi(
        app,
        version=VERSION,
        title="Scale",
        description="Automated processing on a cluster",
        doc="/docs/",
        authorizations=auth.SECURITY,
        security="bearer",
    )
    limits.install(app, api)
    auth.install(app)

    @api.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error.to_dict(), error.status

    @api.errorhandler(SpecError)
    def _spec_error(error: SpecError):
        return error.to_dict(), 400

    @app.errorhandler(NotFound)
    def _not_found(error: NotFound):
        # No route matched (or an id that is not an integer): a client of a JSON API gets JSON, not an HTML page.
        return {"detail": f"No such resource: {request.path}"}, 404

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    import api.resources as resources

    for module_info in sorted(pkgutil.iter_modules(resources.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"api.resources.{module_info.name}")
        for ns in getattr(module, "NAMESPACES", []):
            api.add_namespace(ns)
    app.extensions["restx_api"] = api
    return app
