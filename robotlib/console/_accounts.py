"""Console user accounts and their sessions.

Accounts live in ``console_users`` with an argon2id hash of the password (never the
password). Each has a :class:`Role`; a higher role may do all a lower one may:

- ``viewer`` reads every page but the audit log;
- ``operator`` also retries and resolves exception items and pauses and resumes
  schedules;
- ``admin`` also reads the audit log and manages users.

A login starts a session: the browser keeps a random token, the database only its
SHA-256 (a stolen database holds no usable session). A session ends at its absolute
lifetime, after ``idle`` without a request, when its user logs out, changes password
or is removed.

The tables must exist: open the project's queue first (``Project(settings).backend``
creates or migrates them).

Example:
    >>> store = AccountStore(settings.database)  # doctest: +SKIP
    >>> store.add("anna", Role.OPERATOR, "correct horse battery")  # doctest: +SKIP
    >>> user = store.authenticate("anna", "correct horse battery")  # doctest: +SKIP
    >>> token, session = store.start_session(user.name)  # doctest: +SKIP
    >>> store.session(token).role  # on each request  # doctest: +SKIP
    <Role.OPERATOR: 'operator'>
"""

from __future__ import annotations

import builtins
import secrets
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import URL, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from robotlib.console._sessions import IDLE_TIMEOUT, SESSION_LIFETIME, SessionStore
from robotlib.console._users import (
    MIN_PASSWORD_LENGTH,
    Role,
    Session,
    User,
    check_name,
    check_password,
    unknown_user,
)
from robotlib.db.schema import console_sessions, console_users
from robotlib.errors import QueueError
from robotlib.queue.base import Clock, utc_now

__all__ = [
    "IDLE_TIMEOUT",
    "MIN_PASSWORD_LENGTH",
    "SESSION_LIFETIME",
    "AccountStore",
    "Role",
    "Session",
    "User",
    "check_name",
    "check_password",
]


# Verified against when a login names no user, so that the answer takes as long as
# for a user that exists. The hash of a random password nobody kept, made with
# argon2-cffi's default parameters (a hasher with others makes its own).
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$z2QcVvmFuura5Ly6gpjZEg"
    "$uDOhPxjSJ7bUmNrQ5R1XtbDVk4Uxk8lq/696O7pGhXg"
)

_u = console_users
_s = console_sessions
#: How an external user's password hash starts (``!oidc``): no argon2 hash does.
_EXTERNAL = "!"


