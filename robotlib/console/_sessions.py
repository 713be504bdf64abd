"""Console sessions: a browser's token, its lifetime and idle timeout, its notice.

A login starts a session: the browser keeps a random token, the database only its
SHA-256 (a stolen database holds no usable session). A session ends at its absolute
lifetime, after ``idle`` without a request, when its user logs out, changes password
or is removed.
"""

from __future__ import annotations

import hashlib
import secrets
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Self

from sqlalchemy import URL, Connection, Engine, delete, insert, select, update

from robotlib.console._users import Role, Session, unknown_user
from robotlib.db import database_engine, transaction
from robotlib.db.schema import console_sessions, console_users
from robotlib.queue.base import Clock, utc_now

__all__ = ["IDLE_TIMEOUT", "SESSION_LIFETIME", "SessionStore"]

#: How long a session lasts at most, however active.
SESSION_LIFETIME = timedelta(hours=8)
#: How long a session lasts without a request.
IDLE_TIMEOUT = timedelta(minutes=30)
#: A session's ``last_seen_at`` is written at most this often.
_TOUCH_EVERY = timedelta(minutes=1)

_u = console_users
_s = console_sessions


class SessionStore:
    """Reads and writes ``console_sessions`` (and reads the users' roles).

    :class:`~robotlib.console.AccountStore` is the one the console uses; it adds
    the users. Args as there.
    """

    def __init__(
        self,
        database: Engine | str | URL,
        *,
        idle: timedelta = IDLE_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        if idle <= timedelta(0):
            raise ValueError(f"the idle timeout must be positive, not {idle}")
        self._owns_engine = not isinstance(database, Engine)
        self.engine = (
            database if isinstance(database, Engine) else database_engine(database)
        )
        self.idle = idle
        self.clock = clock
        self._where = self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the connections of an engine this store created."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start_session(
        self, user_name: str, *, lifetime: timedelta = SESSION_LIFETIME
    ) -> tuple[str, Session]:
        """Start a session for a user who has just logged in.

        Sessions past their time are deleted on the way.

        Args:
            user_name: the user.
            lifetime: how long the session lasts at most, however active.

        Returns:
            The token for the browser's cookie (kept nowhere else) and the session.

        Raises:
            KeyError: there is no such user.

        Example:
            >>> token, session = store.start_session("anna")  # doctest: +SKIP
        """
        if lifetime <= timedelta(0):
            raise ValueError(f"a session lifetime must be positive, not {lifetime}")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._write() as conn:
            role = conn.scalar(select(_u.c.role).where(_u.c.name == user_name))
            if role is None:
                raise unknown_user(user_name)
            conn.execute(
                delete(_s).where(
                    (_s.c.expires_at <= now) | (_s.c.last_seen_at <= now - self.idle)
                )
            )
            session = Session(
                user=user_name,
                role=Role(role),
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + lifetime,
                last_seen_at=now,
            )
            conn.execute(
                insert(_s).values(
                    token_hash=_digest(token),
                    user_name=user_name,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    def session(self, token: str) -> Session | None:
        """The live session of a browser's token, or None (unknown or ended).

        Records the request: the idle timeout counts from it.

        Example:
            >>> store.session(request.cookies["session"])  # doctest: +SKIP
        """
        digest = _digest(token)
        now = self.clock()
        with self._read() as conn:
            row = conn.execute(
                select(_s, _u.c.role, _u.c.language)
                .join(_u, _u.c.name == _s.c.user_name)
                .where(_s.c.token_hash == digest)
            ).first()
        if row is None:
            return None
        if now >= row.expires_at or now - row.last_seen_at >= self.idle:
            with self._write() as conn:
                conn.execute(delete(_s).where(_s.c.token_hash == digest))
            return None
        last_seen = row.last_seen_at
        if now - last_seen >= _TOUCH_EVERY:
            last_seen = now
            with self._write() as conn:
                conn.execute(
                    update(_s).where(_s.c.token_hash == digest).values(last_seen_at=now)
                )
        return Session(
            user=row.user_name,
            role=Role(row.role),
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_seen_at=last_seen,
            notice=row.notice,
            language=row.language,
        )

    def set_notice(self, token: str, text: str) -> None:
        """Keep ``text`` for the session's next page (post/redirect/get).

        Notices travel in the database, never in a URL, so no link can make the
        console show a text it did not write. A newer notice replaces an older one.
        """
        with self._write() as conn:
            conn.execute(
                update(_s).where(_s.c.token_hash == _digest(token)).values(notice=text)
            )

    def clear_notice(self, token: str) -> None:
        """Forget the session's notice once a page has shown it."""
        with self._write() as conn:
            conn.execute(
                update(_s).where(_s.c.token_hash == _digest(token)).values(notice=None)
            )

    def end_session(self, token: str) -> None:
        """End the session of a token (log out); an unknown token is ignored."""
        with self._write() as conn:
            conn.execute(delete(_s).where(_s.c.token_hash == _digest(token)))

    def end_sessions(self, user_name: str) -> int:
        """End every session of a user; return how many there were."""
        with self._write() as conn:
            result = conn.execute(delete(_s).where(_s.c.user_name == user_name))
        return int(result.rowcount)

    # Private API ---------------------------------------------------------------------

    def _write(self) -> AbstractContextManager[Connection]:
        """A transaction that may write (SQLite: holding the write lock from BEGIN)."""
        return transaction(
            self.engine, write=True, where=f"console accounts in {self._where}"
        )

    def _read(self) -> AbstractContextManager[Connection]:
        """A read-only transaction (SQLite: a deferred one, not taking the lock)."""
        return transaction(
            self.engine, write=False, where=f"console accounts in {self._where}"
        )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
