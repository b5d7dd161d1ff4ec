"""Limits every request meets before a route reads it: the body's size (413 before it is read) and the
Host header (a loopback API answers only to loopback names, so a web page cannot reach it through DNS
rebinding). JSON depth and array lengths are checked where bodies are parsed (`api.common.json_body`)."""

from __future__ import annotations

import socket

from flask import Flask, request
from flask_restx import Api
from werkzeug.exceptions import RequestEntityTooLarge

from app.settings import is_loopback, settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port (`[::1]:8000` -> `::1`)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header


def allowed_hosts() -> tuple[str, ...] | None:
    """The names the API answers to; None means any."""
    configured = tuple(h.strip().lower() for h in settings.API_ALLOWED_HOSTS.split(",") if h.strip())
    if configured:
        return configured
    # the machine's own name too: Debian maps it to 127.0.1.1
    return (*LOOPBACK_NAMES, socket.gethostname().lower()) if is_loopback(settings.API_HOST) else None


def _too_large_message() -> dict:
    return {"detail": f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes (API_MAX_BODY_BYTES)"}


def install(app: Flask, api: Api) -> None:
    app.config["MAX_CONTENT_LENGTH"] = settings.API_MAX_BODY_BYTES

    @app.before_request
    def _check_host():
        allowed = allowed_hosts()
        name = host_name(request.host or "").lower()
        if allowed is not None and name not in allowed and not (name.startswith("127.") and "127.0.0.1" in allowed):
            names = ", ".join(allowed)
            return {"detail": f"Host '{name}' is not served here; allowed: {names} (set API_ALLOWED_HOSTS)"}, 400
        if request.content_length is not None and request.content_length > settings.API_MAX_BODY_BYTES:
            return _too_large_message(), 413
        return None

    @api.errorhandler(RequestEntityTooLarge)
    def _too_large_in_a_route(_error):  # a body without Content-Length that grows past the limit
        return _too_large_message(), 413

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_error):
        return _too_large_message(), 413
