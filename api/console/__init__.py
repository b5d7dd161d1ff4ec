"""The web console: server-rendered pages over the same database and services as the REST API.

Pages live under /console/ (the dashboard is also the site root, /); static files under /console/static/.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
               static_url_path="/console/static")

from api.console import views  # noqa: E402,F401  (registers the routes on bp)
