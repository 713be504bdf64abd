"""Running one firing in a child process, under a time limit.

The child is ``python -m robotlib.cli ...`` with the scheduler's own interpreter, in
a process group of its own: a browser that crashes or hangs takes only the child
down, and a time limit ends the whole group (the robot and its browser). At the
limit the robot gets SIGTERM first, which lets it finish the current item; after
``term_grace_s`` the group is killed. An item the kill interrupted
returns to the queue when its lease expires: nothing is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Event

__all__ = ["ChildResult", "rpa_command", "run_child"]

#: How often the parent looks at its child.
POLL_S = 0.2


@dataclass(frozen=True)
class ChildResult:
    """How a child process ended."""

    exit_code: int | None
    timed_out: bool
    stopped: bool
    duration_s: float
    output_tail: str


def rpa_command(project_dir: Path, *args: str) -> list[str]:
    """The argv of ``rpa --project PROJECT ARGS...`` run by this interpreter."""
    return [sys.executable, "-m", "robotlib.cli", "--project", str(project_dir), *args]


def run_child(
    argv: Sequence[str],
    *,
    output: Path,
    time_limit_s: float | None,
    term_grace_s: float,
    stop: Event,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], object] | None = None,
) -> ChildResult:
    """Run ``argv`` until it exits, its time limit passes, or ``stop`` is set.

    Args:
        argv: the command.
        output: the file its stdout and stderr go to (created owner-only).
        time_limit_s: end it after this long; None: no limit.
        term_grace_s: how long SIGTERM has before the kill.
        stop: set by the scheduler's own shutdown; ends the child the same way.
        env: its environment (default: ours).
        on_start: called with the child's pid.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    fd = os.open(output, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as sink:
        if os.name == "posix":
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        else:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                creationflags=subprocess.CREATE_NEW_PROCESS_GROUP,  # type: ignore[attr-defined,unused-ignore]
            )
    if on_start is not None:
        on_start(process.pid)
    timed_out = stopped = False
    ending_since: float | None = None
    while process.poll() is None:
        now = time.monotonic()
        if ending_since is None:
            if time_limit_s is not None and now - started >= time_limit_s:
                timed_out = True
            elif stop.is_set():
                stopped = True
            if timed_out or stopped:
                _ask_to_stop(process)
                ending_since = now
        elif now - ending_since >= term_grace_s:
            _kill_group(process)
        try:
            process.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            continue
    if timed_out or stopped:
        _kill_group(process)  # what the robot left behind: a browser, say
    return ChildResult(
        exit_code=process.returncode,
        timed_out=timed_out,
        stopped=stopped,
        duration_s=time.monotonic() - started,
        output_tail=_tail(output),
    )


def _ask_to_stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the robot's process alone (Ctrl+Break on Windows).

    Not to its group: Playwright's driver is in it, and the robot needs its browser
    to finish the current item.
    """
    try:
        if os.name == "posix":
            process.send_signal(signal.SIGTERM)
        else:
            process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined,unused-ignore]
    except (ProcessLookupError, PermissionError, OSError):
        pass  # it ended between our poll and the signal


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the robot and what it started (the driver; the browser follows)."""
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
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


def _tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - 8192))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
