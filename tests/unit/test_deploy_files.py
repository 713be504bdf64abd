"""The service definitions in deploy/ parse and start a scheduler the CLI has."""

from __future__ import annotations

import configparser
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from robotlib.cli import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "robotlib-scheduler.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "scheduler.env.example"
TASK = DEPLOY / "windows" / "robotlib-scheduler-task.xml"
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
#: The default of `rpa scheduler --term-grace`.
TERM_GRACE_S = 60


def _unit() -> configparser.ConfigParser:
    # systemd allows repeated keys (Environment=); strict=False keeps the last.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def _systemd_seconds(value: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    return float(number) * units[value[len(number) :]]


def _rpa_subcommand(argv: list[str]) -> list[str]:
    """The arguments after `rpa` and its --project option."""
    rest = list(argv)
    while rest and rest[0] in ("--project", "-p"):
        rest = rest[2:]
    return rest


def _task_action() -> tuple[str, list[str]]:
    root = ET.parse(TASK).getroot()
    command = root.findtext("t:Actions/t:Exec/t:Command", namespaces=TASK_NS)
    arguments = root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=TASK_NS)
    assert command is not None
    assert arguments is not None
    return command, shlex.split(arguments, posix=False)


def test_unit_file_runs_the_rpa_scheduler_command() -> None:
    service = _unit()["Service"]
    argv = shlex.split(service["ExecStart"])

    assert Path(argv[0]).name == "rpa"
    assert _rpa_subcommand(argv[1:])[:1] == ["scheduler"]
    result = CliRunner().invoke(app, [*argv[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Run the scheduler" in result.output


def test_unit_file_stops_with_sigterm_and_waits_longer_than_the_term_grace() -> None:
    unit = _unit()
    service = unit["Service"]

    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert _systemd_seconds(service["TimeoutStopSec"]) > TERM_GRACE_S
    assert service["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_unit_file_hardening_leaves_the_browser_working() -> None:
    service = _unit()["Service"]

    assert service["User"] == "rpa"
    assert service["NoNewPrivileges"] == "yes"
    assert service["UMask"] == "0077"
    assert service["WorkingDirectory"] in service["ReadWritePaths"].split()
    # Chromium's JavaScript engine needs writable, executable memory.
    assert "MemoryDenyWriteExecute" not in service
    assert service["EnvironmentFile"].lstrip("-") == "/etc/robotlib/scheduler.env"


def test_term_grace_default_is_the_one_the_stop_timeout_allows_for() -> None:
    scheduler = getattr(typer.main.get_command(app), "commands", {})["scheduler"]

    defaults = {param.name: param.default for param in scheduler.params}
    assert defaults["term_grace"] == TERM_GRACE_S


def test_env_example_holds_only_assignments() -> None:
    names = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, _value = line.partition("=")
        assert sep and name.isidentifier() and name.upper() == name, line
        names.append(name)

    assert "RPA_DATABASE_URL" in names
    assert any(name.startswith("RPA_CRED_") for name in names)


def test_windows_task_runs_the_rpa_scheduler_command() -> None:
    command, arguments = _task_action()

    assert command.lower().endswith("\\rpa.exe")
    assert _rpa_subcommand(arguments)[:1] == ["scheduler"]
    result = CliRunner().invoke(app, [*arguments, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("t:Settings/t:MultipleInstancesPolicy", "IgnoreNew"),
        ("t:Settings/t:ExecutionTimeLimit", "PT0S"),
        ("t:Settings/t:RestartOnFailure/t:Interval", "PT1M"),
        ("t:Settings/t:RestartOnFailure/t:Count", "999"),
        ("t:Principals/t:Principal/t:LogonType", "Password"),
    ],
)
def test_windows_task_settings(path: str, expected: str) -> None:
    root = ET.parse(TASK).getroot()

    assert root.findtext(path, namespaces=TASK_NS) == expected


def test_windows_task_starts_at_boot() -> None:
    root = ET.parse(TASK).getroot()

    assert root.find("t:Triggers/t:BootTrigger", namespaces=TASK_NS) is not None


AGENT_UNIT = DEPLOY / "systemd" / "robotlib-agent.service"


def test_agent_unit_runs_rpa_agent_with_options_it_has() -> None:
    """ExecStart names `rpa agent` with options the CLI accepts (checked by parsing
    them: --help after them exits 0 only when each one is known)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(AGENT_UNIT.read_text(encoding="utf-8"))
    service = parser["Service"]
    argv = shlex.split(service["ExecStart"])

    assert Path(argv[0]).name == "rpa"
    assert _rpa_subcommand(argv[1:])[:1] == ["agent"]
    result = CliRunner().invoke(app, [*argv[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Run this machine's agent" in result.output
    # SIGTERM to the agent alone drains it; its workers must not get one too.
    assert (service["KillMode"], service["KillSignal"]) == ("mixed", "SIGTERM")
    assert _systemd_seconds(service["TimeoutStopSec"]) >= 120
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"].lstrip("-") == "/etc/robotlib/agent.env"
    assert "MemoryDenyWriteExecute" not in service
