"""`rpa --help` and each command's --help: exit 0 and document the options."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from robotlib.cli import app

HELP = {
    (): ["--project", "RPA_PROJECT_DIR", "run", "check", "robots", "runs", "logs",
         "queue", "exceptions", "purge", "browser", "sandbox", "preflight",
         "scheduler", "schedules", "notify", "worker", "audit", "new",
         "show-trace", "codegen", "--version"],
    ("run",): ["The robot's name", "--input", "--limit", "--dry-run", "--workers",
               "--json", "--item", "--headed", "--slowmo", "--trace",
               "--pause-on-failure"],
    ("new",): ["ROBOT", "tests/test_ROBOT.py", "Nothing is overwritten"],
    ("show-trace",): ["--port", "--no-open", "127.0.0.1"],
    ("codegen",): ["Inspector", "display"],
    ("worker",): ["The robot's name", "--workers", "without loading any input"],
    ("check",): ["Exits 2 when a robot has a problem", "--json"],
    ("robots",): ["--json"],
    ("runs",): ["--robot", "--last", "--json", "show"],
    ("runs", "show"): ["The run id (or a unique prefix)", "--show-cpr", "--json"],
    ("logs",): ["The run id (or a unique prefix)", "--level", "warning", "--item"],
    ("queue",): ["The robot's name", "--state", "--last", "--show-cpr", "--json"],
    ("exceptions",): ["list", "retry", "resolve"],
    ("exceptions", "list"): ["Only this robot's", "--show-cpr", "--json"],
    ("exceptions", "retry"): ["Item ids", "--note", "cli:<your login name>"],
    ("exceptions", "resolve"): ["Item ids", "--note", "required",
                                "cli:<your login name>"],
    ("audit",): ["--actor", "--action", "--item", "--since", "--limit", "--json",
                 "cli:<login name>", "Copenhagen time", "masked"],
    ("purge",): ["--older-than", "--yes", "log_retention_days",
                 "trace_retention_days"],
    ("browser",): ["RPA_BROWSER_PATH"],
    ("sandbox",): ["--host", "--port", "--db"],
    ("preflight",): ["The robot's name", "--json", "changing nothing"],
    ("scheduler",): ["--poll", "--lock-ttl", "--term-grace", "standby"],
    ("schedules",): ["--count", "--json", "run-now"],
    ("schedules", "run-now"): ["The job's name", "maximum run time"],
    ("notify",): ["test"],
}  # fmt: skip


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: " ".join(c) or "rpa")
def test_help_exits_0_and_names_the_options(command: tuple[str, ...]) -> None:
    """`rpa [COMMAND] --help` exits 0 and mentions each of the command's options."""
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})

    assert 0 == result.exit_code
    assert result.stdout.startswith(f"Usage: rpa {' '.join(command)}".rstrip())
    missing = [word for word in HELP[command] if word not in result.stdout]
    assert [] == missing


def test_rpa_without_a_command_shows_the_help() -> None:
    """`rpa` alone prints the usage and the commands, as a usage error (exit 2)."""
    result = CliRunner().invoke(app, [], env={"COLUMNS": "200"})

    assert 2 == result.exit_code
    assert "Commands:" in result.output


def test_version_names_robotlib_and_its_version() -> None:
    """`rpa --version` prints the installed robotlib's version and exits 0."""
    from robotlib import __version__

    result = CliRunner().invoke(app, ["--version"])

    assert (0, f"rpa (robotlib) {__version__}\n") == (result.exit_code, result.stdout)


#: What `rpa --help` must not import: the console's web stack, the database layer,
#: the engine and the browser; each costs start-up time a person waits for.
HEAVY = ("sqlalchemy", "psycopg", "fastapi", "starlette", "uvicorn", "jinja2",
         "authlib", "playwright", "apscheduler", "openpyxl",
         "robotlib.console._app", "robotlib.engine", "robotlib.queue.sqlalchemy",
         "robotlib.project")  # fmt: skip


@pytest.mark.parametrize(
    "code",
    ["import robotlib.cli", "from robotlib.cli import main; main()"],
    ids=["import", "rpa --help"],
)
def test_help_imports_neither_the_web_stack_nor_the_database(code: str) -> None:
    """`import robotlib.cli` and `rpa --help` import none of :data:`HEAVY`, as
    `python -X importtime` lists what a process imports."""
    found = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    imported = re.findall(r"^import time:.*\|\s*(\S+)$", found.stderr, re.MULTILINE)
    assert "robotlib.cli" in imported
    assert [] == [
        name
        for name in imported
        if any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY)
    ]
