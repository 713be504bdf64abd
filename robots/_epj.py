"""What the example robots share about the (sandbox) EPJ: logging in, finding a patient.

Files in robots/ whose name starts with ``_`` are helpers, not robots; robot files
import them by name (``from _epj import open_patient``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from robotlib import BusinessRuleError, Context, TargetSystemError, step
from robotlib.steps import browser

#: The credentials table of the EPJ (credentials.toml or RPA_CRED_SANDBOX_*).
SYSTEM = "sandbox"
#: Fields that show who the patient is: blacked out in screenshots.
PATIENT_FIELDS = ("#patient-cpr", ".patient-line")
#: The patient preflights look up: fictitious, of the sandbox's seed data (seed
#: 2026). Against a real EPJ this is its test patient: a preflight opens no real
#: patient's record.
TEST_PATIENT = "170551-4514"
#: How long a preflight waits for the elements of a page to show.
PREFLIGHT_TIMEOUT_S = 5.0


def log_in(
    ctx: Context, *, mask: tuple[str, ...] = PATIENT_FIELDS
) -> browser.BrowserSession:
    """Setup: open a browser on the EPJ, log in as the robot user, keep the session.

    Args:
        ctx: the run; the session is kept in ``ctx.state["browser"]``.
        mask: selectors blacked out in screenshots (patient data on the pages used).
    """
    login = ctx.credentials(SYSTEM)
    session = browser.open_browser(
        ctx, browser.BrowserOptions(base_url=login.url, mask=mask)
    )
    browser.login(session, login)
    ctx.state["browser"] = session
    return session


@step(log_args=False, retries=2)
def open_patient(session: browser.BrowserSession, cpr: str, *, fix: str) -> None:
    """Search the patient by CPR number and open their page.

    A search saves nothing, so a search the EPJ answered with an error is run
    again (twice at most) rather than costing the item an attempt.

    Args:
        session: the browser session.
        cpr: ``DDMMYY-SSSS``.
        fix: what the operator should do when there is no such patient, e.g.
            ``"check the spreadsheet"``.

    Raises:
        BusinessRuleError: the EPJ has no patient with that number (its own words
            are in the message).
    """
    browser.goto(session, "/patients/search")
    browser.fill_form(session, {"CPR number": cpr})
    browser.click(session, "Search")
    refusal = session.page.locator("#cpr-error")
    if refusal.count():
        raise BusinessRuleError(
            f"No patient with CPR number {cpr} in the EPJ, which says "
            f"{refusal.inner_text()!r}: {fix}",
            code="unknown_patient",
        )


# Preflight checks: open pages and look, never save ---------------------------------


@step(log_args=False)
def expect_elements(
    session: browser.BrowserSession,
    where: str,
    *,
    fields: Sequence[str] = (),
    buttons: Sequence[str] = (),
    links: Sequence[str] = (),
    selectors: Sequence[str] = (),
    timeout_s: float = PREFLIGHT_TIMEOUT_S,
) -> None:
    """Preflight: wait until each element shows on the page; name every one missing.

    Args:
        session: the browser session, on the page to check.
        where: the page, for the message (``"the lab result form"``).
        fields: labels of fields.
        buttons: names of buttons.
        links: names of links.
        selectors: CSS selectors (tables, texts the robot reads).
        timeout_s: how long to wait for all of them together.

    Raises:
        TargetSystemError: some are missing after ``timeout_s``; the message names
            them and the page's address.
    """
    page = session.page
    wanted = [
        (f"field {label!r}", page.get_by_label(label, exact=True)) for label in fields
    ]
    wanted += [
        (f"button {name!r}", page.get_by_role("button", name=name, exact=True))
        for name in buttons
    ]
    wanted += [
        (f"link {name!r}", page.get_by_role("link", name=name, exact=True))
        for name in links
    ]
    wanted += [(selector, page.locator(selector)) for selector in selectors]
    deadline = time.monotonic() + timeout_s
    while True:
        missing = [name for name, locator in wanted if not locator.first.is_visible()]
        if not missing or time.monotonic() >= deadline:
            break
        page.wait_for_timeout(100)
    session.check()
    if missing:
        raise TargetSystemError(
            f"{where} ({page.url}) has no {', '.join(missing)}: has the EPJ changed? "
            "The robot needs them"
        )


@step(log_args=False)
def expect_columns(
    session: browser.BrowserSession, where: str, table: str, columns: Sequence[str]
) -> None:
    """Preflight: the table ``table`` (a selector) has each of ``columns``.

    Raises:
        TargetSystemError: the table lacks some; the message names them.
    """
    expect_elements(session, where, selectors=[table])
    headers: list[str] = session.page.locator(f"{table} thead th").evaluate_all(
        "cells => cells.map(c => c.innerText.trim())"
    )
    if missing := [column for column in columns if column not in headers]:
        raise TargetSystemError(
            f"the table {table} of {where} has no column {', '.join(missing)} (it "
            f"has {', '.join(headers)}): has the EPJ changed? The robot reads them"
        )


def check_patient_search(session: browser.BrowserSession) -> None:
    """Preflight: the patient search finds the test patient and opens their page."""
    browser.goto(session, "/patients/search")
    expect_elements(
        session, "the patient search", fields=["CPR number"], buttons=["Search"]
    )
    open_patient(
        session,
        TEST_PATIENT,
        fix="the preflight's test patient is missing; set TEST_PATIENT in "
        "robots/_epj.py to the EPJ's test patient",
    )
    expect_elements(session, "the patient page", selectors=["#patient-cpr"])
    shown = session.page.locator("#patient-cpr").inner_text().strip()
    if shown != TEST_PATIENT:
        raise TargetSystemError(
            f"the patient search for {TEST_PATIENT} opened the page of {shown!r}"
        )
