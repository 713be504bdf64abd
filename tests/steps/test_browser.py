"""Browser steps against the live sandbox in real headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import structlog
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
from robotlib.testing import make_work_item
from sandbox import SandboxConfig, SandboxServer

pytestmark = pytest.mark.browser


class _Nothing(BaseModel):
    n: int


def _context(tmp_path: Path, chromium: Browser) -> Context:
    robot = Robot(
        name="steps", item=_Nothing, reference=["n"], process=lambda c, i: None
    )
    ctx = Context(
        robot=robot,
        settings=Settings(project_dir=tmp_path),
        run_id="run",
        run_dir=tmp_path,
    )
    ctx.shared["robotlib.browser"] = chromium
    return ctx


def _credentials(url: str, password: str = "robot-pass-1") -> SystemCredentials:
    return SystemCredentials.model_validate(
        {"system": "sandbox", "url": url, "username": "robot", "password": password}
    )


@pytest.fixture
def session(
    tmp_path: Path, browser: Browser, live_sandbox: SandboxServer
) -> Iterator[web.BrowserSession]:
    """A logged-in browser session on the live sandbox."""
    ctx = _context(tmp_path, browser)
    opened = web.open_browser(
        ctx, web.BrowserOptions(base_url=live_sandbox.url, recycle_every=2)
    )
    web.login(opened, _credentials(live_sandbox.url))
    yield opened
    opened.close()


def test_wrong_password_is_a_configuration_error(
    tmp_path: Path, browser: Browser, live_sandbox: SandboxServer
) -> None:
    """A refused login raises CredentialsError with the system's own message."""
    ctx = _context(tmp_path, browser)
    opened = web.open_browser(ctx, web.BrowserOptions(base_url=live_sandbox.url))
    with pytest.raises(CredentialsError, match="Wrong username or password"):
        web.login(opened, _credentials(live_sandbox.url, password="wrong"))
    opened.close()


def test_fill_click_and_read_back(session: web.BrowserSession) -> None:
    """fill_form by label, select and click register a result the page then shows."""
    cpr = httpx.get(f"{session.options.base_url}/api/patients?limit=1").json()[0]["cpr"]
    web.goto(session, "/patients/search")
    web.fill_form(session, {"CPR number": cpr})
    web.click(session, "Search")
    web.click(session, "Register lab result")
    web.fill_form(
        session,
        {
            "Test code": "NPU03230",
            "value": "4,2",
            "#unit": "mmol/L",
            # Newer than every seeded result, so that it is the table's first row.
            "Sampled at": f"{datetime.now() - timedelta(minutes=1):%Y-%m-%dT%H:%M}",
        },
    )
    web.click(session, "Save result")
    shown = web.expect_text(session, "Lab result registered")
    assert "Lab result registered" == shown
    web.click(session, "Back to the patient")
    rows = web.read_table(session, "#lab-results", next_page=None)
    assert ("NPU03230", "4,2", "mmol/L") == (
        rows[0]["Test code"],
        rows[0]["Value"],
        rows[0]["Unit"],
    )


def test_read_table_follows_pagination(session: web.BrowserSession) -> None:
    """read_table reads every page of the worklist, as many rows as it reports."""
    web.goto(session, "/worklist?department=MED")
    summary = session.page.locator("#worklist-summary").inner_text()
    total = int(summary.split("(")[1].split()[0])
    assert 50 < total
    rows = web.read_table(session, "#worklist")
    assert total == len(rows)
    assert {"MED"} == {row["Department"] for row in rows}


def test_read_table_into_models(session: web.BrowserSession) -> None:
    """Rows validate into a model whose aliases are the table's headers."""
    from pydantic import Field

    class Result(BaseModel):
        registration_id: int = Field(alias="Registration id")
        code: str = Field(alias="Test code")

    web.goto(session, "/worklist?department=KIR")
    results = web.read_table(session, "#worklist", model=Result, next_page=None)
    assert results and all(r.code.startswith("NPU") for r in results)


