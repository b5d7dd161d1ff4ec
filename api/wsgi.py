"""WSGI entry point for gunicorn: `gunicorn api.wsgi:app`.

An API reachable from other hosts without authentication does not start (app.settings.api_exposure_problem)."""

from api import create_app
from app.settings import api_exposure_problem, settings

problem = api_exposure_problem(settings)
if problem:
    raise SystemExit(f"refusing to serve the API: {problem}")

app = create_app()
