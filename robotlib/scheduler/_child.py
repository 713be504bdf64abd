"""Running one firing in a child process, under a time limit.

The child is ``python -m robotlib.cli ...`` in a process group of its own
(:mod:`robotlib.processes`): a browser that crashes or hangs takes only the child
down. At the time limit the robot gets SIGTERM first, which lets it finish the
current item; after ``term_grace_s`` its whole group is killed. An item the kill
interrupted returns to the queue when its lease expires: nothing is lost.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Event

from robotlib.processes import ask_to_stop, kill_group, spawn, tail

__all__ = ["ChildResult", "run_child"]

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
    started = time.monotonic()
    process = spawn(argv, output=output, env=env)
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
                ask_to_stop(process)
                ending_since = now
        elif now - ending_since >= term_grace_s:
            kill_group(process)
        try:
            process.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            continue
    if timed_out or stopped:
        kill_group(process)  # what the robot left behind: a browser, say
    return ChildResult(
        exit_code=process.returncode,
        timed_out=timed_out,
        stopped=stopped,
        duration_s=time.monotonic() - started,
        output_tail=tail(output),
    )
