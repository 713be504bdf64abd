"""The README's console screenshot, from real runs: `make screenshot`.

Starts the sandbox EPJ on 127.0.0.1 and runs the example robots on it with `rpa run`,
as `make demo` does, but into a database and a log folder in a temporary folder
(RPA_DATABASE_URL, RPA_LOG_DIR), so the project's own queue and logs stay untouched.
The lab system refuses every save of one patient's lab result (the sandbox's
planned failures), so the picture shows a night with a failure: that item fails
after every retry and the dashboard turns red. Then it adds a console user who
reads the console in Danish, serves the console on a free loopback port, logs in
with headless Chromium (found and launched as robots do it) and saves the whole
dashboard, 1280 px wide, to docs/images/console-dashboard.png. Everything it starts
(sandbox, console, browser) is stopped before it exits.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import uvicorn
from fastapi import FastAPI

from robotlib.console import create_app
from robotlib.console._accounts import AccountStore
from robotlib.launcher import launch_chromium, start_playwright
from robotlib.project import Project
from robotlib.settings import load_settings
from sandbox import SandboxConfig, SandboxServer

ROOT = Path(__file__).resolve().parents[1]
ROBOTS = ("lab_results", "daily_report")
OUTPUT = ROOT / "docs" / "images" / "console-dashboard.png"
USER = "anna"
#: The patient whose lab result the lab system refuses to save, every time.
FAILING_PATIENT = "170551-4514"
WIDTH, HEIGHT = 1280, 800


def main() -> int:
    """Run the robots, serve the console, save the dashboard; return an exit code."""
    with tempfile.TemporaryDirectory(prefix="rpa-screenshot-") as scratch:
        folder = Path(scratch)
        database_url = f"sqlite:///{(folder / 'robotlib.db').as_posix()}"
        log_dir = folder / "logs"
        failed = _run_robots(folder, database_url, log_dir)
        if failed:
            print(f"rpa run {failed} could not run; no screenshot taken.")
            return 2
        settings = load_settings(ROOT, database_url=database_url, log_dir=log_dir)
        project = Project(settings)
        accounts = AccountStore(project.settings.database)
        try:
            password = secrets.token_urlsafe(16)
            accounts.add(USER, "operator", password)
            accounts.set_language(USER, "da")
            app = create_app(project, accounts=accounts)
            with _served(app) as url:
                _save_dashboard(project, url, password)
        finally:
            accounts.close()
            project.close()
    print(f"Saved {OUTPUT}")
    return 0


def _run_robots(folder: Path, database_url: str, log_dir: Path) -> str | None:
    """Run each example robot against a fresh sandbox; the name of one that could
    not run (exit code 2), or None."""
    rpa = str(Path(sys.executable).with_name("rpa"))
    config = SandboxConfig(db_path=folder / "sandbox.db")
    with SandboxServer(config) as server:
        print(f"Sandbox EPJ listening on {server.url}")
        _refuse_saves_of(server.url, config.db_path, FAILING_PATIENT)
        env = {
            **os.environ,
            "RPA_DATABASE_URL": database_url,
            "RPA_LOG_DIR": str(log_dir),
            "RPA_CRED_SANDBOX_URL": server.url,
            "RPA_CRED_SANDBOX_USERNAME": "robot",
            "RPA_CRED_SANDBOX_PASSWORD": "robot-pass-1",
        }
        for robot in ROBOTS:
            print(f"$ rpa run {robot}")
            done = subprocess.run(
                [rpa, "--project", str(ROOT), "run", robot], env=env, check=False
            )
            if done.returncode not in (0, 1, 3):  # stopped, failed items: worth showing
                return robot
            print()
    return None


def _refuse_saves_of(url: str, database: Path, cpr: str) -> None:
    """Make the sandbox answer HTTP 500 to every save of the patient's lab result."""
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT id FROM patients WHERE cpr = ?", (cpr,)).fetchone()
    if row is None:
        raise RuntimeError("the sandbox has no such patient: its seed data changed")
    planned = {f"POST /patients/{row[0]}/lab-results": 100}
    httpx.put(f"{url}/api/faults", json={"fail_next": planned}).raise_for_status()


@contextmanager
def _served(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="console", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the console did not start on {url}")
            time.sleep(0.05)
        print(f"Console on {url}")
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _save_dashboard(project: Project, url: str, password: str) -> None:
    """Log in through the form in headless Chromium; save the full dashboard."""
    playwright = start_playwright()
    try:
        browser = launch_chromium(playwright, settings=project.settings, headless=True)
        try:
            context = browser.new_context(
                base_url=url,
                viewport={"width": WIDTH, "height": HEIGHT},
                locale="da-DK",
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto("/")
            page.locator("#username").fill(USER)  # the page is in Danish
            page.locator("#password").fill(password)
            page.locator("form button[type=submit]").click()
            page.locator("#attention").wait_for()
            OUTPUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUTPUT), full_page=True)
            context.close()
        finally:
            browser.close()
    finally:
        playwright.stop()


if __name__ == "__main__":
    sys.exit(main())
