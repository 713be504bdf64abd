"""The peer: the same clicks with robocorp-browser (Robocorp's Playwright wrapper).

The clicks are raw_playwright's, on the page robocorp-browser opens and configures.

The `bench` extra installs it. It runs inside a ``robocorp.tasks`` task, as its
users run it, with its defaults; the browser is the same Chromium binary. Prints
``{"rows": N, "seconds": S}`` as JSON.

    python -m robocorp.tasks run robocorp_peer.py -t register -- (see bench_browser.py)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from robocorp import browser
from robocorp.tasks import task

from benchmarks.lab_workload import raw_playwright as clicks
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
    page = browser.page()
    user, secret = os.environ["BENCH_USERNAME"], os.environ["BENCH_PASSWORD"]
    clicks.log_in(page, base_url, user, secret)
    clicks.register(page, base_url, rows)
    seconds = time.perf_counter() - started
    Path(os.environ["BENCH_RESULT"]).write_text(
        json.dumps({"rows": len(rows), "seconds": seconds}), "utf-8"
    )
