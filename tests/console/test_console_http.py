"""The console over HTTP: logging in, roles, CSRF tokens, rate limiting, headers,
and the operator actions landing in the queue and the audit trail.

A real project (SQLite queue, a robot, a schedule file) behind the real app,
through Starlette's TestClient.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from robotlib.console import create_app
from robotlib.console._accounts import AccountStore
from robotlib.console._login_limiter import LoginLimiter
from robotlib.project import Project
from robotlib.queue.models import Handoff, ItemState, NewItem, RunStatus, WorkItem
from robotlib.settings import load_settings
from robotlib.versions import CodeVersion

PASSWORD = "correct horse battery"
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
RUN_ID = "20261123T020000Z-abc123"
CODE = CodeVersion("0.1.0", "ab" * 32, "c" * 40)

ROBOT = '''\
"""A robot the schedule file names."""

from pydantic import BaseModel

from robotlib import Robot


class Row(BaseModel):
    cpr: str


robot = Robot(name="lab", item=Row, reference=("cpr",), process=lambda c, i: None)
'''

SCHEDULE = """\
[jobs.lab_nightly]
robot = "lab"
cron = "0 2 * * *"
description = "Register the night's lab results."
"""


class Console:
    """The app, its project and the items of one recorded run."""

    def __init__(self, project: Project, client: TestClient) -> None:
        self.project = project
        self.client = client

    def item(self, reference: str) -> WorkItem:
        [found] = self.project.backend.items("lab", reference=reference)
        return found


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    """A project with a run of three items (done, business exception, failed),
    users of each role, and the console app on it."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "project"
    (folder / "robots").mkdir(parents=True)
    (folder / "robots" / "lab.py").write_text(ROBOT, "utf-8")
    (folder / "schedules").mkdir()
    (folder / "schedules" / "nightly.toml").write_text(SCHEDULE, "utf-8")
    project = Project(load_settings(folder))
    _record_run(project)
    accounts = AccountStore(project.settings.database, hasher=PasswordHasher(**FAST))
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
        accounts.add(name, role, PASSWORD)
    app = create_app(project, accounts=accounts, limiter=LoginLimiter())
    with TestClient(
        app, base_url="http://127.0.0.1", headers={"Accept-Language": "en"}
    ) as client:
        yield Console(project, client)
    accounts.close()
    project.close()


def _record_run(project: Project) -> None:
    backend = project.backend
    backend.start_run(RUN_ID, "lab", host="vm", pid=1, version=CODE)
    backend.enqueue(
        "lab",
        [NewItem(cpr, {"cpr": cpr}) for cpr in ("010190-1234", "240512-4123", "3")],
        run_id=RUN_ID,
    )
    lease = timedelta(minutes=5)
    first = backend.claim_next("lab", owner="w", lease=lease, run_id=RUN_ID)
    assert first is not None
    backend.complete(first.id, owner="w", output={"registration_id": 7})
    second = backend.claim_next("lab", owner="w", lease=lease, run_id=RUN_ID)
    assert second is not None
    backend.business_exception(
        second.id,
        owner="w",
        error_type="BusinessRuleError",
        message="No patient with CPR number 240512-4123 in the EPJ",
    )
    third = backend.claim_next("lab", owner="w", lease=lease, run_id=RUN_ID)
    assert third is not None
    backend.fail(
        third.id,
        owner="w",
        error_type="TimeoutError",
        message="EPJ timed out",
        retry_at=None,
    )
    counts = {"done": 1, "business_exception": 1, "failed": 1}
    backend.finish_run(RUN_ID, status=RunStatus.COMPLETED, counts=counts)


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> int:
    """Log in through the form as a browser does; return the POST's status."""
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"username": name, "password": password, "login_token": token[1]},
        follow_redirects=False,
    )
    return answer.status_code


