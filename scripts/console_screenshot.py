"""The README's console screenshot, from real runs: `make screenshot`.

Starts the sandbox EPJ on 127.0.0.1 and runs the example robots on it with `rpa run`,
as `make demo` does, but into a database and a log folder in a temporary folder
(RPA_DATABASE_URL, RPA_LOG_DIR), so the project's own queue and logs stay untouched.
Then it adds a console user, serves the console on a free loopback port, logs in
with headless Chromium (found and launched as robots do it) and saves the whole
dashboard, 1280 px wide, to docs/images/console-dashboard.png. Everything it starts
(sandbox, console, browser) is stopped before it exits.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
            if done.returncode not in (0, 1):  # 1: stopped, still worth showing
                return robot
            print()
    return None


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
                base_url=url, viewport={"width": WIDTH, "height": HEIGHT}
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto("/")
            page.get_by_label("User name").fill(USER)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("heading", name="Dashboard").wait_for()
            OUTPUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUTPUT), full_page=True)
            context.close()
        finally:
            browser.close()
    finally:
        playwright.stop()


if __name__ == "__main__":
    sys.exit(main())
