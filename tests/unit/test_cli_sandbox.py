"""`rpa sandbox`: its help documents every switch, and it serves until interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from robotlib.cli import app
from sandbox.server import free_port

SWITCHES = {
    "--host": None,
    "--port": None,
    "--db": "SANDBOX_DB",
    "--seed": "SANDBOX_SEED",
    "--patients": "SANDBOX_PATIENTS",
    "--session-idle-minutes": "SANDBOX_SESSION_IDLE_MINUTES",
    "--spinner-ms": "SANDBOX_SPINNER_MS",
    "--notice-probability": "SANDBOX_NOTICE_PROBABILITY",
    "--latency-ms": "SANDBOX_LATENCY_MS",
    "--latency-jitter-ms": "SANDBOX_LATENCY_JITTER_MS",
    "--error-rate": "SANDBOX_ERROR_RATE",
    "--error-after-rate": "SANDBOX_ERROR_AFTER_RATE",
    "--expire-every": "SANDBOX_EXPIRE_EVERY",
    "--slow-render-ms": "SANDBOX_SLOW_RENDER_MS",
}


def test_help_documents_every_switch_and_its_environment_variable() -> None:
    """`rpa sandbox --help` names each switch and the variable that also sets it."""
    result = CliRunner().invoke(app, ["sandbox", "--help"], env={"COLUMNS": "100"})
    assert 0 == result.exit_code
    for switch, variable in SWITCHES.items():
        assert switch in result.output
        if variable is not None:
            assert variable in result.output


def test_invalid_switch_value_exits_2() -> None:
    """A probability above 1 is refused with exit code 2."""
    result = CliRunner().invoke(app, ["sandbox", "--error-rate", "2"])
    assert 2 == result.exit_code


@pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")
@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "term"]
)
def test_sandbox_serves_then_stops_on_ctrl_c_or_sigterm(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """It says where it listens and how to log in, serves, and stops cleanly on
    Ctrl+C or SIGTERM (a service manager's stop)."""
    port = free_port()
    rpa = Path(sys.executable).with_name("rpa")
    with subprocess.Popen(
        [str(rpa), "sandbox", "--port", str(port), "--db", str(tmp_path / "s.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert f"listening on http://127.0.0.1:{port}" in first
            assert "robot / robot-pass-1" in process.stdout.readline()
            health = httpx.get(f"http://127.0.0.1:{port}/api/health").json()
            assert {"status": "ok"} == health
            process.send_signal(stop)
            rest, _ = process.communicate(timeout=60)
            assert 0 == process.returncode, rest
            assert "The sandbox stopped." in rest
        finally:
            process.kill()
    assert (tmp_path / "s.db").exists()
