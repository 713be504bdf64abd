"""The console in a real headless Chromium, as operators use it.

The app is served by uvicorn on a free loopback port, on a project in ``tmp_path``
with a robot file, a schedule file and one run of a small robot through the engine:
one item done, two business exceptions and one failed item whose screenshot is a
real PNG, taken by the session's Chromium when the item failed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Locator, Page, expect
from pydantic import BaseModel

from robotlib import (
    ApplicationError,
    BusinessRuleError,
    Context,
    RetryPolicy,
    Robot,
)
from robotlib.console import create_app
from robotlib.console._accounts import AccountStore
from robotlib.engine import Engine
from robotlib.logs import configure_logging
from robotlib.project import Project
from robotlib.queue.models import ItemState, WorkItem
from robotlib.settings import load_settings

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
JOB = "lab_nightly"

ROBOT_FILE = '''\
"""A robot the schedule file names."""

from pydantic import BaseModel

from robotlib import Robot


class Row(BaseModel):
    cpr: str
    code: str


def process(ctx, item):
    return None


robot = Robot(name="lab", item=Row, reference=("cpr", "code"), process=process)
'''

SCHEDULE = f"""\
[jobs.{JOB}]
robot = "lab"
cron = "0 2 * * *"
description = "Register the night's lab results."
"""

DONE = ("010190-1234", "NPU02319")
NO_PATIENT = ("240512-4123", "NPU02319")
UNKNOWN_CODE = ("020290-2345", "NPU99999")
OFFLINE = ("030390-3456", "OFFLINE")


# A run through the engine, with a real screenshot -----------------------------------


class LabRow(BaseModel):
    """One lab result to register."""

    cpr: str
    code: str


class LabScreen:
    """The "lab system": a Chromium page; its screenshots are real PNG files."""

    name = "lab"

    def __init__(self, browser: Browser) -> None:
        self._context = browser.new_context(viewport={"width": 640, "height": 360})
        self._page = self._context.new_page()
        self._page.set_content(
            "<h1>Lab system</h1><p>Register lab result</p>"
            "<p style='color: #b00'>Service unavailable (HTTP 503)</p>"
        )

    def screenshot(self, path: Path) -> Path:
        self._page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self._context.close()


def process(ctx: Context, item: LabRow) -> dict[str, Any]:
    """Register one row; an offline lab is a system error, bad data a business one."""
    if item.code == "OFFLINE":
        raise ApplicationError("the lab system answered HTTP 503")
    if item.cpr == NO_PATIENT[0]:
        raise BusinessRuleError(f"No patient with CPR {item.cpr} in the lab system")
    if item.code == UNKNOWN_CODE[1]:
        raise BusinessRuleError(f"Unknown lab code {item.code}")
    return {"registration": 17}


def run_lab_robot(project: Project, browser: Browser) -> str:
    """Run the lab robot over four rows through the engine; return the run id."""
    configure_logging(
        project.settings, redactor=project.redactor, console_level="ERROR"
    )

    def open_lab(ctx: Context) -> None:
        ctx.open_application(LabScreen(browser))

    rows = [
        {"cpr": cpr, "code": code}
        for cpr, code in (DONE, NO_PATIENT, UNKNOWN_CODE, OFFLINE)
    ]
    robot = Robot(
        name="lab",
        item=LabRow,
        source=lambda input_path: rows,
        reference=("cpr", "code"),
        setup=open_lab,
        process=process,
        retry=RetryPolicy(attempts=1),
        stop_after_system_errors=0,
    )
    engine = Engine(
        robot,
        settings=project.settings,
        backend=project.backend,
        redactor=project.redactor,
        sleep=lambda seconds: None,
    )
    return engine.run().run_id


# Fixtures ---------------------------------------------------------------------------


@dataclass
class Console:
    """The served console, its project, the recorded run and a page factory."""

    url: str
    project: Project
    run_id: str
    open_page: Callable[..., Page]

    def item(self, row: tuple[str, str]) -> WorkItem:
        [found] = self.project.backend.items("lab", reference="|".join(row))
        return found


@pytest.fixture
def console(
    robot_project: Callable[[str], Path],
    browser: Browser,
    serve: Any,
) -> Iterator[Console]:
    """The project with its run and users (vera viewer, otto operator, ada admin),
    the console serving it, and fresh browser contexts for the test."""
    folder = robot_project(ROBOT_FILE)
    (folder / "schedules").mkdir()
    (folder / "schedules" / "nightly.toml").write_text(SCHEDULE, "utf-8")
    project = Project(load_settings(folder))
    run_id = run_lab_robot(project, browser)
    accounts = AccountStore(project.settings.database, hasher=PasswordHasher(**FAST))
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
        accounts.add(name, role, PASSWORD)
    with serve(create_app(project, accounts=accounts)) as served:
        yield Console(served.url, project, run_id, served.open_page)
    accounts.close()
    project.close()


# Helpers ----------------------------------------------------------------------------


def log_in(console: Console, name: str) -> Page:
    """Open the dashboard in a new browser, log in through the form; return the page."""
    page = console.open_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


def checkbox(page: Page, item: WorkItem) -> Locator:
    """The exception queue's checkbox of one item."""
    return page.get_by_role("checkbox", name=f"Select item {item.id}", exact=True)