def csrf(client: TestClient, page: str = "/exceptions") -> str:
    """The session's CSRF token, as a page's forms carry it."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found[1]


# Logging in ---------------------------------------------------------------------------


def test_every_page_needs_a_login(console: Console) -> None:
    """Without a session a page redirects to the login page, and back after."""
    client = console.client
    for page in ("/", "/exceptions", f"/runs/{RUN_ID}", "/schedules", "/audit"):
        answer = client.get(page, follow_redirects=False)
        assert 303 == answer.status_code, page
        assert answer.headers["location"].startswith("/login?next=%2F")

    form = client.get("/login?next=/exceptions").text
    token = re.search(r'name="login_token" value="([^"]+)"', form)
    assert token is not None
    answer = client.post(
        "/login",
        data={
            "username": "vera",
            "password": PASSWORD,
            "login_token": token[1],
            "next": "/exceptions",
        },
        follow_redirects=False,
    )
    assert ("/exceptions", 303) == (answer.headers["location"], answer.status_code)


def test_the_session_cookie_is_httponly_and_samesite(console: Console) -> None:
    """The session cookie cannot be read by scripts nor sent by other sites."""
    form = console.client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = console.client.post(
        "/login",
        data={"username": "ada", "password": PASSWORD, "login_token": token[1]},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "rpa_console_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    [login] = console.project.backend.audit_log(action="login")
    assert ("ada", "from testclient") == (login.actor, login.note)


def test_a_login_post_without_its_token_is_refused(console: Console) -> None:
    """The login form is protected too (double-submit cookie): no token, no login."""
    console.client.get("/login")
    answer = console.client.post(
        "/login", data={"username": "ada", "password": PASSWORD}
    )
    assert 403 == answer.status_code
    assert 302 != console.client.get("/", follow_redirects=False).status_code
    assert [] == console.project.backend.audit_log(action="login")


def test_a_wrong_password_is_rate_limited(console: Console) -> None:
    """Five wrong passwords, then even the right one waits, with Retry-After."""
    statuses = [log_in(console.client, "otto", "wrong password!") for _ in range(5)]
    assert [401] * 5 == statuses

    form = console.client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = console.client.post(
        "/login",
        data={"username": "otto", "password": PASSWORD, "login_token": token[1]},
        follow_redirects=False,
    )

    assert 429 == answer.status_code
    assert 0 < int(answer.headers["retry-after"]) <= 15 * 60
    assert "Too many failed logins" in answer.text
    failures = console.project.backend.audit_log(action="login_failed")
    assert 5 == len(failures) and {"otto"} == {entry.actor for entry in failures}


def test_logging_out_ends_the_session(console: Console) -> None:
    """After logout the old session cookie opens nothing."""
    assert 303 == log_in(console.client, "vera")
    cookie = console.client.cookies.get("rpa_console_session")
    token = csrf(console.client)

    answer = console.client.post(
        "/logout", data={"csrf_token": token}, follow_redirects=False
    )

    assert 303 == answer.status_code
    console.client.cookies.set("rpa_console_session", cookie or "")
    assert 303 == console.client.get("/", follow_redirects=False).status_code
    assert ["logout", "login"] == [
        entry.action for entry in console.project.backend.audit_log(actor="vera")
    ]


# Roles and CSRF -----------------------------------------------------------------------


def test_a_viewer_reads_every_page_but_the_audit_trail(console: Console) -> None:
    """Viewers see runs, items and schedules (CPR masked); the audit page is
    for admins."""
    assert 303 == log_in(console.client, "vera")
    item = console.item("240512-4123")
    for page in ("/", "/exceptions", f"/runs/{RUN_ID}", f"/items/{item.id}"):
        answer = console.client.get(page)
        assert 200 == answer.status_code, page
        assert "240512-4123" not in answer.text, page
    assert "lab_nightly" in console.client.get("/schedules").text
    assert "240512-****" in console.client.get("/exceptions").text
    assert 403 == console.client.get("/audit").status_code


def test_a_viewers_post_is_refused(console: Console) -> None:
    """A viewer cannot retry, resolve or pause, even with a valid CSRF token."""
    assert 303 == log_in(console.client, "vera")
    token = csrf(console.client)
    item = console.item("240512-4123")

    for action, data in (
        ("/exceptions/retry", {"item": str(item.id)}),
        ("/exceptions/resolve", {"item": str(item.id), "note": "entered by hand"}),
        ("/schedules/lab_nightly/pause", {"note": "EPJ upgrade"}),
    ):
        answer = console.client.post(action, data={"csrf_token": token, **data})
        assert 403 == answer.status_code, action
        assert "this needs the operator role" in answer.text

    assert ItemState.BUSINESS_EXCEPTION == console.item("240512-4123").state
    assert [] == console.project.backend.audit_log(item_id=item.id)


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_post_without_the_right_token_is_refused(
    console: Console, token: str | None
) -> None:
    """An operator's POST without the session's CSRF token changes nothing."""
    assert 303 == log_in(console.client, "otto")
    item = console.item("240512-4123")
    data = {"item": str(item.id)}
    if token is not None:
        data["csrf_token"] = token

    answer = console.client.post("/exceptions/retry", data=data)

    assert 403 == answer.status_code
    assert "Form refused" in answer.text
    assert ItemState.BUSINESS_EXCEPTION == console.item("240512-4123").state


# Operator actions -----------------------------------------------------------------


def test_an_operator_retries_and_resolves_with_audit(console: Console) -> None:
    """Retry sends items back to the queue; resolve needs a note; both audited."""
    assert 303 == log_in(console.client, "otto")
    token = csrf(console.client)
    excepted = console.item("240512-4123")
    failed = console.item("3")

    retried = console.client.post(
        "/exceptions/retry",
        data={"csrf_token": token, "item": [str(excepted.id)], "note": "CPR fixed"},
    )
    unnoted = console.client.post(
        "/exceptions/resolve", data={"csrf_token": token, "item": [str(failed.id)]}
    )
    resolved = console.client.post(
        "/exceptions/resolve",
        data={"csrf_token": token, "item": [str(failed.id)], "note": "typed in"},
    )

    assert "1 item sent back to the queue." in retried.text
    assert "write a note" in unnoted.text
    assert "1 item resolved." in resolved.text
    assert ItemState.NEW == console.item("240512-4123").state
    assert ItemState.RESOLVED == console.item("3").state
    assert [("otto", "resolve", failed.id), ("otto", "retry", excepted.id)] == [
        (entry.actor, entry.action, entry.item_id)
        for entry in console.project.backend.audit_log()
        if entry.item_id is not None
    ]


def test_an_operator_pauses_and_resumes_a_schedule(console: Console) -> None:
    """Pause needs a reason; the schedules page shows who paused and why."""
    assert 303 == log_in(console.client, "otto")
    token = csrf(console.client, "/schedules")

    paused = console.client.post(
        "/schedules/lab_nightly/pause",
        data={"csrf_token": token, "note": "EPJ upgrade tonight"},
    )
    assert "lab_nightly paused." in paused.text
    assert "paused by otto" in paused.text and "EPJ upgrade tonight" in paused.text

    resumed = console.client.post(
        "/schedules/lab_nightly/resume", data={"csrf_token": token}
    )
    unknown = console.client.post(
        "/schedules/no_such_job/resume", data={"csrf_token": token}
    )

    assert "lab_nightly resumed." in resumed.text
    assert "no_such_job not resumed: no valid scheduled job" in unknown.text
    assert ["schedule_resume", "schedule_pause"] == [
        entry.action
        for entry in console.project.backend.audit_log(actor="otto")
        if entry.action.startswith("schedule")
    ]


def test_the_admin_reads_the_audit_trail(console: Console) -> None:
    """The audit page lists every action, filterable by who did it."""
    assert 303 == log_in(console.client, "ada")
    console.project.backend.record_audit(
        actor="otto", action="retry", note="CPR fixed", item_id=2
    )

    page = console.client.get("/audit", params={"actor": "otto"})

    assert 200 == page.status_code
    assert "CPR fixed" in page.text
    assert "from testclient" not in page.text, "ada's login is filtered out"


def test_notes_typed_by_people_show_cpr_numbers_masked(console: Console) -> None:
    """A CPR number typed into a note is masked on the audit and schedules pages."""
    assert 303 == log_in(console.client, "ada")
    token = csrf(console.client, "/schedules")
    console.client.post(
        "/schedules/lab_nightly/pause",
        data={"csrf_token": token, "note": "wait for 240512-4123's data"},
    )

    for page in ("/audit", "/schedules"):
        text = console.client.get(page).text
        assert "240512-****" in text, page
        assert "240512-4123" not in text, page


def test_the_api_description_is_not_served(console: Console) -> None:
    """No OpenAPI document or docs pages: the console is pages, not an API."""
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert 404 == console.client.get(path).status_code, path


# Pages and files ------------------------------------------------------------------


def test_pages_are_not_cached_framed_or_sniffed(console: Console) -> None:
    """Pages with patient data: no-store, no framing, a strict CSP."""
    assert 303 == log_in(console.client, "vera")
    headers = console.client.get("/").headers
    assert "no-store" == headers["cache-control"]
    assert "DENY" == headers["x-frame-options"]
    assert "nosniff" == headers["x-content-type-options"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_run_page_filters_items_and_refuses_paths_outside_the_run(
    console: Console,
) -> None:
    """The run page filters by outcome and finds a masked row by its CPR number;
    file downloads stay inside the run folder."""
    assert 303 == log_in(console.client, "vera")
    page = console.client.get(
        f"/runs/{RUN_ID}", params={"outcome": "business_exception"}
    )
    found = console.client.get(f"/runs/{RUN_ID}", params={"search": "240512-4123"})
    bad = console.client.get(f"/runs/{RUN_ID}", params={"outcome": "bogus"})
    escape = console.client.get(f"/runs/{RUN_ID}/files/..%2F..%2Frpa.toml")

    assert "240512-****" in page.text and "010190-****" not in page.text
    assert "240512-****" in found.text and "010190-****" not in found.text
    assert 400 == bad.status_code
    assert 404 == escape.status_code
    assert 404 == console.client.get("/runs/no-such-run").status_code


def test_secure_cookies_when_asked(tmp_path: Path) -> None:
    """Behind HTTPS, --secure-cookies marks the session cookie Secure."""
    (tmp_path / "robots").mkdir()
    project = Project(load_settings(tmp_path))
    accounts = AccountStore(project.settings.database, hasher=PasswordHasher(**FAST))
    app = create_app(project, accounts=accounts, secure_cookies=True)
    accounts.add("ada", "admin", PASSWORD)
    with TestClient(
        app, base_url="https://127.0.0.1", headers={"Accept-Language": "en"}
    ) as client:
        form = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        answer = client.post(
            "/login",
            data={"username": "ada", "password": PASSWORD, "login_token": token[1]},
            follow_redirects=False,
        )
    assert "secure" in form.headers["set-cookie"].lower()
    assert "secure" in answer.headers["set-cookie"].lower()
    accounts.close()
    project.close()


def test_dashboard_shows_the_night(console: Console) -> None:
    """The dashboard lists the run, the exception count and the chart."""
    assert 303 == log_in(console.client, "vera")
    page = console.client.get("/").text
    assert RUN_ID in page
    assert re.search(r'id="exceptions-total">2<', page)
    assert "<svg" in page and 'role="img"' in page


def test_the_timeline_hides_steps_unless_asked(console: Console) -> None:
    """A run's timeline shows items and problems; every step on request."""
    run_dir = console.project.settings.logs / "lab" / RUN_ID
    run_dir.mkdir(parents=True)
    lines = [
        '{"event": "item_started", "level": "info", "item_id": 1, '
        '"timestamp": "2026-11-23T02:00:01Z"}',
        '{"event": "step_finished", "level": "info", "step": "goto", '
        '"duration_ms": 33.1, "timestamp": "2026-11-23T02:00:02Z"}',
        '{"event": "item_business_exception", "level": "warning", "item_id": 2, '
        '"reason": "No patient 240512-4123", "timestamp": "2026-11-23T02:00:03Z"}',
    ]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    assert 303 == log_in(console.client, "vera")

    short = console.client.get(f"/runs/{RUN_ID}").text
    full = console.client.get(f"/runs/{RUN_ID}", params={"steps": "true"}).text

    assert "item_business_exception" in short and "step_finished" not in short
    assert "step_finished" in full and "goto" in full
    assert "240512-4123" not in full


