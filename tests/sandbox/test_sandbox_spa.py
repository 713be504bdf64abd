"""The sandbox EPJ as a single-page application: its JSON API and its traps."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from sandbox.config import Faults
from sandbox.forms import local_now
from sandbox.server import SandboxServer

TEST_PATIENT = "170551-4514"


def _sample_time() -> str:
    moment = (local_now() - timedelta(days=1)).replace(hour=8, minute=7)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _token(client: TestClient) -> dict[str, str]:
    answer = client.post(
        "/spa/api/login", json={"username": "robot", "password": "robot-pass-1"}
    )
    assert 200 == answer.status_code, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _entry(**changes: str) -> dict[str, str]:
    code = json.dumps({"code": "NPU02319", "v": 1}, separators=(",", ":"))
    entry = {"code": code, "value": "7,5", "unit": "mmol/L"}
    return entry | {"sampled_at": _sample_time(), "comment": ""} | changes


def test_api_registers_refuses_and_answers_a_repeat(
    make_client: Callable[..., TestClient],
) -> None:
    """201 with the id; 422 with errors by field; 409 naming the one already there."""
    client = make_client(login=False)
    headers = _token(client)
    found = client.get(f"/spa/api/patients?cpr={TEST_PATIENT}", headers=headers)
    patient = found.json()["patients"][0]["id"]
    url = f"/spa/api/patients/{patient}/lab-results"

    saved = client.post(url, json=_entry(), headers=headers)
    refused = client.post(url, json=_entry(value="high", unit=""), headers=headers)
    again = client.post(url, json=_entry(), headers=headers)

    assert 201 == saved.status_code
    assert 422 == refused.status_code
    assert {"value", "unit"} == set(refused.json()["errors"])
    assert (409, {"duplicate_id": saved.json()["id"]}) == (
        again.status_code,
        again.json(),
    )
    shown = client.get(f"/spa/api/patients/{patient}", headers=headers).json()
    assert [("NPU02319", "7,5")] == [
        (r["code"], r["value"])
        for r in shown["lab_results"]
        if r["id"] == saved.json()["id"]
    ]


def test_api_needs_a_token_and_the_form_offers_json_values(
    make_client: Callable[..., TestClient],
) -> None:
    """No token is 401 JSON; an option's value is JSON naming the code of its label."""
    client = make_client(login=False)

    assert 401 == client.get("/spa/api/menu").status_code
    form = client.get("/spa/api/lab-results/form", headers=_token(client)).json()

    first = form["codes"][0]
    assert first["label"].startswith(json.loads(first["value"])["code"] + " ")
    assert first["value"] != first["label"]


def test_api_is_faulted_like_the_pages(make_client: Callable[..., TestClient]) -> None:
    """A planned failure of the SPA's save answers 500 after the fault switch."""
    client = make_client(
        login=False,
        faults=Faults(fail_next={r"POST /spa/api/patients/\d+/lab-results": 1}),
    )
    headers = _token(client)

    answer = client.post(
        "/spa/api/patients/1/lab-results", json=_entry(), headers=headers
    )

    assert 500 == answer.status_code


def test_root_opens_the_spa_when_asked(make_client: Callable[..., TestClient]) -> None:
    """With ui="spa" the sandbox's / goes to /spa, which serves the application."""
    client = make_client(login=False, ui="spa")

    start = client.get("/", follow_redirects=False)
    page = client.get("/spa")

    assert "/spa" == start.headers["location"]
    assert '<main id="view">' in page.text


# The traps, in a real browser ------------------------------------------------------


