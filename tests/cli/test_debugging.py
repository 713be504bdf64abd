"""The debugging switches of `rpa run`, and `rpa show-trace`, in real Chromium.

--slowmo is measured as a minimum time per browser action; --trace always keeps
every attempt's trace; --pause-on-failure pdb stops in the debugger; show-trace
serves the viewer, which a headless Chromium loads with the trace's actions.
(--headed and rpa codegen show a browser, so they cannot be tested headless.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from typer.testing import Result

from robotlib.pytest_plugin import Sandbox

pytestmark = pytest.mark.browser

SLOWMO_MS = 600


def _events(project: Path, robot: str) -> list[dict[str, Any]]:
    [log] = (project / "logs" / robot).glob("*/events.jsonl")
    lines = log.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def lookup_project(
    tmp_path: Path, rpa_executable: Path, rpa_sandbox: Sandbox
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A project with `rpa new`'s robot, and the environment that logs it in."""
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run([str(rpa_executable), "new", "look_up"], cwd=project, check=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    credentials = {
        f"RPA_CRED_SANDBOX_{k.upper()}": v for k, v in rpa_sandbox.credentials.items()
    }
    yield project, environ | credentials


def test_slowmo_is_a_minimum_time_per_action_and_trace_always_keeps_each(
    lookup_project: tuple[Path, dict[str, str]], rpa_executable: Path
) -> None:
    """Every click and page load waited at least --slowmo; every item left a trace."""
    project, environ = lookup_project
    done = subprocess.run(
        [str(rpa_executable), "run", "look_up", "--input",
         "robots/inputs/look_up.csv", "--slowmo", str(SLOWMO_MS), "--trace", "always"],
        cwd=project, env=environ, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert 0 == done.returncode, done.stdout + done.stderr

    events = _events(project, "look_up")
    actions = [
        event["duration_ms"]
        for event in events
        if event["event"] == "step_finished" and event.get("step") in ("click", "goto")
    ]
    assert len(actions) >= 6  # a search and its click per item
    assert min(actions) >= SLOWMO_MS
    run_dir = next((project / "logs" / "look_up").iterdir())
    traces = sorted(path.name for path in run_dir.glob("*-trace.zip"))
    assert [f"item-{n}-attempt-1-browser-trace.zip" for n in (1, 2, 3)] == traces


def test_pause_on_failure_stops_in_the_debugger_where_it_was_raised(
    rpa: Callable[..., Result], input_file: Path
) -> None:
    """The lab system's HTTP 503: pdb shows the raising line; `c` goes on."""
    result = rpa(
        "run", "fake_lab", "--input", str(input_file), "--pause-on-failure", "pdb",
        input="p item.code\nc\np item.code\nc\n",
    )  # fmt: skip

    assert 3 == result.exit_code  # the item failed after its attempts
    assert 2 == result.stdout.count("Paused at ApplicationError")
    assert "(Pdb)" in result.stdout
    assert "'OFFLINE'" in result.stdout  # the item being registered
    assert "raise ApplicationError" in result.stdout


def serving(trace: Path) -> list[int]:
    """The processes whose command line names ``trace`` (Linux: /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(trace).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue  # it ended while we looked
    return found


def test_show_trace_serves_the_viewer_and_chromium_loads_the_trace(
    tmp_path: Path, rpa_executable: Path, browser: Browser
) -> None:
    """The viewer lists the trace's actions; Ctrl+C (SIGINT) stops the server."""
    trace = tmp_path / "item-1-attempt-1-browser-trace.zip"
    context = browser.new_context()
    context.tracing.start(screenshots=True, snapshots=True)
    page = context.new_page()
    page.set_content("<h1>Lab result</h1><button>Save result</button>")
    page.get_by_role("button", name="Save result").click()
    context.tracing.stop(path=trace)
    context.close()

    server = subprocess.Popen(
        [str(rpa_executable), "show-trace", str(trace), "--no-open"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "DISPLAY": ""},
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("Trace viewer: http://127.0.0.1:"), line
        url = line.split()[2]
        viewer = browser.new_page()
        viewer.goto(url)
        assert "Playwright Trace Viewer" == viewer.title()
        viewer.get_by_text('get_by_role("button", name="Save result")').first.wait_for()
        viewer.close()
    finally:
        server.send_signal(signal.SIGINT)
        assert 0 == server.wait(timeout=15)
        assert server.stdout is not None
        server.stdout.close()
    assert [] == serving(trace), "the viewer's node server outlived rpa show-trace"
