"""The console's sign-in rate limiter: few failed logins per user name and address.

Built on `limits <https://limits.readthedocs.io>`_: a moving window in memory per
user name (any case) and per client address, so guessing one user's password from
many addresses blocks that name, and guessing many users' passwords from one
address blocks that address. A restart forgets the failures. limits keeps the
window on the wall clock (``time.time``) and forgets stale entries by itself.
"""

from __future__ import annotations

import time
from datetime import timedelta

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

__all__ = ["LoginLimiter"]


class LoginLimiter:
    """Slows password guessing: few failed logins per user name and per address.

    Safe to share between threads. A success clears the failures of that user
    name only, not those of the address: logging in to one's own account does not
    buy more guesses at another's.

    Args:
        max_failures: failed logins allowed within ``window``, per user name (any
            case) and per client address.
        window: how long a failure counts (whole seconds, at least one).

    Example:
        >>> limiter = LoginLimiter()
        >>> limiter.check("anna", "10.0.0.7") is None
        True
        >>> for _ in range(5):
        ...     limiter.failed("anna", "10.0.0.7")
        >>> limiter.check("anna", "10.0.0.7") > 0  # seconds to wait
        True
    """

    def __init__(
        self, *, max_failures: int = 5, window: timedelta = timedelta(minutes=15)
    ) -> None:
        if max_failures < 1:
            raise ValueError(f"max_failures must be at least 1, not {max_failures}")
        if window < timedelta(seconds=1):
            raise ValueError(f"the window must be a second or more, not {window}")
        self.max_failures = max_failures
        self.window = window
        self._item = RateLimitItemPerSecond(
            max_failures, int(window.total_seconds()), namespace="console-login"
        )
        self._storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)

    def check(self, name: str, address: str) -> float | None:
        """Seconds to wait before the next login attempt, or None when it may go on."""
        now = time.time()
        waits = [
            stats.reset_time - now
            for stats in (
                self._limiter.get_window_stats(self._item, *key)
                for key in _keys(name, address)
            )
            if stats.remaining <= 0
        ]
        wait = max(waits, default=0.0)
        return wait if wait > 0 else None

    def failed(self, name: str, address: str) -> None:
        """Count a failed login of ``name`` from ``address``."""
        for key in _keys(name, address):
            self._limiter.hit(self._item, *key)

    def succeeded(self, name: str, address: str) -> None:
        """Forget the failures of ``name`` after a successful login."""
        name_key, _ = _keys(name, address)
        self._limiter.clear(self._item, *name_key)

    def tracked(self) -> int:
        """How many names and addresses have failures in the window (for tests)."""
        return len([key for key, events in self._storage.events.items() if events])


def _keys(name: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return ("name", name.casefold()), ("address", address)