def test_expect_row_returns_the_row_or_names_what_differs(
    session: web.BrowserSession,
) -> None:
    """expect_row finds the row by its key; a missing row or another value is a
    business exception naming the record, the page's values and the input's."""
    web.goto(session, "/worklist?department=KIR")
    first = web.read_table(session, "#worklist", next_page=None)[0]
    key = {"Registration id": first["Registration id"]}
    expected = {"Test code": first["Test code"], "Value": first["Value"]}
    assert first == web.expect_row(session, "#worklist", key, expected)
    with pytest.raises(BusinessRuleError) as differs:
        web.expect_row(
            session, "#worklist", key, expected | {"Value": "-1"}, against="the sheet"
        )
    assert "differs" == differs.value.code
    message = str(differs.value)
    assert message.startswith("The web application holds the record with ")
    assert f"'Value': '{first['Value']}'" in message
    assert "than the sheet {" in message and "'Value': '-1'" in message
    with pytest.raises(BusinessRuleError) as missing:
        web.expect_row(session, "#worklist", {"Registration id": "0"}, expected)
    assert "missing" == missing.value.code
    assert "record with Registration id 0" in str(missing.value)


def test_expect_option_returns_the_options_or_lists_them(
    session: web.BrowserSession,
) -> None:
    """expect_option passes an offered value and names the ones offered if not."""
    web.goto(session, "/worklist")
    offered = web.expect_option(
        session, "#department", "KIR", what="department", fix="check the input"
    )
    assert offered == web.options(session, "#department") and "KIR" in offered
    with pytest.raises(BusinessRuleError) as refused:
        web.expect_option(
            session, "#department", "XYZ", what="department", fix="check the input"
        )
    assert "unknown_department" == refused.value.code
    assert str(refused.value) == (
        f"The web application has no department 'XYZ' (it has "
        f"{', '.join(offered)}): check the input"
    )


def test_expect_accepted_raises_the_reasons_the_page_shows(
    session: web.BrowserSession,
) -> None:
    """A page with no error passes; each error becomes a reason, headed by its
    fieldset's legend, in one business exception naming the application."""
    web.goto(session, "/worklist")
    web.expect_accepted(session, "the filter")
    session.page.set_content(
        "<form><fieldset><legend>2. Pain at night</legend>"
        "<p class='field-error'> Answer with 0-4 </p></fieldset>"
        "<p class='field-error'>The date is in the future</p>"
        "<p role='alert'>Not saved</p></form>"
    )
    with pytest.raises(BusinessRuleError) as refused:
        web.expect_accepted(session, "the answers")
    assert ("refused", str(refused.value)) == (
        refused.value.code,
        "The web application refused the answers: 2. Pain at night: Answer with "
        "0-4; The date is in the future",
    )
    with pytest.raises(BusinessRuleError, match=r"refused the change: Not saved$"):
        web.expect_accepted(session, "the change", errors="[role=alert]")


def test_download_and_upload(session: web.BrowserSession, tmp_path: Path) -> None:
    """The CSV export downloads into the folder; a PDF uploads into the archive."""
    web.goto(session, "/worklist?department=AKM")
    saved = web.download(session, "Export to CSV", folder=tmp_path)
    assert "worklist.csv" == saved.name
    assert saved.read_bytes().startswith(b"\xef\xbb\xbfRegistration id;")
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% fictitious\n%%EOF\n")
    web.goto(session, "/patients/1/documents")
    web.upload(session, "File (PDF, PNG or JPEG)", pdf)
    web.fill_form(
        session,
        {
            "Document type": "Epikrise",
            "Document date": "2026-11-02",
            "Title": "Epikrise",
        },
    )
    web.click(session, "Upload")
    assert "Document archived" in web.expect_text(session, "Document archived")


def test_expired_session_logs_in_again_once(session: web.BrowserSession) -> None:
    """goto notices the login page, logs in again and opens the page asked for."""
    url = session.options.base_url
    httpx.put(f"{url}/api/faults", json={"expire_every": 3})
    web.goto(session, "/worklist")
    web.goto(session, "/board")
    web.goto(session, "/worklist?department=ORT")  # the third: the session expires
    httpx.put(f"{url}/api/faults", json={})
    assert session.page.url.endswith("/worklist?department=ORT")
    assert not session.on_login_page()


