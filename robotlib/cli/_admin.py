"""`rpa browser`, `rpa sandbox`, `rpa purge`: the machine, the sandbox, retention."""

import tempfile
import threading
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from robotlib.cli._app import (
    app,
    console,
    fail,
    open_project,
    parse_age,
    stop_on_signals,
)
from robotlib.errors import ConfigurationError

__all__ = ["browser", "purge", "sandbox"]


@app.command()
def purge(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            help="Age such as 90d, 12w or 36h; default: log_retention_days of "
            "rpa.toml (90 days)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask first.")] = False,
) -> None:
    """Delete run folders (logs, screenshots, traces) and finished items and runs
    older than the retention period, and Playwright traces (*.zip in run folders)
    older than trace_retention_days of rpa.toml (14 days) in the folders kept.

    Traces hold patients' CPR numbers and names in clear, so they go sooner than
    the logs. Items still waiting (new, in progress) are kept whatever their age.
    """
    with open_project(ctx) as project:
        age = (
            parse_age(older_than)
            if older_than
            else timedelta(days=project.settings.log_retention_days)
        )
        now = datetime.now(UTC)
        before = now - age
        trace_days = project.settings.trace_retention_days
        traces_before = now - timedelta(days=trace_days)
        if not yes and not typer.confirm(
            f"Delete runs, their files and finished items from before "
            f"{before:%Y-%m-%d %H:%M} UTC, and traces from before "
            f"{traces_before:%Y-%m-%d %H:%M} UTC?"
        ):
            raise typer.Exit(1)
        result = project.purge(before=before, traces_before=traces_before)
        whole_days = age % timedelta(days=1) == timedelta(0)
        hours = age // timedelta(hours=1)
        older = f"{age.days} day(s)" if whole_days else f"{hours} hour(s)"
        uploads = f" and {result.uploads} upload(s)" if result.uploads else ""
        console.print(
            f"Purged {result.run_folders} run folder(s) and {result.items} item(s) "
            f"older than {older}, and {result.traces} trace(s){uploads} older than "
            f"{trace_days} day(s)."
        )


@app.command()
def browser(ctx: typer.Context) -> None:
    """Show which Chromium robots will launch, or what to install when there is none.

    The search order: browser_path (rpa.toml or RPA_BROWSER_PATH), Playwright's own
    Chromium, then Debian's chromium-headless-shell, chromium, chromium-browser and
    google-chrome. Exits 2 when no browser is found.
    """
    from playwright.sync_api import sync_playwright

    from robotlib.launcher import find_chromium
    from robotlib.settings import load_settings

    try:
        settings = load_settings(ctx.obj if isinstance(ctx.obj, Path) else None)
        with sync_playwright() as playwright:
            expected = playwright.chromium.executable_path
        found = find_chromium(settings=settings, playwright_executable=expected)
    except ConfigurationError as exc:
        fail(str(exc))
    console.print(f"Chromium: {found.describe()}", highlight=False, soft_wrap=True)


class SandboxUi(StrEnum):
    """The sandbox's two front ends on the same data and rules."""

    PAGES = "pages"
    SPA = "spa"


