"""The sandbox driven through real headless Chromium, as a robot will drive it."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from sandbox import SandboxConfig, SandboxServer

pytestmark = pytest.mark.browser

ROBOT = ("robot", "robot-pass-1")


def _api(server: SandboxServer, path: str) -> list[dict[str, object]]:
    response = httpx.get(f"{server.url}{path}")
    response.raise_for_status()
    result: list[dict[str, object]] = response.json()
    return result


def _log_in(page: Page, username: str = ROBOT[0], password: str = ROBOT[1]) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _open_patient(page: Page, cpr: str) -> None:
    page.goto("/patients/search")
    page.get_by_label("CPR number").fill(cpr)
    page.get_by_role("button", name="Search").click()


def _first_patient(server: SandboxServer) -> dict[str, str]:
    patient: dict[str, str] = httpx.get(f"{server.url}/api/patients?limit=1").json()[0]
    return patient


def _register(page: Page, *, code: str, value: str, unit: str, sampled_at: str) -> None:
    page.get_by_role("link", name="Register lab result").click()
    expect(page.get_by_role("progressbar", name="Loading form")).to_be_hidden()
    page.get_by_label("Test code").select_option(code)
    page.get_by_label("Value").fill(value)
    page.get_by_label("Unit").fill(unit)
    page.get_by_label("Sampled at").fill(sampled_at)
    page.get_by_role("button", name="Save result").click()


def _yesterday_at_eight() -> str:
    return (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT08:00")


def test_wrong_password_then_login(page: Page) -> None:
    """A wrong password shows the message; the right one opens patient search."""
    _log_in(page, password="wrong")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    _log_in(page)
    expect(page.get_by_role("heading", name="Patient search")).to_be_visible()


def test_search_opens_the_patient_page(page: Page, live_sandbox: SandboxServer) -> None:
    """Searching a seeded CPR number opens that patient's page; unknown says so."""
    patient = _first_patient(live_sandbox)
    _log_in(page)
    _open_patient(page, "010101-0000")
    expect(page.get_by_role("alert")).to_have_text(
        "No patient found with that CPR number."
    )
    _open_patient(page, patient["cpr"])
    expect(page.locator("#patient-cpr")).to_have_text(patient["cpr"])
    name = f"{patient['first_name']} {patient['last_name']}"
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_register_lab_result_then_duplicate(
    page: Page, live_sandbox: SandboxServer
) -> None:
    """A lab result is registered once; the same sample again is refused with its id."""
    patient = _first_patient(live_sandbox)
    sampled_at = _yesterday_at_eight()
    _log_in(page)
    _open_patient(page, patient["cpr"])
    _register(page, code="NPU02319", value="8,4", unit="mmol/L", sampled_at=sampled_at)
    expect(page.get_by_role("heading", name="Lab result registered")).to_be_visible()
    registration_id = page.locator("#registration-id").inner_text()
    stored = _api(
        live_sandbox, f"/api/lab-results?cpr={patient['cpr']}&registered_by=robot"
    )
    assert [(int(registration_id), 8.4)] == [(r["id"], r["value"]) for r in stored]

    page.get_by_role("link", name="Back to the patient").click()
    expect(page.locator("#lab-results")).to_contain_text(registration_id)
    _register(page, code="NPU02319", value="8,4", unit="mmol/L", sampled_at=sampled_at)
    expect(page.get_by_role("alert")).to_have_text(
        f"Already registered (id {registration_id})."
    )
    assert 1 == len(_api(live_sandbox, "/api/lab-results?registered_by=robot"))


def test_validation_error_is_shown_beside_the_field(
    page: Page, live_sandbox: SandboxServer
) -> None:
    """A value outside the code's range is refused beside the field; none is saved."""
    patient = _first_patient(live_sandbox)
    _log_in(page)
    _open_patient(page, patient["cpr"])
    _register(
        page,
        code="NPU02319",
        value="99",
        unit="mmol/L",
        sampled_at=_yesterday_at_eight(),
    )
    value = page.get_by_label("Value")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#value-error")).to_contain_text("outside the plausible range")
    assert [] == _api(live_sandbox, "/api/lab-results?registered_by=robot")