def test_server_error_is_a_target_system_error(session: web.BrowserSession) -> None:
    """An HTTP 500 page raises TargetSystemError (a system exception)."""
    url = session.options.base_url
    httpx.put(f"{url}/api/faults", json={"error_rate": 1.0})
    with pytest.raises(TargetSystemError, match="HTTP 500"):
        web.goto(session, "/worklist")
    httpx.put(f"{url}/api/faults", json={})


def test_missing_text_times_out_as_a_step_timeout(
    session: web.BrowserSession,
) -> None:
    """expect_text raises StepTimeoutError when the text never appears."""
    web.goto(session, "/patients/search")
    with pytest.raises(StepTimeoutError, match="expect_text"):
        web.expect_text(session, "Nowhere to be seen", timeout_s=0.3)


def test_trace_kept_only_when_asked_and_page_recycled(
    session: web.BrowserSession, tmp_path: Path
) -> None:
    """Only a retry records a trace, saved when it fails too; pages recycle."""
    first_page = session.page
    session.item_started(make_work_item(id=1, attempts=1))
    web.goto(session, "/patients/search")
    untraced = session.save_trace(tmp_path / "first-attempt.zip")
    session.item_finished(False)
    session.item_started(make_work_item(id=1, attempts=2))
    web.goto(session, "/board")
    saved = session.save_trace(tmp_path / "trace.zip")
    session.item_finished(False)
    assert untraced is None, "a first attempt records nothing"
    assert saved is not None and saved.stat().st_size > 0
    assert first_page.is_closed()
    assert session.page.url.endswith("/board/MED")
    shot = session.screenshot(tmp_path / "shot.png")
    assert shot is not None and shot.read_bytes().startswith(b"\x89PNG")


def test_notice_dialog_is_dismissed_by_itself(tmp_path: Path, browser: Browser) -> None:
    """With a notice on every page, clicks still go through: it is dismissed."""
    config = SandboxConfig(db_path=tmp_path / "notice.db", notice_probability=1.0)
    with SandboxServer(config) as server:
        ctx = _context(tmp_path, browser)
        opened = web.open_browser(ctx, web.BrowserOptions(base_url=server.url))
        web.login(opened, _credentials(server.url))
        web.click(opened, "Worklist")
        assert opened.page.url.endswith("/worklist")
        opened.close()


_LATE_NOTICE = """<!doctype html><title>Late</title><body><p>Worklist</p><script>
  const show = (name, button) => {
    const dialog = document.createElement("div");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-label", name);
    dialog.innerHTML = `<p>Maintenance tonight</p><button>${button}</button>`;
    document.body.append(dialog);
    return dialog;
  };
  window.dismissed = [];
  setTimeout(() => {
    const notice = show("System notice", "OK");
    show("Delete the patient?", "OK");
    // the page wires its button up after the dialog shows, as slow pages do
    setTimeout(() => notice.querySelector("button").addEventListener("click", () => {
      notice.remove();
      window.dismissed.push("System notice");
    }), 150);
  }, 200);
</script></body>"""


def _serve(session: web.BrowserSession, path: str, html: str) -> None:
    session.page.route(
        f"**{path}", lambda route: route.fulfill(body=html, content_type="text/html")
    )


def test_notice_showing_late_is_dismissed_and_logged(
    session: web.BrowserSession,
) -> None:
    """A notice that shows after the page loaded is dismissed by itself, and the
    dismissal is logged; a dialog that is not a notice is left alone."""
    _serve(session, "/late-notice", _LATE_NOTICE)
    with structlog.testing.capture_logs() as logs:
        web.goto(session, "/late-notice")
        session.page.wait_for_function("window.dismissed.length === 1")
        session.page.wait_for_timeout(100)  # the console report reaches Python
        others = session.page.get_by_role("dialog", name="Delete the patient?")
        assert others.is_visible(), "a dialog that is not a notice stays"
    assert {"event": "notice_dismissed", "dialog": "System notice"} in [
        {k: v for k, v in entry.items() if k in ("event", "dialog")} for entry in logs
    ]


