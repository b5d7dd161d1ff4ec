"""WSGI entry point for gunicorn: `gunicorn api.wsgi:app`.

An API reachable from other hosts without authentication does not start (app.settings.exposure_problems)."""

from api import create_app
from app.settings import exposure_problems, settings

for problem in exposure_problems(settings):
    if problem.startswith("API_HOST"):
        raise SystemExit(f"refusing to serve the API: {problem}")

app = create_app()
