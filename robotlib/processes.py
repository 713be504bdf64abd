"""Child processes that run ``rpa`` commands: started apart, stopped gently.

The scheduler runs each firing this way and ``rpa run --workers`` each worker. A
child runs ``python -m robotlib.cli ...`` with our own interpreter, in a process
group (a session on POSIX) of its own, so that

- a terminal's Ctrl+C reaches only the parent, which decides what to pass on;
- a browser that crashes or hangs takes only its child down;
- the child and everything it started (Playwright's driver; the browser follows
  the driver) can be killed together.

To stop a child, :func:`ask_to_stop` sends SIGTERM to the child's process alone
(Ctrl+Break on Windows): not to its group, where Playwright's driver would take
it as the end and close the browser the robot needs to finish its current item.
:func:`kill_group` ends the lot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ask_to_stop", "kill_group", "rpa_command", "spawn", "tail"]


def rpa_command(project_dir: Path, *args: str) -> list[str]:
    """The argv of ``rpa --project PROJECT ARGS...`` run by this interpreter."""
    return [sys.executable, "-m", "robotlib.cli", "--project", str(project_dir), *args]


def spawn(
    argv: Sequence[str], *, output: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a process group of its own, its output appended to a file.

    The output file is created owner-only (it may show what the robot worked on).
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(output, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as sink:
        if os.name == "posix":
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            creationflags=subprocess.CREATE_NEW_PROCESS_GROUP,  # type: ignore[attr-defined,unused-ignore]
        )


def ask_to_stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's process alone (Ctrl+Break on Windows)."""
    try:
        if os.name == "posix":
            process.send_signal(signal.SIGTERM)
        else:
            process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined,unused-ignore]
    except OSError:
        pass  # it ended between our poll and the signal


def kill_group(process: subprocess.Popen[Any]) -> None:
    """Kill the child and what it started; wait for it."""
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass  # the group has ended already
    else:
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(process.pid)],
            capture_output=True,
            check=False,
        )
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a child's output file ("" when unreadable)."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 8192))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