def select(page: Page, *items: WorkItem) -> None:
    """Tick the items' checkboxes on the exception queue page."""
    for item in items:
        checkbox(page, item).check()


def retry(page: Page, *items: WorkItem) -> None:
    """Retry items on the exception queue page."""
    page.get_by_role("link", name="Exception queue").click()
    select(page, *items)
    page.get_by_label("Note").fill("CPR number and lab code fixed in the export")
    page.get_by_role("button", name="Retry selected").click()


def resolve(page: Page, item: WorkItem, note: str) -> None:
    """Resolve an item on the exception queue page, with a note."""
    page.get_by_role("link", name="Exception queue").click()
    select(page, item)
    page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Resolve selected").click()


def pause(page: Page, note: str) -> None:
    """Pause the nightly job on the schedules page, saying why."""
    page.get_by_role("link", name="Schedules").click()
    page.get_by_label("Why pause?").fill(note)
    page.get_by_role("button", name="Pause").click()


def png_width(path: Path) -> int:
    """The width in a PNG file's header."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
    width: int = struct.unpack(">I", data[16:20])[0]
    return width


# Tests ------------------------------------------------------------------------------


def test_operator_sees_the_night_and_the_failed_items_screenshot(
    console: Console,
) -> None:
    """After logging in, the dashboard shows the run and three items waiting; the
    run page shows its items and the failed item's screenshot, loaded."""
    page = log_in(console, "otto")

    expect(page.get_by_text("otto (operator)")).to_be_visible()
    expect(page.locator("#exceptions-total")).to_have_text("3")
    attention = page.get_by_role("region", name="Needs attention")
    expect(attention).to_contain_text("1 failed item; 2 business exceptions")
    runs = page.get_by_role("region", name="Last night's runs")
    expect(runs.get_by_role("row")).to_have_count(2)
    expect(runs.get_by_role("row").nth(1)).to_contain_text("completed")

    runs.get_by_role("link", name=console.run_id).click()

    expect(page.get_by_role("heading", name=f"Run {console.run_id}")).to_be_visible()
    items = page.get_by_role("region", name="Items")
    expect(items).to_contain_text("240512-****|NPU02319")
    expect(items).not_to_contain_text(NO_PATIENT[0])
    failed = console.item(OFFLINE)
    [shot_path] = failed.artifacts
    shot = page.get_by_role("img", name=f"Screenshot of item {failed.id}")
    shot.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete", arg=shot.element_handle())
    width = shot.evaluate("img => img.naturalWidth")
    expected = png_width(console.project.settings.logs / shot_path)
    assert (640, 640) == (expected, width)


def test_operator_retries_two_items_and_resolves_the_third(console: Console) -> None:
    """Retried items leave the queue with a message; resolving needs a note and
    empties it."""
    no_patient, unknown_code = console.item(NO_PATIENT), console.item(UNKNOWN_CODE)
    failed = console.item(OFFLINE)
    page = log_in(console, "otto")

    retry(page, no_patient, unknown_code)

    expect(page.get_by_role("status")).to_have_text("2 items sent back to the queue.")
    expect(checkbox(page, no_patient)).to_have_count(0)
    expect(checkbox(page, unknown_code)).to_have_count(0)
    expect(checkbox(page, failed)).to_be_visible()

    select(page, failed)
    page.get_by_role("button", name="Resolve selected").click()
    expect(page.get_by_role("status")).to_contain_text("write a note")
    expect(checkbox(page, failed)).to_be_visible()

    resolve(page, failed, "Result typed into the lab system by hand")

    expect(page.get_by_role("status")).to_have_text("1 item resolved.")
    expect(page.get_by_role("table")).to_contain_text("The exception queue is empty.")
    assert [ItemState.NEW, ItemState.NEW, ItemState.RESOLVED] == [
        console.item(row).state for row in (NO_PATIENT, UNKNOWN_CODE, OFFLINE)
    ]


