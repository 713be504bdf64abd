"""The application steps against the sandbox's single-page EPJ, in real Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog.testing
from playwright.sync_api import Browser
from pydantic import BaseModel

from robotlib import Context, Robot
from robotlib.credentials import SystemCredentials
from robotlib.errors import (
    BusinessRuleError,
    CredentialsError,
    StepTimeoutError,
    TargetSystemError,
)
from robotlib.settings import Settings
from robotlib.steps import browser as web
from sandbox import SandboxServer
from sandbox.forms import local_now

pytestmark = pytest.mark.browser

TEST_PATIENT = "170551-4514"


class _Nothing(BaseModel):
    n: int


def _sample_time() -> str:
    moment = (local_now() - timedelta(days=1)).replace(hour=9, minute=7)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _context(tmp_path: Path, chromium: Browser) -> Context:
    robot = Robot(name="spa", item=_Nothing, reference=["n"], process=lambda c, i: None)
    ctx = Context(
        robot=robot,
        settings=Settings(project_dir=tmp_path),
        run_id="run",
        run_dir=tmp_path,
    )
    ctx.shared["robotlib.browser"] = chromium
    return ctx


def _session(
    tmp_path: Path, chromium: Browser, url: str, **options: object
) -> web.BrowserSession:
    settings: dict[str, object] = {
        "base_url": url,
        "name": "the EPJ",
        "application": True,
        "busy": "#busy",
        "dialogs": web.AppDialogs(),
        "login_path": "/spa",
    }
    ctx = _context(tmp_path, chromium)
    session = web.open_browser(ctx, web.BrowserOptions(**(settings | options)))
    web.login(session, _credentials(url))
    return session


def _credentials(url: str, password: str = "robot-pass-1") -> SystemCredentials:
    return SystemCredentials.model_validate(
        {"system": "sandbox", "url": url, "username": "robot", "password": password}
    )


@pytest.fixture
def session(
    tmp_path: Path, browser: Browser, live_sandbox: SandboxServer
) -> Iterator[web.BrowserSession]:
    """A session logged in to the single-page EPJ, on its search view."""
    opened = _session(tmp_path, browser, live_sandbox.url)
    yield opened
    opened.close()


def _open_form(session: web.BrowserSession) -> None:
    web.fill_form(session, {"CPR number": TEST_PATIENT})
    answer = web.click_for_response(session, "Search", url="/spa/api/patients")
    web.click(session, f"#hits a[href='#/patients/{answer.json['patients'][0]['id']}']")
    web.click(session, "Register lab result", role="tab")


def test_search_answer_counts_hits_while_the_list_is_stale(
    session: web.BrowserSession,
) -> None:
    """The response says 0 hits while the list still shows the previous patient."""
    web.fill_form(session, {"CPR number": TEST_PATIENT})
    first = web.click_for_response(session, "Search", url="/spa/api/patients")
    web.wait_until_idle(session)
    web.fill_form(session, {"CPR number": "010101-0000"})
    second = web.click_for_response(session, "Search", url="/spa/api/patients")
    web.wait_until_idle(session)

    assert (1, 0) == (first.json["hits"], second.json["hits"])
    assert (200, 200) == (first.status, second.status)
    assert [] == web.texts(session, "#hits li")


def test_fill_form_on_an_application_keeps_what_it_typed(
    session: web.BrowserSession,
) -> None:
    """Typed before the form's defaults arrive, the values are there at the save."""
    _open_form(session)  # click waits for idle: type at once, as a robot would
    web.fill_form(session, {"Value": "8,4", "Unit": "mmol/L"})

    assert {"Value": "8,4", "Unit": "mmol/L"} == web.read_fields(
        session, ["Value", "Unit"]
    )


def test_fill_form_retypes_a_value_the_form_discarded(
    session: web.BrowserSession,
) -> None:
    """A value the application drops once (as a form rendered again does) is
    typed again, and is there at the end."""
    _open_form(session)
    web.evaluate(
        session,
        """() => document.querySelector('#value').addEventListener(
             'input', (e) => { setTimeout(() => { e.target.value = ''; }, 10); },
             { once: true })""",
    )

    with structlog.testing.capture_logs() as logs:
        web.fill_form(session, {"Value": "8,4"})

    assert "8,4" == web.read_field(session, "Value")
    assert [["Value"]] == [e["fields"] for e in logs if e["event"] == "fields_lost"]


