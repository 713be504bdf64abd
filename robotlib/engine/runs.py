"""Runs: their ids, how they end (status and exit code), and what a run returns.

A run id sorts by start time (``20261122T054512Z-3f9a1c``); the scheduler chooses
one before it starts a child, so that it can find the run of a child it had to kill.
How a run ends is decided in one place, :func:`ended`, for the engine and for the
``--workers`` coordinator alike.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from robotlib.errors import ConfigurationError
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import EnqueueResult, ItemState, Outcome, RunStatus
from robotlib.settings import Settings

__all__ = [
    "EXIT_FAILED_ITEMS",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_STOPPED",
    "RunObserver",
    "RunResult",
    "check_run_id",
    "coordinator_of",
    "dead_run_counts",
    "ended",
    "new_run_id",
    "private_dir",
    "run_started_at",
]

EXIT_OK = 0
EXIT_STOPPED = 1
EXIT_INVALID = 2
#: The run ran to its end with more failed items than ``failed_item_threshold``.
EXIT_FAILED_ITEMS = 3

#: The exit code of each way a run can end that is not a stop.
_EXIT_CODES = {
    RunStatus.COMPLETED: EXIT_OK,
    RunStatus.COMPLETED_WITH_FAILURES: EXIT_FAILED_ITEMS,
}

_RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-z]{1,32}")
#: A worker's run: its coordinating run's id, then ``w<n>`` (a worker that run
#: started itself) or ``a<n>`` (slot n, taken by an agent of the fleet).
_WORKER_RUN = re.compile(r"(?P<parent>\d{8}T\d{6}Z-[0-9a-f]{6})[wa]\d+")


def ended(status: RunStatus, failed: int, settings: Settings) -> tuple[RunStatus, int]:
    """How a run that got to its end is recorded, and its exit code.

    A completed run with more failed items than ``failed_item_threshold`` says so:
    it needs a person. The engine and the ``--workers`` coordinator both decide here.
    """
    if status is RunStatus.COMPLETED and failed > settings.notify.failed_item_threshold:
        status = RunStatus.COMPLETED_WITH_FAILURES
    return status, _EXIT_CODES.get(status, EXIT_STOPPED)


#: The item states a run's counts name (as its outcomes).
_ENDED = (ItemState.DONE, ItemState.BUSINESS_EXCEPTION, ItemState.FAILED)


def dead_run_counts(backend: QueueBackend, robot: str, run_id: str) -> dict[str, int]:
    """The counts of a run that could not record its own end (its process died or
    was killed), from the end states of the items it claimed last.

    The ``--workers`` coordinator (a dead worker) and the scheduler (a killed or
    crashed child) close such runs with them.
    """
    ended = backend.counts(robot, run_id=run_id)
    return {Outcome(state.value): ended[state] for state in _ENDED if ended[state]}


def new_run_id(now: datetime) -> str:
    """Return a run id that sorts by start time: ``20261122T054512Z-3f9a1c``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> None:
    """Raise ConfigurationError unless ``run_id`` is one :func:`new_run_id` makes."""
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigurationError(
            f"invalid run id {run_id!r}: expected one like 20261122T054512Z-3f9a1c"
        )


def coordinator_of(run_id: str) -> str | None:
    """The coordinating run's id when ``run_id`` is a worker's run, else None.

    Example:
        >>> coordinator_of("20261122T054512Z-3f9a1cw2"), coordinator_of(
        ...     "20261122T054512Z-3f9a1ca1"), coordinator_of("20261122T054512Z-3f9a1c")
        ('20261122T054512Z-3f9a1c', '20261122T054512Z-3f9a1c', None)
    """
    match = _WORKER_RUN.fullmatch(run_id)
    return match["parent"] if match else None


def run_started_at(run_id: str) -> datetime | None:
    """Return the start time a run id holds, or None if it is not a run id."""
    try:
        return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def private_dir(path: Path) -> Path:
    """Create ``path`` owner-only, and its missing parents too (``logs/<robot>``).

    Parents that exist already keep their mode: a log folder an administrator
    chose is theirs to set.
    """
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    if os.name == "posix":
        for folder in {path, *missing}:
            folder.chmod(0o700)
    return path


class RunObserver(Protocol):
    """Told of a run's progress (the CLI draws a progress bar with it)."""

    def loaded(self, result: EnqueueResult | None, due: int) -> None:
        """The input was loaded; ``due`` items wait in the queue."""

    def item_finished(self, outcome: Outcome) -> None:
        """An item ended with ``outcome`` (done, business_exception, retried, ...)."""


@dataclass(frozen=True)
class RunResult:
    """How a run ended.

    Attributes:
        counts: how many claimed items (and setups) ended each way, by
            :class:`~robotlib.queue.models.Outcome` (a ``str`` enum, as
            ``Run.counts`` stores them).
    """

    run_id: str
    robot: str
    status: RunStatus
    run_dir: Path
    counts: dict[str, int]
    loaded: EnqueueResult | None
    note: str = ""
    exit_code: int = EXIT_OK
