"""The Typer app, the project option every command shares, and output helpers."""

import functools
import getpass
import json
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from robotlib.cli._options import OptionsAnywhere
from robotlib.errors import ConfigurationError, QueueError

if TYPE_CHECKING:
    from robotlib.logs import Redactor
    from robotlib.project import Project

__all__ = ["app", "cli_actor", "console", "errors", "fail", "open_project", "parse_age"]

EXIT_INVALID = 2

app = typer.Typer(
    name="rpa",
    cls=OptionsAnywhere,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
# soft_wrap: a long line (a log path, `file:line: problem`) stays one line when piped.
console = Console(soft_wrap=True)
errors = Console(stderr=True)


def _print_version(wanted: bool) -> None:
    if wanted:
        from robotlib import __version__

        console.print(f"rpa (robotlib) {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    project: Annotated[
        Path,
        typer.Option(
            "--project",
            "-p",
            help="The robot project folder (holding robots/, logs/, rpa.toml).",
            envvar="RPA_PROJECT_DIR",
            file_okay=False,
        ),
    ] = Path("."),
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print robotlib's version and exit.",
        ),
    ] = False,
) -> None:
    """robotlib: build, run and review software robots for clinical registrations.

    Commands work on a robot project folder: the current folder, --project DIR or
    RPA_PROJECT_DIR. Exit codes: 0 done (business exceptions included), 1 stopped
    by system exceptions, 2 invalid robot, configuration or input.
    """
    ctx.obj = project


def cli_actor() -> str:
    """Who acts from the command line, as the audit trail records it: ``cli:<user>``.

    The OS login name, never a name typed on the command line: a shell user cannot
    act as a console user. ``cli:unknown`` when the environment names no user.
    """
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or passwd
        who = "unknown"
    return f"cli:{who}"


_AGE_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "w": timedelta(weeks=1)}


def parse_age(text: str, option: str = "--older-than") -> timedelta:
    """An age such as ``90d``, ``12w`` or ``36h``; anything else exits 2 naming
    ``option``."""
    number, unit = text[:-1], text[-1:].lower()
    if not number.isdigit() or unit not in _AGE_UNITS or int(number) < 1:
        fail(f"{option} takes a number and d, w or h, e.g. 90d (got {text!r})")
    return int(number) * _AGE_UNITS[unit]


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print an error for people and exit with ``code``."""
    errors.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def open_project(
    ctx: typer.Context, *, console_level: str = "WARNING", **settings_given: Any
) -> Iterator["Project"]:
    """Open the project of the command line; a ConfigurationError exits 2.

    ``settings_given`` win over rpa.toml and the environment (a command's options:
    ``rpa run --headed``).
    """
    # here, not at the top: `rpa --help` imports none of the engine, queue, settings
    from robotlib.logs import configure_logging
    from robotlib.project import Project
    from robotlib.settings import load_settings

    project_dir: Path = ctx.obj if isinstance(ctx.obj, Path) else Path(".")
    try:
        settings = load_settings(project_dir, **settings_given)
        project = Project(settings, environ=dict(os.environ))
        configure_logging(
            settings, redactor=project.redactor, console_level=console_level
        )
    except ConfigurationError as exc:
        fail(str(exc))
    try:
        yield project
    except (ConfigurationError, QueueError) as exc:
        fail(str(exc))
    finally:
        project.close()


@contextmanager
def stop_on_signals(
    stop: threading.Event, message: str, *, again: threading.Event | None = None
) -> Iterator[None]:
    """First Ctrl+C or SIGTERM: set ``stop`` and print ``message``.

    The second one stops at once: it sets ``again`` if given, else raises
    KeyboardInterrupt.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            if again is not None:
                again.set()
                return
            raise KeyboardInterrupt
        stop.set()
        errors.print(message, highlight=False, markup=False)

    # SIGBREAK: Ctrl+Break on Windows, which the scheduler sends at a time limit.
    names = ["SIGINT", "SIGTERM", "SIGBREAK"]
    previous = {
        name: signal.signal(getattr(signal, name), handle)
        for name in names
        if hasattr(signal, name)
    }
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


def local(moment: datetime | None) -> str:
    """A time as the hospital's wall-clock time with its zone, for people.

    The zone (CET or CEST) is always printed: the autumn night has one hour twice,
    and a reader must never wonder whether a time is UTC.
    """
    if moment is None:
        return ""
    from robotlib.settings import DISPLAY_TZ

    return moment.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M:%S %Z")


@functools.cache
def _masker() -> "Redactor":
    from robotlib.logs import display_masker

    return display_masker()


def shown(text: str | None, *, clear: bool = False) -> str:
    """Text for a list: CPR numbers masked (``240512-****``) unless ``clear``."""
    if not text:
        return ""
    return text if clear else _masker().redact(text)


def print_json(value: Any) -> None:
    """Print records as JSON (datetimes ISO, enums by value)."""
    console.print_json(json.dumps(_jsonable(value), ensure_ascii=False))


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Print a table: drawn for people on a terminal; piped, plain and whole.

    Piped (``rpa queue lab_results | grep``), the table is a header line and one
    line per row, the cells separated by tabs and never cut or wrapped, whatever
    the width: what ``cut -f``, ``awk -F'\t'`` and spreadsheets read.
    """
    if not console.is_terminal:
        for cells in [columns, *rows]:
            plain = (" ".join(str(cell).split()) for cell in cells)
            console.file.write("\t".join(plain) + "\n")  # rich would expand tabs
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Text, not markup: "value [mmol/L]" or "[/x]" in data must show as it is.
        table.add_row(*(Text(str(cell)) for cell in row))
    console.print(table)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value
