"""Lease fencing: a worker whose lease may have run out runs no further step.

While the engine processes an item, :func:`guarding` makes a :class:`LeaseGuard`
the current one (a context variable), and every ``@step`` calls :func:`check`
before it runs. The guard knows when the lease was last renewed; while more than a
third of the lease is safely left it answers at once, without the database, and
otherwise it renews the lease there first. A renewal the queue refuses (the item
was recovered and is leased to another worker, or is no longer in progress) raises
:class:`~robotlib.errors.LeaseLostError` before the step runs, and so does every
check after it: the item is its new owner's now.

The time since the last renewal is measured from when the renewal was *sent*, by
the monotonic clock and the wall clock both, the larger counting: a process that
was paused (SIGSTOP, a debugger) or a machine that slept (which the monotonic
clock may not count) sees on resuming that its lease may have run out.

Outside an engine run (a test calling a step directly) there is no guard, and
:func:`check` does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from robotlib.errors import LeaseLostError, RobotlibError

if TYPE_CHECKING:
    from robotlib.queue.base import QueueBackend

__all__ = ["LeaseGuard", "check", "guarding"]

#: The share of the lease that must be left for a check to skip the renewal.
SAFE_SHARE = 1 / 3

log = structlog.get_logger("robotlib.lease")

_current: ContextVar[LeaseGuard | None] = ContextVar("robotlib_lease", default=None)


class LeaseGuard:
    """What this worker knows of one item's lease, shared by the steps and renewals.

    Args:
        backend: the queue that holds the lease.
        item_id: the item leased.
        owner: this worker's owner name (``host:pid:run``).
        lease: how long a renewal holds the item.
        monotonic: the monotonic clock, in seconds (for tests).
        wall: the wall clock; default the queue's, which stamps the leases.

    The lease counts as renewed when the item was claimed (just before the guard is
    made).

    Example:
        >>> from robotlib.queue import InMemoryBackend
        >>> guard = LeaseGuard(InMemoryBackend(), 1, "h:1:run", timedelta(minutes=5))
        >>> guard.check()  # just claimed: nothing to do
    """

    def __init__(
        self,
        backend: QueueBackend,
        item_id: int,
        owner: str,
        lease: timedelta,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        self.backend, self.item_id, self.owner, self.lease = (
            backend,
            item_id,
            owner,
            lease,
        )
        self._monotonic, self._wall = monotonic, wall or backend.clock
        self._lock = threading.Lock()
        self._renewed = (self._monotonic(), self._wall())
        self._lost = False

    @property
    def lost(self) -> bool:
        """True once the queue refused a renewal: the item is not ours any more."""
        return self._lost

    def elapsed(self) -> timedelta:
        """The time since the last renewal was sent, by the more cautious clock."""
        monotonic, wall = self._renewed
        by_monotonic = timedelta(seconds=self._monotonic() - monotonic)
        return max(by_monotonic, self._wall() - wall)

    def check(self) -> None:
        """Return if the lease is safely ours; renew it if it may not be.

        A renewal that fails for another reason (the database did not answer) is
        only logged while the lease has not run out yet.

        Raises:
            LeaseLostError: the lease was lost, now or before.
            QueueError: the queue could not be asked and the lease may have run
                out (the step does not run).
        """
        if self._lost:
            raise LeaseLostError(self.item_id, self.owner)
        if self.elapsed() < self.lease * (1 - SAFE_SHARE):
            return
        try:
            self.renew()
        except LeaseLostError:
            raise
        except RobotlibError as exc:
            if self.elapsed() >= self.lease:
                raise
            log.warning("lease_renewal_failed", item_id=self.item_id, error=str(exc))

    def renew(self) -> None:
        """Renew the lease in the queue now (what the background keeper calls).

        Raises:
            LeaseLostError: the queue refused; every later :meth:`check` fails too.
        """
        with self._lock:
            if self._lost:
                raise LeaseLostError(self.item_id, self.owner)
            sent = (self._monotonic(), self._wall())
            try:
                self.backend.extend_lease(
                    self.item_id, owner=self.owner, lease=self.lease
                )
            except LeaseLostError:
                self._lost = True
                raise
            self._renewed = sent


@contextmanager
def guarding(guard: LeaseGuard) -> Iterator[LeaseGuard]:
    """Make ``guard`` the one :func:`check` consults, for the ``with`` block."""
    token = _current.set(guard)
    try:
        yield guard
    finally:
        _current.reset(token)


def check() -> None:
    """Check the current item's lease (see :meth:`LeaseGuard.check`), if any."""
    guard = _current.get()
    if guard is not None:
        guard.check()
