"""`rpa show-trace` and `rpa codegen`: Playwright's tools on the launcher's Chromium.

``playwright show-trace`` and ``playwright codegen`` launch Playwright's own
Chromium, which a machine with Debian's (or another system) Chromium does not have.
Here the trace viewer is served by Playwright on a loopback port and opened in the
Chromium ``rpa run`` finds; codegen is the Playwright Inspector's recorder on a page
of that Chromium.
"""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from robotlib.cli._app import app, console, fail
from robotlib.errors import ConfigurationError
from robotlib.processes import kill_group

#: How long the trace viewer may take to start serving.
_SERVE_TIMEOUT_S = 30.0
_LISTENING = re.compile(r"Listening on (http://\S+)")


@app.command("show-trace")
def show_trace(
    ctx: typer.Context,
    trace: Annotated[
        Path,
        typer.Argument(
            help="A trace file (logs/<robot>/<run>/item-...-trace.zip).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="The viewer's port; 0 picks a free one."),
    ] = 0,
    open_browser: Annotated[
        bool,
        typer.Option(
            "--open/--no-open",
            help="Open the viewer in the launcher's Chromium (it needs a display); "
            "--no-open only serves it, to open its address elsewhere.",
        ),
    ] = True,
) -> None:
    """Open a Playwright trace in the trace viewer: every action, with the page
    before and after it, its network requests and console.

    The viewer is served on 127.0.0.1 only, and stops with Ctrl+C (or when its
    browser window is closed). A trace holds the pages the robot saw: patient
    data; password fields are blanked (docs/configuration.md, "What a trace
    contains").
    """
    command = [sys.executable, "-m", "playwright", "show-trace"]
    command += ["--host", "127.0.0.1", "--port", str(port), str(trace.resolve())]
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "BROWSER": "none"},  # never a desktop browser of its own
        start_new_session=True,  # its node server with it: stopped as one group
    )
    try:
        url = _served_at(server)
        console.print(
            f"Trace viewer: {url} (Ctrl+C stops it)", highlight=False, markup=False
        )
        if open_browser:
            _open_in_chromium(ctx, url, server)
        else:
            server.wait()
    except KeyboardInterrupt:
        console.print("Trace viewer stopped.", highlight=False)  # Ctrl+C: the way out
    finally:
        kill_group(server)  # the wrapper and the node server it started


def _served_at(server: subprocess.Popen[str]) -> str:
    """The viewer's address, once the server says it listens."""
    found: list[str] = []
    seen: list[str] = []

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            seen.append(line)
            if match := _LISTENING.search(line):
                found.append(match[1])
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(_SERVE_TIMEOUT_S)
    if not found:
        server.terminate()
        fail(
            "the trace viewer did not start: " + ("".join(seen).strip() or "no output")
        )
    return found[0]


def _open_in_chromium(
    ctx: typer.Context, url: str, server: subprocess.Popen[str]
) -> None:
    """Show ``url`` in a headed Chromium until its window closes or the server ends."""
    from robotlib.launcher import launch_chromium, start_playwright

    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        console.print(
            "No display to show it on: open the address above in a browser on this "
            "machine, or from yours over an SSH tunnel (ssh -L PORT:127.0.0.1:PORT).",
            highlight=False,
            markup=False,
        )
        server.wait()
        return
    from robotlib.settings import load_settings

    playwright = start_playwright()
    try:
        settings = load_settings(ctx.obj if isinstance(ctx.obj, Path) else None)
        browser = launch_chromium(playwright, settings=settings, headless=False)
        page = browser.new_page()
        page.goto(url)
        closed = threading.Event()
        page.on("close", lambda _: closed.set())
        while not closed.is_set() and server.poll() is None:
            page.wait_for_timeout(500)
        browser.close()
    except ConfigurationError as exc:
        fail(str(exc))
    finally:
        playwright.stop()


@app.command()
def codegen(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The page to start on.")],
) -> None:
    """Record what you do on a page as Playwright code, in the launcher's Chromium.

    Opens the page in a headed Chromium with the Playwright Inspector: press Record,
    click and type, and copy the code it writes (labels and roles map to robotlib's
    steps: fill_form by label, click by name). Needs a display (xvfb-run is not
    enough: you must see it); closes with the Inspector.
    """
    from robotlib.launcher import launch_chromium, start_playwright

    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        fail(
            "rpa codegen needs a display to show the browser on: run it on a desktop "
            "(or over ssh -X); on a server, record against a copy of the system "
            "on your own machine"
        )
    from robotlib.settings import load_settings

    playwright = start_playwright()
    try:
        settings = load_settings(ctx.obj if isinstance(ctx.obj, Path) else None)
        browser = launch_chromium(playwright, settings=settings, headless=False)
        page = browser.new_context().new_page()
        page.goto(url)
        page.pause()  # the Inspector, with its recorder
        browser.close()
    except ConfigurationError as exc:
        fail(str(exc))
    finally:
        playwright.stop()
