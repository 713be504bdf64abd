"""The peer: the same clicks with robocorp-browser (Robocorp's Playwright wrapper).

The `bench` extra installs it. It runs inside a ``robocorp.tasks`` task, as its
users run it, with its defaults; the browser is the same Chromium binary. Prints
``{"rows": N, "seconds": S}`` as JSON.

    python -m robocorp.tasks run robocorp_peer.py -t register -- (see bench_browser.py)
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

from robocorp import browser
from robocorp.tasks import task

from benchmarks.lab_workload.raw_playwright import FLAGS, read_rows


def _use_chromium(path: str) -> None:
    """Launch the same Chromium binary as the other variants, with the same flags.

    robocorp-browser has no setting for a browser executable (it downloads its
    own, which this machine cannot), so its launch options get ours added.
    """
    from robocorp.browser import _context

    defaults = _context.browser_type_launch_args

    def with_ours() -> dict[str, object]:
        return {**defaults(), "executable_path": path, "args": FLAGS}

    _context.browser_type_launch_args = with_ours


@task
def register() -> None:
    """Register every row of BENCH_INPUT in the sandbox at BENCH_BASE_URL."""
    base_url = os.environ["BENCH_BASE_URL"]
    rows = read_rows(Path(os.environ["BENCH_INPUT"]))
    started = time.perf_counter()
    browser.configure(browser_engine="chromium", headless=True, install=False)
    _use_chromium(os.environ["BENCH_CHROMIUM"])
    page = browser.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(os.environ["BENCH_USERNAME"])
    page.get_by_label("Password").fill(os.environ["BENCH_PASSWORD"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    for row in rows:
        sampled: datetime = row["Prøvetidspunkt"]  # type: ignore[assignment]
        value = f"{row['Værdi']:g}".replace(".", ",")
        page = browser.goto(f"{base_url}/patients/search")
        page.get_by_label("CPR number").fill(str(row["CPR-nummer"]))
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="Register lab result").click()
        page.get_by_label("Test code").select_option(str(row["Analysekode"]))
        page.get_by_label("Value").fill(value)
        page.get_by_label("Unit").fill(str(row["Enhed"]))
        page.get_by_label("Sampled at").fill(sampled.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Comment").fill(str(row["Kommentar"] or ""))
        page.get_by_role("button", name="Save result").click()
        registration = page.locator("#registration-id").inner_text()
        page = browser.goto(f"{base_url}/patients/search")
        page.get_by_label("CPR number").fill(str(row["CPR-nummer"]))
        page.get_by_role("button", name="Search").click()
        cell = page.get_by_role("cell", name=registration, exact=True)
        cells = page.locator("#lab-results tbody tr").filter(has=cell)
        cells.first.wait_for()  # the patient page, after the search
        if cells.count() != 1:
            raise SystemExit(f"registration {registration} not on the page")
    seconds = time.perf_counter() - started
    Path(os.environ["BENCH_RESULT"]).write_text(
        json.dumps({"rows": len(rows), "seconds": seconds}), "utf-8"
    )
