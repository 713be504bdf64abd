"""Safe defaults: CPR numbers hidden, servers on loopback, retention on."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import pytest
import typer

from robotlib.cli import app
from robotlib.logs import build_redactor
from robotlib.settings import Settings
from sandbox import SandboxServer


@pytest.fixture(autouse=True)
def no_rpa_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from their defaults here, not from the environment."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)


def _option(path: list[str], name: str) -> Any:
    """The option ``name`` of the command at ``path`` (a Click option)."""
    command: Any = typer.main.get_command(app)
    for part in path:
        command = command.commands[part]
    [parameter] = [p for p in command.params if p.name == name]
    return parameter


def test_logs_hash_cpr_numbers_by_default(tmp_path: Path) -> None:
    """cpr_in_logs defaults to hash: a log never shows a CPR number."""
    settings = Settings(project_dir=tmp_path)
    assert "hash" == settings.cpr_in_logs
    redacted = build_redactor(settings).redact("patient 240512-4123 / 2405124123")
    assert "240512" not in redacted
    assert 2 == redacted.count("cpr:")


def test_logs_are_kept_ninety_days_by_default(tmp_path: Path) -> None:
    """log_retention_days, the age `rpa purge` removes by default, is 90."""
    assert 90 == Settings(project_dir=tmp_path).log_retention_days


@pytest.mark.parametrize("path", [["runs", "show"], ["queue"], ["exceptions", "list"]])
def test_cli_lists_mask_cpr_numbers_by_default(path: list[str]) -> None:
    """Listing commands show CPR numbers only with --show-cpr."""
    option = _option(path, "show_cpr")
    assert ["--show-cpr"] == option.opts
    assert option.default is False


@pytest.mark.parametrize("command", ["sandbox", "console"])
def test_servers_bind_to_loopback_by_default(command: str) -> None:
    """`rpa sandbox` and `rpa console` listen on 127.0.0.1 unless told otherwise."""
    assert "127.0.0.1" == _option([command], "host").default


def test_console_cookies_are_not_secure_only_unless_asked() -> None:
    """--secure-cookies is an explicit choice (behind an HTTPS proxy)."""
    option = _option(["console"], "secure_cookies")
    assert ["--secure-cookies"] == option.opts
    assert option.default is False


def test_sandbox_server_binds_to_loopback_by_default() -> None:
    """The sandbox server class, used by tests and the demo, defaults to loopback."""
    host = inspect.signature(SandboxServer).parameters["host"].default
    assert "127.0.0.1" == host