def _log_in(page: Page) -> None:
    page.goto("/spa")
    page.get_by_label("Username").fill("robot")
    page.get_by_label("Password").fill("robot-pass-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("tree")).to_be_visible()


def _open_form(page: Page) -> None:
    """Log in, find the test patient, open the lab result form's tab."""
    _log_in(page)
    page.get_by_label("CPR number").fill(TEST_PATIENT)
    page.get_by_role("button", name="Search").click()
    page.locator("#hits a").first.click()
    page.get_by_role("tab", name="Register lab result").click()


@pytest.mark.browser
def test_typing_before_the_form_settles_is_lost(page: Page, live_sandbox: Any) -> None:
    """A value typed at once vanishes when the form renders again with its defaults."""
    _open_form(page)

    page.get_by_label("Value").fill("8,4")
    expect(page.locator("#code option").nth(1)).to_be_attached()

    expect(page.get_by_label("Value")).to_have_value("")


@pytest.mark.browser
def test_the_previous_search_shows_while_the_next_is_in_flight(
    page: Page, live_sandbox: SandboxServer
) -> None:
    """Right after a new search the list still names the previous patient."""
    _log_in(page)
    page.get_by_label("CPR number").fill(TEST_PATIENT)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#hits")).to_contain_text(TEST_PATIENT)

    page.get_by_label("CPR number").fill("010101-0000")
    page.get_by_role("button", name="Search").click()
    stale = page.locator("#hits").inner_text()

    assert TEST_PATIENT in stale
    expect(page.locator("#hit-count")).to_have_text("0 patient(s) found")


@pytest.mark.browser
def test_a_refusal_is_a_modal_dialog_that_blocks_clicks(
    page: Page, live_sandbox: SandboxServer
) -> None:
    """Saving an empty form opens a validation dialog; the page takes no click."""
    _open_form(page)
    expect(page.locator("#code option").nth(1)).to_be_attached()

    page.get_by_role("button", name="Save result").click()
    dialog = page.get_by_role("alertdialog")

    expect(dialog).to_have_attribute("data-kind", "validation")
    expect(dialog).to_contain_text("Value: Enter a value.")
    with pytest.raises(Exception, match="intercepts pointer events"):
        page.get_by_role("tab", name="Lab results").click(timeout=1000)
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_have_count(0)


def test_api_login_locks_the_account_as_the_pages_do(
    make_client: Callable[..., TestClient],
) -> None:
    """Five wrong passwords lock the account; the right one is refused then too."""
    client = make_client(login=False, lockout_after=5)
    wrong = {"username": "robot", "password": "wrong"}
    answers = [client.post("/spa/api/login", json=wrong) for _ in range(5)]
    right = client.post(
        "/spa/api/login", json={"username": "robot", "password": "robot-pass-1"}
    )

    assert "Wrong user name or password." == answers[0].json()["error"]
    assert "locked" in answers[-1].json()["error"]
    assert (401, "locked") == (right.status_code, right.json()["error"].split()[3])


def test_the_viewer_opens_a_document_by_its_ticket_only(
    make_client: Callable[..., TestClient],
) -> None:
    """The patient's documents come with a viewer URL; the viewer (an iframe sends
    no token) opens with that URL's ticket, not with another document's or none."""
    client = make_client()  # logged in to the pages, to archive a document
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    for title in ("Epikrise", "Henvisning"):
        archived = client.post(
            "/patients/1/documents",
            data={"doc_type": "Epikrise", "doc_date": "2026-11-30", "title": title},
            files={"file": ("letter.pdf", pdf, "application/pdf")},
            follow_redirects=False,
        )
        assert 303 == archived.status_code, archived.text
    headers = _token(client)

    shown = client.get("/spa/api/patients/1", headers=headers).json()["documents"]
    first, second = sorted(shown, key=lambda d: d["id"])
    viewer = client.get(first["viewer"])
    other_ticket = second["viewer"].split("ticket=")[1]
    wrong = client.get(f"/spa/viewer/{first['id']}?ticket={other_ticket}")
    download = client.get(first["viewer"].replace("?", "/file?"))

    assert ["Epikrise", "Henvisning"] == [first["title"], second["title"]]
    assert (
        200 == viewer.status_code and '<h1 id="doc-title">Epikrise</h1>' in viewer.text
    )
    assert (403, 403) == (
        wrong.status_code,
        client.get(f"/spa/viewer/{first['id']}").status_code,
    )
    assert pdf == download.content
    assert "attachment" in download.headers["content-disposition"]