_FORM = """<!doctype html><title>Form</title><form>
  <label>Kind %s</label>
  <label>When <input type="%s" name="when"></label>
</form>"""


def test_fill_form_learns_each_fields_kind_and_relearns_a_change(
    session: web.BrowserSession,
) -> None:
    """A select, a datetime-local and a date input are each filled right; a
    field that changed kind since it was learned still is."""
    select = '<select name="kind"><option>blood</option><option>urine</option></select>'
    _serve(session, "/forms/1", _FORM % (select, "datetime-local"))
    _serve(session, "/forms/2", _FORM % ('<input name="kind">', "date"))
    when = datetime(2026, 11, 30, 7, 45)
    page = session.page
    for number in (1, 1, 2):
        web.goto(session, f"/forms/{number}")
        web.fill_form(session, {"kind": "urine", "when": when})
        kind = page.locator("[name=kind]").input_value()
        shown = page.locator("[name=when]").input_value()
        assert kind == "urine"
        assert shown == ("2026-11-30T07:45" if number == 1 else "2026-11-30")
    assert session.field_kinds == {
        ("/forms/#", "kind"): "text",
        ("/forms/#", "when"): "date",
    }


def test_server_error_at_login_is_a_system_exception(
    tmp_path: Path, browser: Browser, live_sandbox: SandboxServer
) -> None:
    """HTTP 500 while logging in is retried like any system trouble, not fatal."""
    url = live_sandbox.url
    ctx = _context(tmp_path, browser)
    opened = web.open_browser(ctx, web.BrowserOptions(base_url=url))
    httpx.put(f"{url}/api/faults", json={"error_after_rate": 1.0})
    try:
        with pytest.raises(TargetSystemError, match="HTTP 500"):
            web.login(opened, _credentials(url))
    finally:
        httpx.put(f"{url}/api/faults", json={})
        opened.close()


def test_images_and_fonts_are_blocked_in_the_browser(
    session: web.BrowserSession, live_sandbox: SandboxServer
) -> None:
    """block_resources (the default) keeps images and fonts from loading at all,
    by what they are, not by their address; stylesheets and scripts load."""
    url = live_sandbox.url
    failed: list[tuple[str, str]] = []
    finished: list[str] = []
    page = session.page
    page.on(
        "requestfailed",
        lambda request: failed.append((request.url, request.failure or "")),
    )
    page.on("requestfinished", lambda request: finished.append(request.url))
    font = f"@font-face {{ font-family: F; src: url({url}/fonts/f?x=1); }}"
    page.set_content(
        f'<link rel="stylesheet" href="{url}/static/sandbox.css?fresh=1">'
        f"<style>{font} p {{ font-family: F; }}</style><p>text</p>"
        f'<img src="{url}/logo.png?v=1"><img src="{url}/images/photo">'
    )
    page.wait_for_function("document.fonts.status === 'loaded'")
    page.wait_for_timeout(200)  # the failures reach Python

    assert sorted(address for address, _ in failed) == [
        f"{url}/fonts/f?x=1",
        f"{url}/images/photo",
        f"{url}/logo.png?v=1",
    ]
    assert all("BLOCKED_BY_CLIENT" in reason for _, reason in failed), failed
    assert f"{url}/static/sandbox.css?fresh=1" in finished


# A flaky system: what is safe to repeat is repeated, a POST never -------------------


def _fail_first(session: web.BrowserSession, pattern: str, times: int = 1) -> list[str]:
    """Answer the first ``times`` requests matching ``pattern`` with HTTP 500."""
    seen: list[str] = []

    def answer(route: Any) -> None:
        seen.append(route.request.method)
        if len(seen) <= times:
            route.fulfill(status=500, body="<h1>Internal Server Error</h1>")
        else:
            route.continue_()

    session.page.route(re.compile(pattern), answer)
    return seen


def test_a_page_that_answers_500_is_loaded_again(session: web.BrowserSession) -> None:
    """goto: the worklist fails twice, the third load shows it; two warnings."""
    seen = _fail_first(session, r"/worklist$", times=2)
    with structlog.testing.capture_logs() as logs:
        web.goto(session, "/worklist")
    assert ["GET", "GET", "GET"] == seen
    assert session.page.locator("#worklist").is_visible()
    assert 2 == sum(e["event"] == "page_reloaded" for e in logs)