def test_operator_pauses_the_nightly_job_with_a_note(console: Console) -> None:
    """The schedules page then shows the job paused, by whom and why, with Resume."""
    page = log_in(console, "otto")

    pause(page, "EPJ upgrade tonight")

    expect(page.get_by_role("status")).to_have_text(f"{JOB} paused.")
    row = page.get_by_role("row").filter(has_text=JOB)
    expect(row).to_contain_text("none while paused")
    expect(row).to_contain_text("paused by otto")
    expect(row).to_contain_text("EPJ upgrade tonight")
    expect(row.get_by_role("button", name="Resume")).to_be_visible()
    expect(row.get_by_role("button", name="Pause")).to_have_count(0)


def test_admin_finds_the_operators_actions_in_the_audit_trail(
    console: Console,
) -> None:
    """Login, retry, resolve and schedule_pause each appear, with who and what."""
    no_patient, failed = console.item(NO_PATIENT), console.item(OFFLINE)
    operator = log_in(console, "otto")
    retry(operator, no_patient)
    expect(operator.get_by_role("status")).to_have_text(
        "1 item sent back to the queue."
    )
    resolve(operator, failed, "Result typed into the lab system by hand")
    expect(operator.get_by_role("status")).to_have_text("1 item resolved.")
    pause(operator, "EPJ upgrade tonight")
    expect(operator.get_by_role("status")).to_have_text(f"{JOB} paused.")
    expect(operator.get_by_role("link", name="Audit trail")).to_have_count(0)

    admin = log_in(console, "ada")
    admin.get_by_role("link", name="Audit trail").click()

    expect(admin.get_by_role("heading", name="Audit trail")).to_be_visible()
    rows = admin.locator("#audit tbody tr").evaluate_all(
        "rows => rows.map(row => [...row.cells].map(cell => cell.innerText.trim()))"
    )
    seen = {(who, action, item) for _when, who, action, item, _note in rows}
    assert {
        ("otto", "login", ""),
        ("otto", "retry", str(no_patient.id)),
        ("otto", "resolve", str(failed.id)),
        ("otto", "schedule_pause", ""),
        ("ada", "login", ""),
    } <= seen
    notes = {action: note for _when, _who, action, _item, note in rows}
    assert "Result typed into the lab system by hand" == notes["resolve"]
    assert "EPJ upgrade tonight" in notes["schedule_pause"]


def test_a_viewer_sees_no_retry_resolve_or_pause(console: Console) -> None:
    """A viewer reads the queue and the schedules but gets no checkboxes or action
    buttons, and no audit trail link."""
    page = log_in(console, "vera")

    page.get_by_role("link", name="Exception queue").click()

    expect(page.get_by_role("table")).to_contain_text("240512-****|NPU02319")
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry selected")).to_have_count(0)
    expect(page.get_by_role("button", name="Resolve selected")).to_have_count(0)
    expect(page.get_by_text("Your role (viewer) can read the queue")).to_be_visible()
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)

    page.get_by_role("link", name="Schedules").click()

    expect(page.get_by_role("row").filter(has_text=JOB)).to_contain_text("active")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)


# The morning review ---------------------------------------------------------------


def test_a_failed_item_turns_the_dashboard_red_until_it_is_handled(
    console: Console,
) -> None:
    """The failed item makes "Needs attention" red; retried from its item page it
    clears, and the card says who handled it once the rest are resolved."""
    failed = console.item(OFFLINE)
    business = [console.item(NO_PATIENT), console.item(UNKNOWN_CODE)]
    page = log_in(console, "otto")
    card = page.locator("#attention")
    expect(card).to_have_class("card alarm")
    expect(card.locator("li.alarm")).to_contain_text("1 failed item")

    page.goto(f"/items/{failed.id}")
    actions = page.get_by_role("region", name="Handle this item")
    expect(actions).to_contain_text("precheck looks for it before saving again")
    actions.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_have_text("1 item sent back to the queue.")
    expect(page.locator("#state")).to_have_text("new")

    page.get_by_role("link", name="Dashboard").click()
    expect(card).to_have_class("card")
    expect(card).to_contain_text("1 failed item, all handled")
    for item in business:
        resolve(page, item, "Registered by hand in the lab system")
    page.get_by_role("link", name="Dashboard").click()

    expect(card).to_contain_text("Nothing waits")
    handled = page.locator("#handled")
    expect(handled).to_contain_text("otto retried 1")
    expect(handled).to_contain_text("otto resolved 2")


