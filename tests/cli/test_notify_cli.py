"""`rpa notify test`: sends a test notification to each configured notifier."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Rpa = Callable[..., Result]


def configure_command(project: Path, code: str) -> Path:
    """Write a Python notify script and a [notify] table running it; return it."""
    script = project / "notify_script.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    command = json.dumps([sys.executable, str(script)])
    with (project / "rpa.toml").open("a", encoding="utf-8") as toml:
        toml.write(f"\n[notify]\ncommand = {command}\n")
    return script


def test_notify_test_runs_the_command(project: Path, rpa: Rpa) -> None:
    """With a command configured, the command gets a test notification: exit 0."""
    out = project / "notified.json"
    configure_command(
        project,
        f"""
        import json, os, sys
        seen = {{"stdin": json.load(sys.stdin), "kind": os.environ["RPA_NOTIFY_KIND"]}}
        open({str(out)!r}, "w", encoding="utf-8").write(json.dumps(seen))
        """,
    )

    result = rpa("notify", "test")

    assert 0 == result.exit_code, result.output
    assert "command: ok" in result.stdout
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert "test" == seen["kind"] == seen["stdin"]["kind"]
    assert seen["stdin"]["subject"].startswith("robotlib: test notification from ")


def test_notify_test_without_notifiers_exits_2(project: Path, rpa: Rpa) -> None:
    """With no [notify] table the command says what to configure and exits 2."""
    result = rpa("notify", "test")

    assert 2 == result.exit_code
    assert "No notifier is configured" in result.stderr
    assert "[notify]" in result.stderr


def test_notify_test_with_a_failing_command_exits_1(project: Path, rpa: Rpa) -> None:
    """A failing notifier is shown with its error, and the command exits 1."""
    configure_command(
        project,
        """
        import sys
        print("boom", file=sys.stderr)
        sys.exit(3)
        """,
    )

    result = rpa("notify", "test")

    assert 1 == result.exit_code
    assert "command: failed:" in result.stdout
    assert "exited 3: boom" in result.stdout


def test_notify_test_with_an_invalid_table_exits_2(project: Path, rpa: Rpa) -> None:
    """An invalid [notify] table is a configuration error (exit 2) naming notify."""
    with (project / "rpa.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[notify]\nsmtp_host = "smtp.region.example"\n')

    result = rpa("notify", "test")

    assert 2 == result.exit_code
    assert "notify: smtp_host is set" in result.stderr