# The morning review: notices, needs attention, the item page, reveals, traces -------


def test_a_message_in_the_url_is_never_shown(console: Console) -> None:
    """?message= puts no text on a page: notices come from the session only."""
    assert 303 == log_in(console.client, "otto")
    bait = "Call 5555 and <a href='//evil.example'>log in here</a>"

    for path in ("/", "/exceptions", f"/runs/{RUN_ID}", "/schedules"):
        page = console.client.get(path, params={"message": bait})
        assert "evil.example" not in page.text, path
        assert 'role="status"' not in page.text, path


def test_a_notice_is_shown_once_after_the_action(console: Console) -> None:
    """Post/redirect/get: the notice waits in the session for one page."""
    assert 303 == log_in(console.client, "otto")
    token = csrf(console.client)
    excepted = console.item("240512-4123")

    answer = console.client.post(
        "/exceptions/retry",
        data={"csrf_token": token, "item": [str(excepted.id)]},
        follow_redirects=False,
    )
    first = console.client.get(answer.headers["location"])
    again = console.client.get(answer.headers["location"])

    assert "/exceptions" == answer.headers["location"]
    assert "1 item sent back to the queue." in first.text
    assert "sent back" not in again.text


def attention(client: TestClient) -> str:
    """The dashboard's "Needs attention" card, as HTML."""
    page = client.get("/").text
    start = page.index('id="attention"')
    return page[start : page.index("</section>", start)]


