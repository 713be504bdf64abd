"""What the fleet's stores share: the database, the clock, error messages."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import Connection, Engine

from robotlib.db.connection import transaction

__all__ = ["FleetStore"]


class FleetStore:
    """A store of fleet tables in the project database.

    Args:
        engine: the project database (its schema upgraded).
        clock: the current time (UTC).
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock
        self._where = f"fleet database {engine.url.render_as_string(True)}"

    def _write(self) -> AbstractContextManager[Connection]:
        """A transaction that writes; a database error is a QueueError."""
        return transaction(self.engine, write=True, where=self._where)

    def _read(self) -> AbstractContextManager[Connection]:
        """A transaction that only reads."""
        return transaction(self.engine, write=False, where=self._where)