def test_resolving_on_the_item_page_needs_a_note(console: Console) -> None:
    """A business exception's page says to fix the data first; resolve with a
    note closes it, and the note is in its audit entries."""
    item = console.item(UNKNOWN_CODE)
    page = log_in(console, "otto")
    page.goto(f"/items/{item.id}")
    actions = page.get_by_role("region", name="Handle this item")
    expect(actions).to_contain_text("Fix the data in the source first")

    actions.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_contain_text("write a note")
    page.get_by_label("Note (required to resolve)").fill("Code corrected in the LIS")
    page.get_by_role("button", name="Resolve").click()

    expect(page.get_by_role("status")).to_have_text("1 item resolved.")
    expect(page.locator("#state")).to_have_text("resolved")
    expect(page.locator("#item-audit")).to_contain_text("Code corrected in the LIS")
    assert ItemState.RESOLVED == console.item(UNKNOWN_CODE).state


def test_an_operator_reveals_the_cpr_number_and_it_is_audited(
    console: Console,
) -> None:
    """One click shows the number in clear; the admin finds the reveal."""
    item = console.item(NO_PATIENT)
    page = log_in(console, "otto")
    page.goto(f"/items/{item.id}")
    expect(page.locator("#reference")).to_contain_text("240512-****")

    page.get_by_role("button", name="Show CPR number").click()

    expect(page.locator("#reference")).to_contain_text(NO_PATIENT[0])
    expect(page.locator("#reference")).to_contain_text("written to the audit trail")
    admin = log_in(console, "ada")
    admin.get_by_role("link", name="Audit trail").click()
    expect(admin.locator("#audit")).to_contain_text("reveal_cpr")


def test_a_viewer_can_not_reveal_a_cpr_number(console: Console) -> None:
    """No button, and a forged POST with the viewer's own token is refused."""
    item = console.item(NO_PATIENT)
    page = log_in(console, "vera")
    page.goto(f"/items/{item.id}")
    expect(page.get_by_role("button", name="Show CPR number")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")

    answer = page.request.post(
        f"/items/{item.id}/reveal", form={"csrf_token": token or ""}
    )

    assert 403 == answer.status
    assert NO_PATIENT[0] not in answer.text()
    assert [] == console.project.backend.audit_log(action="reveal_cpr")


def test_a_message_in_a_link_shows_nothing(console: Console) -> None:
    """A crafted link's ?message= puts no notice on the page."""
    page = log_in(console, "otto")

    page.goto("/exceptions?message=Your+session+expired%3A+log+in+at+evil.example")

    expect(page.get_by_role("heading", name="Exception queue")).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)
    expect(page.get_by_text("evil.example")).to_have_count(0)


def test_the_queue_pages_and_filters_at_size(console: Console) -> None:
    """With 250 more exceptions the queue shows 100 per page with a pager; the
    filters narrow it, a CPR number finds its row, and paging keeps the filters."""
    from robotlib.queue.models import NewItem

    console.project.backend.enqueue(
        "lab",
        [
            NewItem(f"{n % 28 + 1:02d}0190{n:04d}|NPU0{n}", {}, rejected=f"row {n}")
            for n in range(250)
        ],
    )
    page = log_in(console, "otto")
    page.get_by_role("link", name="Exception queue").click()
    rows = page.locator("#exceptions tbody tr")
    expect(rows).to_have_count(100)
    pager = page.get_by_role("navigation", name="Pages").first
    expect(pager).to_contain_text("1\N{EN DASH}100 of 253 (page 1 of 3)")

    pager.get_by_role("link", name="last »").click()
    expect(rows).to_have_count(53)

    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("failed")

    page.get_by_label("State").select_option("")
    page.get_by_label("Reference").fill("0101907000")  # no such patient
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("No item matches these filters.")

    page.get_by_label("Reference").fill(NO_PATIENT[0])
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("240512-****|NPU02319")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    assert 2 == len(text.splitlines())
    assert "240512-****|NPU02319" in text and NO_PATIENT[0] not in text