def test_needs_attention_clears_when_the_items_are_handled(console: Console) -> None:
    """The card counts the items waiting now, turns red for failed ones, and says
    who handled them once they are retried or resolved."""
    assert 303 == log_in(console.client, "otto")
    before = attention(console.client)
    token = csrf(console.client)
    excepted, failed = console.item("240512-4123"), console.item("3")

    console.client.post(
        "/exceptions/retry", data={"csrf_token": token, "item": [str(failed.id)]}
    )
    half = attention(console.client)
    console.client.post(
        "/exceptions/resolve",
        data={"csrf_token": token, "item": [str(excepted.id)], "note": "typed in"},
    )
    after = attention(console.client)

    assert "alarm" in before
    assert "1 failed item; 1 business exception" in before
    assert "alarm" not in half
    assert "1 failed item, all handled; 1 business exception" in half
    assert "otto retried 1" in half
    assert "Nothing waits" in after
    assert "otto retried 1" in after and "otto resolved 1" in after


def test_the_item_page_gives_advice_and_actions_by_state(console: Console) -> None:
    """A failed item: retry, the precheck looks first; a business exception: fix
    the data first. Retry from the item page comes back to it."""
    assert 303 == log_in(console.client, "otto")
    excepted, failed = console.item("240512-4123"), console.item("3")

    failed_page = console.client.get(f"/items/{failed.id}").text
    excepted_page = console.client.get(f"/items/{excepted.id}").text
    token = csrf(console.client, f"/items/{failed.id}")
    answer = console.client.post(
        "/exceptions/retry",
        data={
            "csrf_token": token,
            "item": [str(failed.id)],
            "back": f"/items/{failed.id}",
        },
        follow_redirects=False,
    )
    shown = console.client.get(answer.headers["location"]).text

    assert "precheck looks for it before saving again" in failed_page
    assert "Fix the data in the source first" in excepted_page
    assert 'formaction="/exceptions/retry"' in failed_page
    assert f"/items/{failed.id}" == answer.headers["location"]
    assert "1 item sent back to the queue." in shown
    assert "Handle this item" not in shown  # new again: nothing to handle
    assert "business exception" in excepted_page  # the state by its name


