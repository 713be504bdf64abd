"""What the example robots share about the (sandbox) EPJ: its browser, its patients.

Files in robots/ whose name starts with ``_`` are helpers, not robots; robot files
import them relatively (``from ._epj import open_patient``).
"""

from __future__ import annotations

import re

from robotlib import BusinessRuleError, Context, TargetSystemError, step
from robotlib.steps import browser

#: The credentials table of the EPJ (credentials.toml or RPA_CRED_SANDBOX_*).
SYSTEM = "sandbox"
#: Fields that show who the patient is: blacked out in screenshots.
PATIENT_FIELDS = ("#patient-cpr", ".patient-line")
#: The EPJ's browser: ``Robot(browser=EPJ, login=SYSTEM)``.
EPJ = browser.BrowserOptions(name="the EPJ", mask=PATIENT_FIELDS)
#: The patient preflights look up: fictitious, of the sandbox's seed data (seed
#: 2026). Against a real EPJ this is its test patient: a preflight opens no real
#: patient's record.
TEST_PATIENT = "170551-4514"


@step(log_args=False, retries=2)
def open_patient(ctx: Context, cpr: str, *, fix: str) -> browser.BrowserSession:
    """Search the patient by CPR number and open their page; return the session.

    A search saves nothing, so a search the EPJ answered with an error is run
    again (twice at most) rather than costing the item an attempt.

    Raises:
        BusinessRuleError: the EPJ has no patient with that number (its own words
            are in the message, then ``fix``: what the operator should do).
    """
    session = browser.session(ctx)
    browser.goto(session, "/patients/search")
    browser.fill_form(session, {"CPR number": cpr})
    browser.click(session, "Search")
    if (refusal := session.page.locator("#cpr-error")).count():
        raise BusinessRuleError(
            f"No patient with CPR number {cpr} in the EPJ, which says "
            f"{refusal.inner_text()!r}: {fix}",
            code="unknown_patient",
        )
    return session


def saved_id(session: browser.BrowserSession, what: str, shown_in: str) -> int:
    """After a save: the id of the record (a new one, or the one already there).

    Args:
        session: on the page the save answered with.
        what: what was saved, for a refusal's message (``"the result"``).
        shown_in: the selector of the text holding the new record's id.
    """
    duplicate = session.page.get_by_role("alert").filter(has_text="Already registered")
    if duplicate.count():
        return _number(duplicate.first.inner_text())
    browser.expect_accepted(session, what)
    return _number(session.page.locator(shown_in).first.inner_text())


def check_test_patient(ctx: Context) -> None:
    """Preflight: the patient search finds the test patient and opens their page."""
    browser.expect_page(
        "the patient search",
        goto="/patients/search",
        fields=["CPR number"],
        buttons=["Search"],
    )(ctx)
    session = open_patient(
        ctx,
        TEST_PATIENT,
        fix="the preflight's test patient is missing; set TEST_PATIENT in "
        "robots/_epj.py to the EPJ's test patient",
    )
    browser.expect_elements(session, "the patient page", selectors=["#patient-cpr"])
    shown = session.page.locator("#patient-cpr").inner_text().strip()
    if shown != TEST_PATIENT:
        raise TargetSystemError(
            f"the patient search for {TEST_PATIENT} opened the page of {shown!r}"
        )


def _number(text: str) -> int:
    """The id in ``"Already registered (id 12)."`` or ``"12"``."""
    return int(re.findall(r"\d+", text)[-1])
