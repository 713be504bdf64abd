"""The baseline: a hand-written Playwright script doing the lab_results robot's clicks.

No framework: no queue, no logging, no retries. Per row it searches the patient,
opens the lab form, fills it, saves, then reads the registration back from the
patient's page (the robot's verify step), on one long-lived page, as a script
writer would. Prints ``{"rows": N, "seconds": S}`` as JSON.

    python raw_playwright.py BASE_URL INPUT.xlsx CHROMIUM USERNAME PASSWORD
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import Page, sync_playwright

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def read_rows(path: Path) -> list[dict[str, object]]:
    book = load_workbook(path, read_only=True)
    rows = book["Resultater"].iter_rows(values_only=True)
    header = [str(cell) for cell in next(rows)]
    return [dict(zip(header, row, strict=True)) for row in rows]


def log_in(page: Page, base_url: str, user: str, secret: str) -> None:
    """Log in through the sandbox's login form."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(secret)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def register(page: Page, base_url: str, rows: list[dict[str, object]]) -> None:
    """The robot's clicks for every row: register the result, read it back."""
    for row in rows:
        sampled: datetime = row["Prøvetidspunkt"]  # type: ignore[assignment]
        value = f"{row['Værdi']:g}".replace(".", ",")
        page.goto(f"{base_url}/patients/search")
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
        page.goto(f"{base_url}/patients/search")
        page.get_by_label("CPR number").fill(str(row["CPR-nummer"]))
        page.get_by_role("button", name="Search").click()
        cell = page.get_by_role("cell", name=registration, exact=True)
        cells = page.locator("#lab-results tbody tr").filter(has=cell)
        cells.first.wait_for()  # the patient page, after the search
        if cells.count() != 1:
            raise SystemExit(f"registration {registration} not on the page")


def main(base_url: str, input_path: str, chromium: str, user: str, secret: str) -> None:
    rows = read_rows(Path(input_path))
    started = time.perf_counter()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=FLAGS
        )
        page = browser.new_page()
        log_in(page, base_url, user, secret)
        register(page, base_url, rows)
        browser.close()
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": len(rows), "seconds": seconds}))


if __name__ == "__main__":
    main(*sys.argv[1:6])
