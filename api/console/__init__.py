"""The web console: server-rendered pages over the same database and services as the REST API.

Pages live under /console/ (the dashboard is also the site root, /); static files under /console/static/.
The blueprint and its routes are in `api.console.views`.
"""