def test_a_page_failing_more_often_than_the_retries_fails_the_step(
    session: web.BrowserSession,
) -> None:
    seen = _fail_first(session, r"/worklist$", times=3)
    with pytest.raises(TargetSystemError, match="HTTP 500 from GET"):
        web.goto(session, "/worklist")
    assert 3 == len(seen)  # transient_retries=2: three loads in all


def test_the_page_a_post_redirects_to_is_loaded_again_the_post_is_not(
    session: web.BrowserSession, live_sandbox: SandboxServer
) -> None:
    """The search went through; only the patient page it led to failed."""
    sent: list[str] = []
    session.page.on("request", lambda r: sent.append(f"{r.method} {_path(r.url)}"))
    planned = {"fail_next": {r"GET /patients/\d+": 1}}
    web.goto(session, "/patients/search")
    web.fill_form(session, {"CPR number": "170551-4514"})
    httpx.put(f"{live_sandbox.url}/api/faults", json=planned).raise_for_status()
    with structlog.testing.capture_logs() as logs:
        web.click(session, "Search")
    httpx.put(f"{live_sandbox.url}/api/faults", json={})
    patient_page = [s for s in sent if re.fullmatch(r"GET /patients/\d+", s)]
    assert 1 == sent.count("POST /patients/search")
    assert 2 == len(patient_page)
    assert session.page.locator("#patient-cpr").is_visible()
    assert ["page_reloaded"] == [e["event"] for e in logs if "reload" in e["event"]]


def _path(url: str) -> str:
    return re.sub(r"^[a-z]+://[^/]+|[?#].*$", "", url)


def test_a_post_that_answers_500_is_never_sent_again(
    session: web.BrowserSession,
) -> None:
    """Whether a failed POST went through is unknown: the step fails instead."""
    web.goto(session, "/patients/search")
    seen = _fail_first(session, r"/patients/search$", times=5)
    web.fill_form(session, {"CPR number": "170551-4514"})
    with pytest.raises(TargetSystemError, match="HTTP 500 from POST"):
        web.click(session, "Search")
    assert ["POST"] == seen


def test_a_link_into_an_expired_session_is_followed_after_logging_in(
    session: web.BrowserSession,
) -> None:
    web.goto(session, "/patients/search")
    web.fill_form(session, {"CPR number": "170551-4514"})
    web.click(session, "Search")
    session.context.clear_cookies()  # the EPJ forgot the session
    with structlog.testing.capture_logs() as logs:
        web.click(session, "Register lab result")
    assert re.search(r"/patients/\d+/lab-results/new$", session.page.url)
    assert ["session_renewed"] == [
        e["event"] for e in logs if e["event"] == "session_renewed"
    ]


def test_a_post_into_an_expired_session_logs_in_and_fails_the_step(
    session: web.BrowserSession, live_sandbox: SandboxServer
) -> None:
    """The form was not accepted; the item is retried on a fresh login."""
    web.goto(session, "/patients/search")
    web.fill_form(session, {"CPR number": "170551-4514"})
    session.context.clear_cookies()
    with pytest.raises(TargetSystemError, match="session had expired: POST"):
        web.click(session, "Search")
    web.goto(session, "/worklist")  # logged in again already
    assert not session.on_login_page()


def test_a_login_the_system_fails_once_is_tried_again(
    tmp_path: Path, browser: Browser, live_sandbox: SandboxServer
) -> None:
    url = live_sandbox.url
    opened = web.open_browser(
        _context(tmp_path, browser), web.BrowserOptions(base_url=url)
    )
    try:
        seen = _fail_first(opened, r"/login$", times=1)
        with structlog.testing.capture_logs() as logs:
            web.login(opened, _credentials(url))
        assert ["GET", "GET", "POST"] == seen
        assert 1 == sum(e["event"] == "login_retried" for e in logs)
        web.goto(opened, "/worklist")
    finally:
        opened.close()
