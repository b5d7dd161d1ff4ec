"""The console with API_AUTH on, in a real browser: sign in with a token, roles on the buttons, sign out."""

from __future__ import annotations

import pytest

from app.db import session_scope
from app.models import Scheduler
from app.tokens import create_token

pytestmark = pytest.mark.browser


@pytest.fixture
def app(scale_env, monkeypatch):
    from api import create_app
    from app.settings import settings

    monkeypatch.setenv("API_AUTH", "true")
    settings.reload()
    return create_app()


def _token(role: str) -> str:
    with session_scope() as session:
        return create_token(session, f"{role}-in-browser", role)[1]


def _sign_in(browser, token: str, accepted: bool = True) -> None:
    browser.wait_for(lambda d: browser.css("#token"), what="the sign-in form")
    browser.css("#token").send_keys(token)
    browser.click("#sign-in")
    # wait for the answer's page: opening another page first would abandon the sign-in
    browser.wait_for(lambda d: browser.css("#signed-in" if accepted else "#login-error"), what="the sign-in answer")


def test_sign_in_act_by_role_and_sign_out(browser, scale_env):
    viewer, operator = _token("viewer"), _token("operator")
    browser.open("/console/jobs")
    _sign_in(browser, "scale_not-a-token", accepted=False)
    assert "not valid" in browser.text("#login-error")

    _sign_in(browser, viewer)
    browser.wait_for(lambda d: d.current_url.endswith("/console/jobs"), what="the jobs page after signing in")
    assert browser.text("#signed-in") == "viewer-in-browser (viewer)"
    browser.open("/")
    browser.click("#pause-scheduler", accept_confirm=True)
    assert "needs operator" in browser.text("#page-error")
    with session_scope() as session:
        row = session.get(Scheduler, 1)
        assert row is None or not row.is_paused

    browser.click("#sign-out")
    _sign_in(browser, operator)
    browser.open("/")
    browser.click("#pause-scheduler", accept_confirm=True)
    assert browser.text("#scheduler-state") == "PAUSED"
    browser.screenshot("console-signed-in-operator")
    browser.click("#sign-out")
    browser.wait_for(lambda d: browser.css("#token"), what="the sign-in page after signing out")
    browser.open("/console/nodes")
    browser.wait_for(lambda d: "/console/login" in d.current_url, what="the sign-in page again")