@app.command()
def sandbox(
    host: Annotated[
        str,
        typer.Option(help="Address to bind. Keep the loopback default unless needed."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    db: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file to keep the sandbox's data in (created and seeded if "
            "new). Without it, a fresh database is made and deleted at exit.",
            envvar="SANDBOX_DB",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the fictitious data.", envvar="SANDBOX_SEED")
    ] = 2026,
    patients: Annotated[
        int,
        typer.Option(
            min=1, help="Fictitious patients to seed.", envvar="SANDBOX_PATIENTS"
        ),
    ] = 240,
    session_idle_minutes: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="Log a session out after this many idle minutes.",
            envvar="SANDBOX_SESSION_IDLE_MINUTES",
        ),
    ] = 15.0,
    spinner_ms: Annotated[
        int,
        typer.Option(
            min=0,
            help="Spinner time before the lab registration form can be used.",
            envvar="SANDBOX_SPINNER_MS",
        ),
    ] = 300,
    notice_probability: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="Probability that a page opens a 'System notice' dialog.",
            envvar="SANDBOX_NOTICE_PROBABILITY",
        ),
    ] = 0.0,
    latency_ms: Annotated[
        int,
        typer.Option(
            min=0,
            help="[Fault] Added latency on every page request, in ms.",
            envvar="SANDBOX_LATENCY_MS",
        ),
    ] = 0,
    latency_jitter_ms: Annotated[
        int,
        typer.Option(
            min=0,
            help="[Fault] A random extra latency of 0 to this many ms.",
            envvar="SANDBOX_LATENCY_JITTER_MS",
        ),
    ] = 0,
    error_rate: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="[Fault] Probability of HTTP 500 before a request is handled.",
            envvar="SANDBOX_ERROR_RATE",
        ),
    ] = 0.0,
    error_after_rate: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="[Fault] Probability of HTTP 500 after a request was handled (and "
            "saved): the robot cannot tell whether it went through.",
            envvar="SANDBOX_ERROR_AFTER_RATE",
        ),
    ] = 0.0,
    expire_every: Annotated[
        int,
        typer.Option(
            min=0,
            help="[Fault] Expire the session every N logged-in page requests "
            "(0: never).",
            envvar="SANDBOX_EXPIRE_EVERY",
        ),
    ] = 0,
    slow_render_ms: Annotated[
        int,
        typer.Option(
            min=0,
            help="[Fault] Pages show their content only after this many ms.",
            envvar="SANDBOX_SLOW_RENDER_MS",
        ),
    ] = 0,
    ui: Annotated[
        SandboxUi,
        typer.Option(
            case_sensitive=False,
            help="What the sandbox's / opens: the server-rendered pages, or the same "
            "EPJ as a single-page application (always at /spa).",
        ),
    ] = SandboxUi.PAGES,
) -> None:
    """Start the sandbox clinical system that robots are developed against.

    It serves a practice EPJ with fictitious patients: login, patient search, lab
    result and questionnaire registration, a document archive, a department board
    and a worklist with Excel/CSV export. The fault switches (off by default) make
    it misbehave like a real system on a bad night; each can also be set by its
    environment variable, and changed while it runs through PUT /api/faults.
    """
    from sandbox import Faults, SandboxConfig, SandboxServer
    from sandbox.database import SEED_USERS

    with tempfile.TemporaryDirectory(prefix="rpa-sandbox-") as scratch:
        config = SandboxConfig(
            db_path=db or Path(scratch) / "sandbox.db",
            seed=seed,
            patients=patients,
            session_idle_minutes=session_idle_minutes,
            spinner_ms=spinner_ms,
            notice_probability=notice_probability,
            ui=ui.value,
            faults=Faults(
                latency_ms=latency_ms,
                latency_jitter_ms=latency_jitter_ms,
                error_rate=error_rate,
                error_after_rate=error_after_rate,
                expire_every=expire_every,
                slow_render_ms=slow_render_ms,
            ),
        )
        try:
            server = SandboxServer(config, host=host, port=port)
            server.start()
        except (OSError, RuntimeError, TimeoutError) as exc:
            fail(f"The sandbox could not start: {exc}")
        stop = threading.Event()
        try:
            # Ctrl+C or SIGTERM, whenever it comes, only sets `stop`
            with stop_on_signals(stop, "Stopping the sandbox."):
                console.print(f"Sandbox EPJ listening on [bold]{server.url}[/bold]")
                logins = ", ".join(
                    f"{name} / {pw}" for name, (pw, _) in SEED_USERS.items()
                )
                console.print(f"Log in as {logins}", highlight=False)
                console.print(
                    f"The single-page application: {server.url}/spa", highlight=False
                )
                console.print(f"Database: {config.db_path}", highlight=False)
                console.print("Press Ctrl+C to stop.")
                server.wait(until=stop)
        finally:
            server.stop()
        console.print("The sandbox stopped.")
