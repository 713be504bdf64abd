"""`rpa purge` removes old run folders with their logs, screenshots and traces."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robotlib.cli import app
from robotlib.engine import new_run_id
from robotlib.project import Project
from robotlib.settings import load_settings

NOW = datetime.now(UTC)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose rpa.toml keeps logs 7 days; no RPA_* variable interferes."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    (tmp_path / "rpa.toml").write_text("log_retention_days = 7\n", encoding="utf-8")
    return tmp_path


def _run_folder(project: Path, robot: str, started: datetime, suffix: str = "") -> Path:
    """A run folder as the engine leaves it after failures: log, screenshot, trace."""
    folder = project / "logs" / robot / f"{new_run_id(started)}{suffix}"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text('{"event": "run_started"}\n', "utf-8")
    (folder / "item-1-attempt-1-browser.png").write_bytes(b"\x89PNG")
    (folder / "item-1-attempt-2-browser-trace.zip").write_bytes(b"PK\x05\x06")
    (folder / "report.xlsx").write_bytes(b"PK\x05\x06")
    return folder


def _purge(project: Path, *args: str) -> str:
    answer = CliRunner().invoke(app, ["--project", str(project), "purge", *args])
    assert 0 == answer.exit_code, answer.output
    return answer.output


def test_purge_by_the_retention_setting(project: Path) -> None:
    """Without --older-than, folders older than log_retention_days go, with files."""
    old = _run_folder(project, "lab_results", NOW - timedelta(days=10))
    old_preflight = _run_folder(
        project, "lab_results", NOW - timedelta(days=8), "-preflight"
    )
    recent = _run_folder(project, "lab_results", NOW - timedelta(days=6))
    other_robot = _run_folder(project, "bed_board", NOW - timedelta(days=30))
    not_a_run = project / "logs" / "lab_results" / "notes"
    not_a_run.mkdir()

    output = _purge(project, "--yes")

    assert (
        "Purged 3 run folder(s) and 0 item(s) older than 7 day(s), "
        "and 0 trace(s) older than 14 day(s)."
    ) in output
    assert not old.exists()
    assert not old_preflight.exists()
    assert not other_robot.exists()
    assert recent.is_dir()
    assert 4 == len(list(recent.iterdir()))
    assert not_a_run.is_dir()  # not a run folder: not ours to delete


def test_purge_keeps_the_audit_trail(project: Path) -> None:
    """The audit trail outlives a purge; run folders of the age go."""
    opened = Project(load_settings(project))
    try:
        opened.backend.record_audit(actor="admin", action="user_added", note="bob")
    finally:
        opened.close()
    old = _run_folder(project, "lab_results", NOW - timedelta(hours=30))

    _purge(project, "--older-than", "1d", "--yes")

    assert not old.exists()
    reopened = Project(load_settings(project))
    try:
        assert ["user_added"] == [e.action for e in reopened.backend.audit_log()]
    finally:
        reopened.close()


def test_purge_asks_first(project: Path) -> None:
    """Without --yes, purge asks, and a no keeps every folder."""
    old = _run_folder(project, "lab_results", NOW - timedelta(days=10))
    answer = CliRunner().invoke(app, ["--project", str(project), "purge"], input="n\n")
    assert 1 == answer.exit_code
    assert old.is_dir()


def test_purge_removes_old_preflight_output_logs(project: Path) -> None:
    """Scheduled preflights' output logs (.rpa/firings) older than the age go."""
    firings = project / ".rpa" / "firings"
    firings.mkdir(parents=True)
    old, recent = firings / "1.log", firings / "2.log"
    for path in (old, recent):
        path.write_text('{"event": "preflight_failed"}\n', encoding="utf-8")
    ten_days_ago = (NOW - timedelta(days=10)).timestamp()
    os.utime(old, (ten_days_ago, ten_days_ago))

    opened = Project(load_settings(project))
    try:
        result = opened.purge(before=NOW - timedelta(days=7))
    finally:
        opened.close()

    assert 1 == result.firing_logs
    assert [recent] == list(firings.iterdir())
