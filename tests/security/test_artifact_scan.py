"""Every artifact of a real lab_results run is scanned for the password and CPR numbers.

The robot runs in real headless Chromium against the live sandbox, with its default
settings (``cpr_in_logs = "hash"``), its password in an owner-only
``credentials.toml``, and faults switched on for one patient's item so that every
kind of artifact is made: attempt 1 gets HTTP 500 after its registration was saved
(a screenshot), attempt 2 finds its session gone (the robot logs in again, typing the
password while a Playwright trace records) and gets HTTP 500 on the patient search (a
screenshot and the trace), attempt 3 finds the registration saved and is done. The
spreadsheet's bad rows give business exceptions.

The rules checked (see SECURITY.md):

- The password appears nowhere: not in a file or a file name under the logs folder
  (events.jsonl, report.xlsx and every part of it, screenshots, every file of every
  trace), not on the console, not in the CLI's output, not in any row of any table
  of the queue database.
- A full CPR number (DDMMYY-SSSS holding a real date) appears in no log, report,
  file name, stored error message, run note, history or audit note, console or CLI
  output. The documented exceptions: the queue's ``payload`` and ``reference``
  columns (the robot needs the number), and what shows the patient's pages,
  namely Playwright traces (page snapshots: owner-only, purged with the run
  folder) and screenshots (pixels; patient fields masked).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import structlog
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from typer.testing import CliRunner

from robotlib import RetryPolicy
from robotlib.cli import app
from robotlib.console import create_app
from robotlib.console._accounts import AccountStore
from robotlib.discovery import load_robot
from robotlib.engine import Engine, RunResult
from robotlib.logs import configure_logging
from robotlib.project import Project
from robotlib.queue.models import ItemState
from robotlib.settings import Settings
from robotlib.steps import browser as browser_steps
from sandbox import SandboxServer
from sandbox.database import SEED_USERS

pytestmark = pytest.mark.browser

ROBOTS = Path(__file__).resolve().parents[2] / "robots"
USERNAME = "robot"
PASSWORD = SEED_USERS[USERNAME][0]
#: The patient whose item meets the faults.
CHOSEN = "170551-4514"
#: Queue columns that hold the CPR number in clear, because the robot needs it.
CPR_COLUMNS = {("work_items", "payload"), ("work_items", "reference")}


@dataclass
class ScannedRun:
    """A finished run and every place it left something."""

    project: Project
    result: RunResult
    console: str
    cli: dict[str, str]
    database: dict[str, list[dict[str, str]]]

    @property
    def files(self) -> list[Path]:
        """Every file under the logs folder."""
        return sorted(p for p in self.project.settings.logs.rglob("*") if p.is_file())


def _faults(url: str, **switches: float) -> None:
    httpx.put(f"{url}/api/faults", json=switches).raise_for_status()


def _attempt_of_chosen() -> int:
    """The attempt of the item being processed if it is the chosen one, else 0."""
    bound = structlog.contextvars.get_contextvars()
    if str(bound.get("item", "")).startswith(CHOSEN):
        return int(bound.get("attempt", 0))
    return 0


@pytest.fixture(scope="module")
def scanned(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_server: SandboxServer,
    browser: Browser,
    dump_sqlite: Callable[[Path], dict[str, list[dict[str, str]]]],
) -> Iterator[ScannedRun]:
    """Run lab_results once with faults on one item; collect what it left."""
    url = sandbox_server.url
    httpx.post(f"{url}/api/reset").raise_for_status()
    folder = tmp_path_factory.mktemp("project")
    credentials = folder / "credentials.toml"
    credentials.write_text(
        f'[sandbox]\nurl = "{url}"\nusername = "{USERNAME}"\npassword = "{PASSWORD}"\n',
        encoding="utf-8",
    )
    credentials.chmod(0o600)
    project = Project(Settings(project_dir=folder))  # the defaults: CPR hashed
    console = io.StringIO()
    with contextlib.redirect_stderr(console):
        configure_logging(
            project.settings, redactor=project.redactor, console_level="DEBUG"
        )
    expired = []
    click, goto = browser_steps.click, browser_steps.goto

    def faulty_goto(session: Any, target: str) -> None:
        if _attempt_of_chosen() == 2 and not expired:
            expired.append(True)
            session.context.clear_cookies()  # the session is gone: log in again
        goto(session, target)

    def faulty_click(session: Any, target: str, **options: Any) -> None:
        fault = {1: ("Save result", "error_after_rate"), 2: ("Search", "error_rate")}
        button, switch = fault.get(_attempt_of_chosen(), ("", ""))
        if target != button:
            return click(session, target, **options)
        _faults(url, **{switch: 1.0})
        try:
            return click(session, target, **options)
        finally:
            _faults(url)

    robot = load_robot(ROBOTS, "lab_results").robot
    robot = robot.model_copy(update={"retry": RetryPolicy(attempts=3, backoff_s=(0,))})
    engine = Engine(
        robot,
        settings=project.settings,
        backend=project.backend,
        redactor=project.redactor,
        credentials_loader=project.credentials,
        shared={"robotlib.browser": browser},
        sleep=lambda seconds: None,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(browser_steps, "click", faulty_click)
        patch.setattr(browser_steps, "goto", faulty_goto)
        try:
            result = engine.run()
        finally:
            _faults(url)
    exceptions = project.backend.items(
        "lab_results", states=[ItemState.BUSINESS_EXCEPTION]
    )
    runner = CliRunner()
    commands = {
        "runs": ["runs"],
        "runs show": ["runs", "show", result.run_id],
        "runs show --json": ["runs", "show", result.run_id, "--json"],
        "queue": ["queue", "lab_results"],
        "queue --json": ["queue", "lab_results", "--json"],
        "exceptions list": ["exceptions", "list"],
        "exceptions list --json": ["exceptions", "list", "--json"],
        "logs": ["logs", result.run_id, "--level", "debug"],
        "exceptions retry": [
            "exceptions",
            "retry",
            str(exceptions[0].id),
            "--note",
            "the lab corrected the row",
        ],
    }
    cli = {}
    for name, arguments in commands.items():
        answer = runner.invoke(app, ["--project", str(folder), *arguments])
        assert 0 == answer.exit_code, (name, answer.output)
        cli[name] = answer.output
    database = project.settings.state_dir / "robotlib.db"
    project.close()
    yield ScannedRun(project, result, console.getvalue(), cli, dump_sqlite(database))
    httpx.post(f"{url}/api/reset").raise_for_status()


def _database_places(
    scanned: ScannedRun, *, skip: set[tuple[str, str]]
) -> dict[str, str]:
    return {
        f"{table}[{number}].{column}": value
        for table, rows in scanned.database.items()
        for number, row in enumerate(rows)
        for column, value in row.items()
        if (table, column) not in skip
    }


def _output_places(scanned: ScannedRun) -> dict[str, str]:
    return {
        "console": scanned.console,
        **{f"rpa {name}": text for name, text in scanned.cli.items()},
    }


def test_the_run_made_every_kind_of_artifact(
    scanned: ScannedRun, walk_texts: Callable[[Path], Iterator[tuple[str, str]]]
) -> None:
    """The run left screenshots, a trace across a new login, exceptions, a report."""
    result = scanned.result
    assert {"done": 4, "business_exception": 4, "retried": 2} == result.counts
    names = [path.name for path in scanned.files]
    assert 2 <= sum(name.endswith(".png") for name in names)
    assert "report.xlsx" in names
    assert "events.jsonl" in names
    traces = [path for path in scanned.files if path.name.endswith("-trace.zip")]
    assert 1 == len(traces)
    texts = "".join(text for _, text in walk_texts(traces[0]))
    assert "/login" in texts  # the robot logged in again while the trace recorded
    assert CHOSEN in texts  # traces show the patient's pages: documented
    assert scanned.database["audit_log"]  # the retry from the CLI was audited


def test_password_appears_in_no_artifact(
    scanned: ScannedRun,
    walk_texts: Callable[[Path], Iterator[tuple[str, str]]],
    secret_forms: Callable[[str], set[str]],
) -> None:
    """The password is in no file, file name, console line, CLI output or table row."""
    forms = secret_forms(PASSWORD)
    logs = scanned.project.settings.logs
    places = {
        **_output_places(scanned),
        **_database_places(scanned, skip=set()),
        "file names": "\n".join(p.relative_to(logs).as_posix() for p in scanned.files),
    }
    for path in scanned.files:
        places.update(walk_texts(path))
    found = [
        (where, form)
        for where, text in places.items()
        for form in forms
        if form in text
    ]
    assert [] == found


def test_no_full_cpr_outside_the_documented_places(
    scanned: ScannedRun,
    walk_texts: Callable[[Path], Iterator[tuple[str, str]]],
    full_cprs: Callable[[str], list[str]],
) -> None:
    """No full CPR number in logs, reports, names, messages, notes or CLI output."""
    logs = scanned.project.settings.logs
    places = {
        **_output_places(scanned),
        **_database_places(scanned, skip=CPR_COLUMNS),
        "file names": "\n".join(p.relative_to(logs).as_posix() for p in scanned.files),
    }
    for path in scanned.files:
        if path.suffix == ".png" or path.name.endswith("-trace.zip"):
            continue  # they show the patient's pages: the documented exception
        places.update(walk_texts(path))
    found = [(where, cpr) for where, text in places.items() for cpr in full_cprs(text)]
    assert [] == found
    payloads = [row["payload"] for row in scanned.database["work_items"]]
    assert any(CHOSEN in payload for payload in payloads)  # the robot needs it


def test_stored_error_messages_mask_the_cpr(scanned: ScannedRun) -> None:
    """The unknown patient's stored message names the patient masked, as the
    operator reads it (birth date and ``-****``), never by a hash."""
    messages = [
        row["error_message"]
        for row in scanned.database["work_items"]
        if "No patient with CPR number" in row["error_message"]
    ]
    assert 1 == len(messages)
    assert re.search(r"No patient with CPR number \d{6}-\*{4} ", messages[0])


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_run_artifacts_are_owner_only(scanned: ScannedRun) -> None:
    """Log and state folders are 0o700; run files, the key and the queue 0o600."""
    settings = scanned.project.settings
    run_dir = scanned.result.run_dir
    paths = [settings.logs, run_dir.parent, run_dir, *run_dir.rglob("*")]
    modes = {
        path.relative_to(settings.project_dir).as_posix(): stat.S_IMODE(
            path.stat().st_mode
        )
        for path in paths
    }
    expected = {
        path.relative_to(settings.project_dir).as_posix(): (
            0o700 if path.is_dir() else 0o600
        )
        for path in paths
    }
    assert expected == modes
    assert 0o700 == stat.S_IMODE(settings.state_dir.stat().st_mode)
    for name in ("log-key", "robotlib.db"):
        assert 0o600 == stat.S_IMODE((settings.state_dir / name).stat().st_mode)


def test_json_listings_mask_the_cpr(scanned: ScannedRun) -> None:
    """`rpa queue --json` lists references masked unless --show-cpr is given."""
    items = json.loads(scanned.cli["queue --json"])["items"]
    assert items
    assert all(CHOSEN not in json.dumps(item) for item in items)


def test_console_pages_and_exports_show_no_full_cpr(
    scanned: ScannedRun, full_cprs: Callable[[str], list[str]]
) -> None:
    """Every console page and CSV export of the run, read by an operator, shows
    no full CPR number; only the audited reveal does, for its one item."""
    project = scanned.project
    accounts = AccountStore(
        project.settings.database,
        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    )
    accounts.add("otto", "operator", "correct horse battery")
    run_id = scanned.result.run_id
    items = project.backend.items("lab_results")
    with TestClient(
        create_app(project, accounts=accounts), headers={"Accept-Language": "en"}
    ) as client:
        form = client.get("/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert token is not None
        client.post(
            "/login",
            data={
                "username": "otto",
                "password": "correct horse battery",
                "login_token": token[1],
            },
        )
        paths = [
            "/",
            "/exceptions",
            "/exceptions.csv",
            "/schedules",
            f"/runs/{run_id}",
            f"/runs/{run_id}?steps=true",
            f"/runs/{run_id}/items.csv",
            *(f"/items/{item.id}" for item in items),
        ]
        pages = {path: client.get(path) for path in paths}
        chosen = next(item for item in items if item.reference.startswith(CHOSEN))
        page = pages[f"/items/{chosen.id}"].text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        revealed = client.post(
            f"/items/{chosen.id}/reveal", data={"csrf_token": csrf[1]}
        )
    accounts.close()

    assert all(200 == answer.status_code for answer in pages.values())
    found = [
        (path, cpr)
        for path, answer in pages.items()
        for cpr in full_cprs(answer.content.decode("utf-8-sig"))
    ]
    assert [] == found
    assert CHOSEN.replace("-", "") in revealed.text.replace("-", "")
    [reveal] = project.backend.audit_log(action="reveal_cpr")
    assert ("otto", chosen.id) == (reveal.actor, reveal.item_id)