def test_back_never_leads_off_the_site(console: Console) -> None:
    """The form's back field is a path on this site, whatever it says."""
    assert 303 == log_in(console.client, "otto")
    token = csrf(console.client)

    answer = console.client.post(
        "/exceptions/retry",
        data={"csrf_token": token, "back": "//evil.example/"},
        follow_redirects=False,
    )

    assert "/" == answer.headers["location"]


def test_an_operator_reveals_one_cpr_number_audited(console: Console) -> None:
    """The reveal shows the CPR number in clear once and writes who saw it; the
    item page itself stays masked."""
    assert 303 == log_in(console.client, "otto")
    excepted = console.item("240512-4123")
    token = csrf(console.client, f"/items/{excepted.id}")

    plain = console.client.get(f"/items/{excepted.id}").text
    revealed = console.client.post(
        f"/items/{excepted.id}/reveal", data={"csrf_token": token}
    )

    assert "240512-4123" not in plain and "240512-****" in plain
    assert 200 == revealed.status_code
    assert "240512-4123" in revealed.text
    [entry] = console.project.backend.audit_log(action="reveal_cpr")
    assert ("otto", excepted.id) == (entry.actor, entry.item_id)
    assert "240512-4123" not in entry.note


def test_a_viewer_can_not_reveal_a_cpr_number(console: Console) -> None:
    """No button for a viewer, and the POST is refused, unaudited."""
    assert 303 == log_in(console.client, "vera")
    excepted = console.item("240512-4123")
    page = console.client.get(f"/items/{excepted.id}").text
    token = csrf(console.client, f"/items/{excepted.id}")

    answer = console.client.post(
        f"/items/{excepted.id}/reveal", data={"csrf_token": token}
    )

    assert "Show CPR number" not in page
    assert 403 == answer.status_code
    assert "240512-4123" not in answer.text
    assert [] == console.project.backend.audit_log(action="reveal_cpr")


