"""What the example robots share about the (sandbox) EPJ: logging in, finding a patient.

Files in robots/ whose name starts with ``_`` are helpers, not robots; robot files
import them by name (``from _epj import open_patient``).
"""

from __future__ import annotations

from robotlib import BusinessRuleError, Context
from robotlib.steps import browser

#: The credentials table of the EPJ (credentials.toml or RPA_CRED_SANDBOX_*).
SYSTEM = "sandbox"
#: Fields that show who the patient is: blacked out in screenshots.
PATIENT_FIELDS = ("#patient-cpr", ".patient-line")


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


def open_patient(session: browser.BrowserSession, cpr: str, *, fix: str) -> None:
    """Search the patient by CPR number and open their page.

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