def test_a_form_that_keeps_discarding_fails_before_any_save(
    session: web.BrowserSession,
) -> None:
    """A field the application empties every time is a system exception naming it."""
    _open_form(session)
    web.evaluate(
        session,
        """() => document.querySelector('#comment').addEventListener(
             'input', (e) => { setTimeout(() => { e.target.value = ''; }, 10); })""",
    )

    with pytest.raises(TargetSystemError, match=r"'Comment'.*nothing was saved"):
        web.fill_form(session, {"Comment": "typed"})


def test_select_by_label_where_values_are_json(session: web.BrowserSession) -> None:
    """The option is found by its text; what is sent is its JSON value."""
    _open_form(session)
    web.select(session, "Test code", "NPU02319 Hæmoglobin;B", by_label=True)

    assert "NPU02319 Hæmoglobin;B" == web.read_field(session, "Test code")
    raw = web.evaluate(session, "() => document.querySelector('#code').value")
    assert "NPU02319" == json.loads(raw)["code"]


def test_a_refusal_dialog_is_a_business_exception_and_is_dismissed(
    session: web.BrowserSession,
) -> None:
    """The validation dialog's text becomes the exception; the page is usable after."""
    _open_form(session)
    web.fill_form(session, {"Value": "high", "Unit": "mmol/L"})
    web.click(session, "Save result")

    with pytest.raises(BusinessRuleError, match="Value: Enter a number") as raised:
        web.check_dialogs(session)

    assert "validation" == raised.value.code
    assert not web.is_shown(session, "[role=alertdialog]")
    web.check_dialogs(session)  # none open: nothing raised


def test_a_click_blocked_by_a_dialog_fails_with_its_text(
    session: web.BrowserSession,
) -> None:
    """A step that a modal dialog blocks reports the dialog, not a timeout."""
    _open_form(session)
    web.click(session, "Save result")  # empty: the validation dialog opens

    with pytest.raises(BusinessRuleError, match="Test code: Choose a test code"):
        web.click(session, "Lab results", role="tab")


def test_saved_id_comes_from_the_answer_and_toasts_vanish(
    session: web.BrowserSession,
) -> None:
    """The save's answer holds the id; the toast that showed it is gone after."""
    _open_form(session)
    web.select(session, "Test code", "NPU02319 Hæmoglobin;B", by_label=True)
    web.fill_form(
        session, {"Value": "7,1", "Unit": "mmol/L", "Sampled at": _sample_time()}
    )
    saved = web.click_for_response(session, "Save result", url="/lab-results")
    web.wait_until(
        session,
        "id => [...document.querySelectorAll('#lab-results td:first-child')]"
        ".some(td => td.innerText === String(id))",
        saved.json["id"],
        what="the new result in the list",
    )

    assert 201 == saved.status
    web.wait_until(session, "() => !document.querySelector('.toast')", what="no toast")


def test_wait_until_times_out_naming_the_condition(session: web.BrowserSession) -> None:
    """A condition that never holds fails as a step timeout with its words."""
    with pytest.raises(StepTimeoutError, match="the moon did not come true"):
        web.wait_until(session, "() => false", what="the moon", timeout_s=0.3)


def test_idle_waits_for_the_menu_and_is_shown_does_not_wait(
    session: web.BrowserSession,
) -> None:
    """After idle the lazily loaded menu is there; is_shown answers at once."""
    web.goto(session, "/spa")
    web.wait_until_idle(session)

    assert web.is_shown(session, "[role=tree]")
    assert not web.is_shown(session, "text=Loading menu…")
    assert "Find patient" in web.texts(session, "#menu a")


def test_a_refused_login_to_an_application_is_a_credentials_error(
    tmp_path: Path, browser: Browser, live_sandbox: SandboxServer
) -> None:
    """The client's "Login failed" dialog stops the run with its words."""
    ctx = _context(tmp_path, browser)
    options = web.BrowserOptions(
        base_url=live_sandbox.url, application=True, login_path="/spa"
    )
    session = web.open_browser(ctx, options)
    try:
        with pytest.raises(
            CredentialsError, match="refused: Login failed; Wrong user name or password"
        ):
            web.login(session, _credentials(live_sandbox.url, "wrong-password"))
    finally:
        session.close()