def test_worklist_export_downloads_an_xlsx(page: Page, tmp_path: Path) -> None:
    """The worklist's Excel export downloads a workbook holding every filtered row."""
    _log_in(page)
    page.get_by_role("link", name="Worklist").click()
    page.get_by_label("Department").select_option("MED")
    page.get_by_role("button", name="Show").click()
    summary = page.locator("#worklist-summary").inner_text()
    total = int(re.search(r"\((\d+) results\)", summary).group(1))  # type: ignore[union-attr]
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export to Excel").click()
    target = tmp_path / "worklist.xlsx"
    download_info.value.save_as(target)
    sheet = load_workbook(io.BytesIO(target.read_bytes()), read_only=True)["Worklist"]
    rows = list(sheet.iter_rows(values_only=True))
    assert "Registration id" == rows[0][0]
    assert total == len(rows) - 1
    assert {"MED"} == {row[4] for row in rows[1:]}


def test_upload_a_document(page: Page, live_sandbox: SandboxServer) -> None:
    """A PDF uploaded with metadata is archived and listed on the patient."""
    patient = _first_patient(live_sandbox)
    _log_in(page)
    _open_patient(page, patient["cpr"])
    page.get_by_role("link", name="Documents").click()
    page.get_by_label("File (PDF, PNG or JPEG)").set_input_files(
        files=[{"name": "henvisning.pdf", "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4\n% fictitious\n%%EOF\n"}]
    )  # fmt: skip
    page.get_by_label("Document type").select_option("Henvisning")
    page.get_by_label("Document date").fill("2026-11-01")
    page.get_by_label("Title").fill("Henvisning fra egen læge")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("Document archived")
    expect(page.locator("#documents")).to_contain_text("Henvisning fra egen læge")
    stored = _api(live_sandbox, f"/api/documents?cpr={patient['cpr']}")
    assert [("Henvisning", "2026-11-01", "henvisning.pdf")] == [
        (d["doc_type"], d["doc_date"], d["filename"]) for d in stored
    ]


def test_board_task_marked_done(page: Page, live_sandbox: SandboxServer) -> None:
    """Marking a task done on the department board records one board change."""
    _log_in(page)
    page.get_by_role("link", name="Department board").click()
    done = page.locator("#board").get_by_role("button", name="Done").first
    label = done.get_attribute("aria-label")
    done.click()
    expect(page.get_by_role("status")).to_have_text("The task is marked done.")
    expect(page.get_by_role("button", name=label or "")).to_have_count(0)
    changes = _api(live_sandbox, "/api/board-changes")
    assert ["task_done"] == [change["kind"] for change in changes]


def test_forced_session_expiry_sends_to_login(
    page: Page, live_sandbox: SandboxServer
) -> None:
    """With session expiry forced, the browser lands on login with the expiry notice."""
    _log_in(page)
    httpx.put(f"{live_sandbox.url}/api/faults", json={"expire_every": 2})
    page.goto("/worklist")
    page.goto("/board")
    expect(page.get_by_role("status")).to_have_text(
        "Your session has expired. Please log in again."
    )
    expect(page).to_have_url(re.compile(r"/login\?expired=1"))


def test_notice_dialog_blocks_until_dismissed(browser: Browser, tmp_path: Path) -> None:
    """The System notice dialog covers the page until its OK button is clicked."""
    config = SandboxConfig(db_path=tmp_path / "notice.db", notice_probability=1.0)
    with SandboxServer(config) as server:
        context = browser.new_context(base_url=server.url)
        page = context.new_page()
        _log_in(page)
        dialog = page.get_by_role("dialog", name="System notice")
        expect(dialog).to_be_visible()
        with pytest.raises(PlaywrightTimeoutError, match="intercepts pointer events"):
            page.get_by_role("link", name="Worklist").click(timeout=1_000)
        dialog.get_by_role("button", name="OK").click()
        expect(dialog).to_have_count(0)
        page.get_by_role("link", name="Worklist").click()
        expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
        context.close()