class AccountStore(SessionStore):
    """Reads and writes ``console_users`` and ``console_sessions``.

    Args:
        database: the project's database URL (``settings.database``), or an engine
            made by :func:`robotlib.db.database_engine`. Its schema
            must be current: open the queue backend first.
        idle: a session ends after this long without a request. Activity is
            written at most once a minute, so a session may end up to a minute
            sooner.
        clock: returns the current time, timezone-aware; tests pass a fake one.
        hasher: the argon2 hasher; argon2-cffi's defaults unless given (tests pass
            cheaper parameters). Hashes made with other parameters are redone at
            the next successful login.

    Raises:
        QueueError: the URL is invalid. Later calls raise it when the database
            cannot be read or written.

    Example:
        >>> with AccountStore("sqlite:///.rpa/robotlib.db") as store:  # doctest: +SKIP
        ...     store.list()
    """

    def __init__(
        self,
        database: Engine | str | URL,
        *,
        idle: timedelta = IDLE_TIMEOUT,
        clock: Clock = utc_now,
        hasher: PasswordHasher | None = None,
    ) -> None:
        super().__init__(database, idle=idle, clock=clock)
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = (
            self._hasher.hash(secrets.token_urlsafe(32))
            if self._hasher.check_needs_rehash(_DUMMY_HASH)
            else _DUMMY_HASH
        )

    # Users ---------------------------------------------------------------------------

    def add(self, name: str, role: Role | str, password: str) -> User:
        """Add a user.

        Args:
            name: 1-100 ASCII letters, digits, ``.``, ``_`` or ``-``.
            role: a :class:`Role` or its name.
            password: at least 12 characters, not the name.

        Returns:
            The new user.

        Raises:
            ValueError: the name, role or password breaks a rule, or a user of that
                name exists; the message says which.

        Example:
            >>> store.add("anna", Role.VIEWER, "a long passphrase")  # doctest: +SKIP
        """
        check_name(name)
        role = Role.parse(role)
        check_password(name, password)
        if self.get(name) is not None:
            raise _exists(name)
        now = self.clock()
        values = {
            "name": name,
            "role": role.value,
            "password_hash": self._hasher.hash(password),
            "created_at": now,
            "password_changed_at": now,
        }
        try:
            with self._write() as conn:
                conn.execute(insert(_u).values(values))
        except QueueError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # added meanwhile
                raise _exists(name) from None
            raise
        return User(name, role, now, now)

    def get(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        with self._read() as conn:
            row = conn.execute(select(_u).where(_u.c.name == name)).first()
        return None if row is None else _user(row)

    def remove(self, name: str) -> None:
        """Remove a user and end their sessions.

        Raises:
            KeyError: there is no such user.
        """
        with self._write() as conn:
            # The foreign key cascades too; deleting here also serves an engine
            # without SQLite's foreign keys turned on.
            conn.execute(delete(_s).where(_s.c.user_name == name))
            if conn.execute(delete(_u).where(_u.c.name == name)).rowcount == 0:
                raise unknown_user(name)

    def set_role(self, name: str, role: Role | str) -> User:
        """Give a user another role; their sessions have it from their next request.

        Raises:
            KeyError: there is no such user.
            ValueError: no role has that name.
        """
        role = Role.parse(role)
        return self._update(name, role=role.value)

    def set_password(self, name: str, password: str) -> User:
        """Set a user's password and end their sessions (log out everywhere).

        Raises:
            KeyError: there is no such user.
            ValueError: the password breaks the policy.
        """
        check_password(name, password)
        if self.get(name) is None:
            raise unknown_user(name)
        return self._update(
            name,
            end_sessions=True,
            password_hash=self._hasher.hash(password),
            password_changed_at=self.clock(),
        )

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else None.

        An unknown name takes as long as a wrong password, so answers do not reveal
        which users exist. A hash made with older parameters is redone.

        Example:
            >>> store.authenticate("anna", "a long passphrase")  # doctest: +SKIP
            User(name='anna', role=<Role.VIEWER: 'viewer'>, ...)
        """
        with self._read() as conn:
            row = conn.execute(select(_u).where(_u.c.name == name)).first()
        if row is None or row.password_hash.startswith(_EXTERNAL):
            self._verify(self._dummy_hash, password)
            return None
        if not self._verify(row.password_hash, password):
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            with self._write() as conn:
                conn.execute(
                    update(_u)
                    .where(_u.c.name == name)
                    .where(_u.c.password_hash == row.password_hash)
                    .values(password_hash=self._hasher.hash(password))
                )
        return _user(row)

    def list(self) -> builtins.list[User]:
        """Every user, by name (ignoring case, the same on every database)."""
        with self._read() as conn:
            users = [_user(row) for row in conn.execute(select(_u))]
        return sorted(users, key=lambda user: (user.name.casefold(), user.name))

    def set_language(self, name: str, language: str | None) -> None:
        """Choose the console's language for user ``name`` (None: the browser's).

        Raises:
            KeyError: there is no such user.
        """
        with self._write() as conn:
            done = conn.execute(
                update(_u).where(_u.c.name == name).values(language=language)
            )
            if not done.rowcount:
                raise unknown_user(name)

    def start_external_session(
        self,
        name: str,
        role: Role | str,
        *,
        via: str = "oidc",
        lifetime: timedelta = SESSION_LIFETIME,
    ) -> tuple[str, Session]:
        """Start a session for a user whom an identity provider has just signed in.

        The user's row is created, or its role set to ``role``: the provider's
        groups decide the role anew at each login. The row's password hash is
        ``!<via>``, which no password verifies, so such a user cannot log in with
        a password.

        Raises:
            ValueError: the name breaks the rules, or a password user has that
                name (a provider must not take over a local account).
        """
        check_name(name)
        role = Role.parse(role)
        marker = _EXTERNAL + via
        now = self.clock()
        with self._write() as conn:
            stored = conn.scalar(select(_u.c.password_hash).where(_u.c.name == name))
            if stored is None:
                conn.execute(
                    insert(_u).values(
                        name=name,
                        role=role.value,
                        password_hash=marker,
                        created_at=now,
                        password_changed_at=now,
                    )
                )
            elif stored.startswith(_EXTERNAL):
                conn.execute(
                    update(_u)
                    .where(_u.c.name == name)
                    .values(role=role.value, password_hash=marker)
                )
            else:
                raise ValueError(
                    f"{name!r} is a console user with a password: they log in with "
                    "it, not through the identity provider"
                )
        return self.start_session(name, lifetime=lifetime)

    # Private API ---------------------------------------------------------------------

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _update(self, name: str, *, end_sessions: bool = False, **values: Any) -> User:
        with self._write() as conn:
            if conn.execute(
                update(_u).where(_u.c.name == name).values(values)
            ).rowcount:
                if end_sessions:
                    conn.execute(delete(_s).where(_s.c.user_name == name))
                row = conn.execute(select(_u).where(_u.c.name == name)).one()
                return _user(row)
        raise unknown_user(name)


def _user(row: Any) -> User:
    return User(
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        password_changed_at=row.password_changed_at,
        language=row.language,
    )


def _exists(name: str) -> ValueError:
    return ValueError(f"user {name!r} exists already")
