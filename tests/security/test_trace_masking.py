"""A saved Playwright trace keeps the pages but not the password or the cookies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from robotlib.steps.browser import BrowserOptions, BrowserSession
from robotlib.testing import make_work_item
from sandbox import SandboxServer
from sandbox.database import SEED_USERS

pytestmark = pytest.mark.browser

PATIENT = "170551-4514"


def test_trace_masks_typed_password_and_cookies(
    browser: Browser,
    live_sandbox: SandboxServer,
    tmp_path: Path,
    walk_texts: Callable[[Path], Iterator[tuple[str, str]]],
) -> None:
    """A password nobody registered as a secret and the session cookie are masked."""
    password = SEED_USERS["nurse"][0]
    options = BrowserOptions(base_url=live_sandbox.url, trace="always")
    session = BrowserSession(browser, options)
    try:
        session.item_started(make_work_item(attempts=1))
        page = session.page
        page.goto("/login")
        page.get_by_label("Username", exact=True).fill("nurse")
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Log in", exact=True).click()
        page.goto("/patients/search")
        page.get_by_label("CPR number").fill(PATIENT)
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_load_state()
        cookies = [cookie["value"] for cookie in session.context.cookies()]
        trace = session.save_trace(tmp_path / "trace.zip")
    finally:
        session.close()
    assert trace is not None
    assert cookies
    texts = dict(walk_texts(trace))
    leaks = [
        (where, secret)
        for where, text in texts.items()
        for secret in [password, *cookies]
        if secret in text
    ]
    assert [] == leaks
    assert any(PATIENT in text for text in texts.values())  # the pages stay
    assert any(name.endswith("trace.trace") for name in texts)