def write_trace(console: Console, item: WorkItem) -> str:
    """A trace file in the run folder as the engine names them; its relative path."""
    folder = console.project.settings.logs / "lab" / RUN_ID
    folder.mkdir(parents=True, exist_ok=True)
    name = f"item-{item.id}-attempt-1-epj-trace.zip"
    (folder / name).write_bytes(b"PK\x05\x06" + bytes(18))
    return name


def test_traces_are_for_operators_and_each_download_is_audited(
    console: Console,
) -> None:
    """A viewer is refused a trace; an operator gets it, and the audit says so."""
    failed = console.item("3")
    name = write_trace(console, failed)

    assert 303 == log_in(console.client, "vera")
    refused = console.client.get(f"/runs/{RUN_ID}/files/{name}")
    viewer_page = console.client.get(f"/runs/{RUN_ID}").text
    console.client.cookies.clear()
    assert 303 == log_in(console.client, "otto")
    served = console.client.get(f"/runs/{RUN_ID}/files/{name}")

    assert 403 == refused.status_code
    assert name not in viewer_page
    assert 200 == served.status_code
    [entry] = console.project.backend.audit_log(action="download_trace")
    assert ("otto", failed.id) == (entry.actor, entry.item_id)
    assert name in entry.note


def test_times_are_shown_with_their_zone(console: Console) -> None:
    """Every time on the pages names its zone (CET or CEST in Copenhagen)."""
    assert 303 == log_in(console.client, "otto")

    page = console.client.get(f"/runs/{RUN_ID}").text

    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", page)


