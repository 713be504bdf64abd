"""The application steps against the sandbox's single-page EPJ, in real Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
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
from sandbox import SandboxServer, store
from sandbox.database import connect
from sandbox.forms import local_now

pytestmark = pytest.mark.browser

TEST_PATIENT = "170551-4514"
#: A 1x1 PNG: the smallest image the archive takes.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


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


def _archive_document(sandbox: SandboxServer, title: str) -> int:
    """Archive a PNG for the test patient straight in the sandbox's database."""
    db = connect(sandbox.config.db_path)
    try:
        patient = store.find_patient_by_cpr(db, TEST_PATIENT)
        assert patient is not None
        return store.add_document(
            db,
            patient_id=patient["id"],
            doc_type="Epikrise",
            doc_date="2026-11-30",
            title=title,
            filename="letter.png",
            content_type="image/png",
            content=PNG,
            user="doctor",
        )
    finally:
        db.close()


def test_steps_in_a_frame_act_in_the_document_viewer(
    session: web.BrowserSession, live_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The viewer is an iframe that opens slowly: inside ``in_frame`` the steps
    wait for, read, select and download in it; outside, they see the EPJ."""
    _archive_document(live_sandbox, "Discharge letter")
    web.fill_form(session, {"CPR number": TEST_PATIENT})
    answer = web.click_for_response(session, "Search", url="/spa/api/patients")
    web.click(session, f"#hits a[href='#/patients/{answer.json['patients'][0]['id']}']")
    web.click(session, "Documents")
    web.click(session, "Discharge letter")

    with web.in_frame(session, "Document viewer"):
        shown = web.expect_text(session, "Discharge letter", selector="h1")
        kind = web.texts(session, "#doc-type")
        web.select(session, "Zoom", "200 %", by_label=True)
        zoom = web.read_field(session, "Zoom")
        status = web.expect_text(session, "Shown at 200 %")
        saved = web.download(session, "Download", folder=tmp_path)
    outside = web.texts(session, "#documents a")

    assert ("Discharge letter", ["Epikrise"]) == (shown, kind)
    assert ("200 %", "Shown at 200 %") == (zoom, status)
    assert PNG == saved.read_bytes()
    assert ["Discharge letter"] == outside
    assert not web.is_shown(session, "#doc-type"), "the frame's content is its own"


def test_a_frame_that_is_not_there_fails_the_step(
    session: web.BrowserSession,
) -> None:
    """A step in a frame the page does not show fails; the block leaves the frame."""
    with pytest.raises(StepTimeoutError), web.in_frame(session, "Document viewer"):
        web.texts(session, "#doc-type")
    assert "Find patient" in web.texts(session, "#menu a")


@pytest.fixture
def faults(live_sandbox: SandboxServer) -> Iterator[Callable[..., None]]:
    """Set the sandbox's fault switches for the test; all off again after it."""

    def put(**switches: object) -> None:
        httpx.put(f"{live_sandbox.url}/api/faults", json=switches).raise_for_status()

    yield put
    put()


def _search(session: web.BrowserSession) -> web.Answer:
    web.fill_form(session, {"CPR number": TEST_PATIENT})
    return web.click_for_response(session, "Search", url="/spa/api/patients")


def test_a_read_that_failed_is_done_again(
    session: web.BrowserSession, faults: Callable[..., None]
) -> None:
    """A search and a patient view that answer HTTP 500 once: the error dialog is
    dismissed and the read done again, the search clicked, the link's address
    loaded (clicking the same link again would do nothing)."""
    faults(fail_next={r"GET /spa/api/patients": 1, r"GET /spa/api/patients/\d+": 1})
    with structlog.testing.capture_logs() as logs:
        answer = _search(session)
        patient = answer.json["patients"][0]["id"]
        web.click(session, f"#hits a[href='#/patients/{patient}']")
        header = web.texts(session, "#lab-results th")

    assert (200, 1) == (answer.status, answer.json["hits"])
    assert "Registration id" in header
    repeated = [e["error"] for e in logs if e["event"] == "request_repeated"]
    assert [
        "HTTP 500 from GET /spa/api/patients",
        f"HTTP 500 from GET /spa/api/patients/{patient}",
    ] == repeated


def test_a_save_that_failed_is_never_sent_again(
    session: web.BrowserSession, faults: Callable[..., None]
) -> None:
    """A POST answered HTTP 500 is left to the caller: the server holds nothing."""
    _open_form(session)
    web.select(session, "Test code", "NPU02319 Hæmoglobin;B", by_label=True)
    web.fill_form(
        session, {"Value": "8,1", "Unit": "mmol/L", "Sampled at": _sample_time()}
    )
    faults(fail_next={r"POST /spa/api/patients/\d+/lab-results": 1})

    saved = web.click_for_response(
        session, "Save result", url="/lab-results", method="POST"
    )

    assert 500 == saved.status
    with pytest.raises(TargetSystemError, match="temporarily unavailable"):
        web.check_dialogs(session)
    held = httpx.get(f"{session.options.base_url}/api/lab-results").json()
    assert [] == [r for r in held if r["registered_by"] == "robot"]


def test_a_login_whose_session_ends_at_once_is_not_refused(
    tmp_path: Path,
    browser: Browser,
    live_sandbox: SandboxServer,
    faults: Callable[..., None],
) -> None:
    """The login is accepted, the client's first call finds the session ended and
    it shows the login form again: a system exception (tried again), never
    "credentials refused", which would stop the run."""
    ctx = _context(tmp_path, browser)
    options = web.BrowserOptions(
        base_url=live_sandbox.url, application=True, login_path="/spa"
    )
    session = web.open_browser(ctx, options)
    faults(expire_every=1)
    try:
        with pytest.raises(TargetSystemError, match="accepted, but the session ended"):
            web.login(session, _credentials(live_sandbox.url))
    finally:
        session.close()


def test_a_read_that_keeps_failing_fails_the_step(
    session: web.BrowserSession, faults: Callable[..., None]
) -> None:
    """A patient view that answers HTTP 500 every time fails the click, naming the
    request: the search view still shown must not be read as the patient's."""
    patient = _search(session).json["patients"][0]["id"]
    faults(fail_next={r"GET /spa/api/patients/\d+": 3})
    wanted = f"HTTP 500 from GET /spa/api/patients/{patient}, 3 times"

    with pytest.raises(TargetSystemError, match=wanted):
        web.click(session, f"#hits a[href='#/patients/{patient}']")