# At size: 3,000 exceptions ----------------------------------------------------------

BIG_RUN = "20261124T020000Z-big000"
BIG = 3000


def cpr_of(number: int) -> str:
    """A distinct CPR-like number per item (day 01-28, month 01-12)."""
    return f"{number % 28 + 1:02d}{number % 12 + 1:02d}90{number:04d}"


@pytest.fixture
def big(console: Console) -> Console:
    """3,000 business exceptions in one run, with an event log of 9,000 lines."""
    backend = console.project.backend
    backend.start_run(BIG_RUN, "lab", host="vm", pid=2)
    backend.enqueue(
        "lab",
        [
            NewItem(
                cpr_of(n),
                {"cpr": cpr_of(n)},
                rejected=f"row {n + 2}: no patient with CPR {cpr_of(n)} in the EPJ",
            )
            for n in range(BIG)
        ],
        run_id=BIG_RUN,
    )
    backend.finish_run(
        BIG_RUN, status=RunStatus.COMPLETED, counts={"business_exception": BIG}
    )
    folder = console.project.settings.logs / "lab" / BIG_RUN
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        '{"timestamp": "2026-11-24T02:00:00+00:00", "level": "warning", '
        f'"event": "item_business_exception", "item": "{cpr_of(n)}", "n": {k}}}'
        for n in range(BIG)
        for k in range(3)
    ]
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    return console


FULL_CPR = re.compile(r"(?<!\d)\d{6}-?\d{4}(?!\d)")


def test_every_page_stays_small_with_3000_exceptions(big: Console) -> None:
    """The queue, its last page, a filtered view, the run page and the dashboard
    are each under 250 KB, and none shows a full CPR number."""
    assert 303 == log_in(big.client, "otto")

    pages = {
        path: big.client.get(path)
        for path in (
            "/",
            "/exceptions",
            "/exceptions?page=31",
            "/exceptions?state=business_exception&robot=lab",
            f"/runs/{BIG_RUN}",
            f"/runs/{BIG_RUN}?page=30&events=45&steps=true",
        )
    }

    for path, page in pages.items():
        assert 200 == page.status_code, path
        assert len(page.content) < 250_000, (path, len(page.content))
        assert not FULL_CPR.search(page.text), path
    assert "3002 of 3002" in pages["/exceptions?page=31"].text  # 3000 + the 2
    assert "page 31 of 31" in pages["/exceptions?page=31"].text
    assert (
        "page 45 of 45" in pages[f"/runs/{BIG_RUN}?page=30&events=45&steps=true"].text
    )


def test_the_queue_filters_by_state_error_date_and_reference(big: Console) -> None:
    """Each filter narrows the list; a full CPR number finds its masked row."""
    assert 303 == log_in(big.client, "otto")
    wanted = cpr_of(1234)

    def count(**params: str) -> int:
        page = big.client.get("/exceptions", params=params).text
        return len(re.findall(r'name="item" value="\d+"', page))

    assert 100 == count()
    assert 1 == count(state="failed")
    assert 1 == count(error="TimeoutError")
    assert 1 == count(search=wanted)
    assert 0 == count(search=wanted[:7])  # a part of a hidden serial finds nothing
    assert 0 == count(since="2999-01-01")
    assert 100 == count(until="2999-01-01")
    assert (
        400 == big.client.get("/exceptions", params={"since": "yesterday"}).status_code
    )
    assert 400 == big.client.get("/exceptions", params={"state": "done"}).status_code


def test_the_csv_export_holds_every_filtered_row_masked(big: Console) -> None:
    """The export has the filtered rows, all of them, for Excel, CPR masked."""
    assert 303 == log_in(big.client, "vera")

    every = big.client.get("/exceptions.csv")
    failed = big.client.get("/exceptions.csv", params={"state": "failed"})
    run = big.client.get(f"/runs/{BIG_RUN}/items.csv")

    text = every.content.decode("utf-8-sig")
    assert every.headers["content-type"].startswith("text/csv")
    assert "attachment" in every.headers["content-disposition"]
    assert every.content.startswith(b"\xef\xbb\xbf")
    assert 1 + BIG + 2 == len(text.splitlines())
    assert text.splitlines()[0].startswith("item;robot;reference;state")
    assert 2 == len(failed.content.decode("utf-8-sig").splitlines())
    assert 1 + BIG == len(run.content.decode("utf-8-sig").splitlines())
    for body in (every, failed, run):
        assert not FULL_CPR.search(body.content.decode("utf-8-sig"))
    assert "-****" in text


def test_run_and_item_pages_name_the_code_that_ran(console: Console) -> None:
    """The run page and each item's page show robotlib's version, the robot file's
    SHA-256 and the commit (short, the whole in its title); in Danish too."""
    assert 303 == log_in(console.client, "vera")
    item = console.item("010190-1234")
    pages = [
        console.client.get(f"/runs/{RUN_ID}"),
        console.client.get(f"/items/{item.id}"),
    ]
    danish = console.client.get(f"/runs/{RUN_ID}", headers={"Accept-Language": "da"})

    for page in pages:
        assert "robotlib 0.1.0" in page.text
        assert f'<code title="{"ab" * 32}">{"ab" * 6}</code>' in page.text
        assert f'<code title="{"c" * 40}">{"c" * 12}</code>' in page.text
    assert "robotfilens SHA-256" in danish.text


def test_item_page_shows_priority_and_deadline(console: Console) -> None:
    """An item the robot gave a priority and deadline shows both, in local time;
    one without neither shows no such row."""
    deadline = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)  # 06:00 in Copenhagen
    console.project.backend.enqueue(
        "lab", [NewItem("urgent", {"cpr": "4"}, priority=10, deadline=deadline)]
    )
    assert 303 == log_in(console.client, "vera")

    urgent = console.client.get(f"/items/{console.item('urgent').id}").text
    plain = console.client.get(f"/items/{console.item('3').id}").text

    assert '<td id="priority">10</td>' in urgent
    assert "\N{EN DASH} · 2026-12-08 06:00" in urgent
    assert 'id="priority"' not in plain


def test_a_signed_in_user_reads_the_metrics(console: Console) -> None:
    """Without a metrics token configured, /metrics is for signed-in users: 401
    before signing in, the figures after."""
    before = console.client.get("/metrics")
    assert 303 == log_in(console.client, "vera")

    after = console.client.get("/metrics")

    assert (401, 200) == (before.status_code, after.status_code)
    assert 'rpa_items{robot="lab",state="done"} 1.0' in after.text


def test_item_pages_link_parent_and_children(console: Console) -> None:
    """An item that handed work off links its child, and the child its parent."""
    backend = console.project.backend
    backend.enqueue("lab", [NewItem("parent", {"cpr": "5"})])
    parent = backend.claim_next(
        "lab", owner="w", lease=timedelta(minutes=5), run_id=RUN_ID
    )
    assert parent is not None and parent.reference == "parent"
    letter = Handoff("letters", NewItem("parent", {"to": "GP"}))
    backend.complete(parent.id, owner="w", output={}, handoffs=[letter])
    [child] = backend.items("letters")
    assert 303 == log_in(console.client, "vera")

    shown_parent = console.client.get(f"/items/{parent.id}").text
    shown_child = console.client.get(f"/items/{child.id}").text

    assert f'<a href="/items/{child.id}">item {child.id}</a> (letters, ' in shown_parent
    assert f'<a href="/items/{parent.id}">item {parent.id}</a> (lab, ' in shown_child
