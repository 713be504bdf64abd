"""Console users: roles, the user and session records, the name and password rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "Role",
    "Session",
    "User",
    "check_name",
    "check_password",
    "unknown_user",
]

#: The shortest password accepted.
MIN_PASSWORD_LENGTH = 12

_NAME = re.compile(r"[A-Za-z0-9._@-]{1,100}")


class Role(StrEnum):
    """What a console user may do; each role may do all that the ones before may."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for operator, 2 for admin."""
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what needs ``needed``.

        Example:
            >>> Role.OPERATOR.allows(Role.VIEWER), Role.OPERATOR.allows(Role.ADMIN)
            (True, False)
        """
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text`` (any case).

        Raises:
            ValueError: no role has that name; the message lists the roles.

        Example:
            >>> Role.parse("Admin")
            <Role.ADMIN: 'admin'>
        """
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(role.value for role in cls)
            raise ValueError(
                f"unknown role {text!r}: choose one of {choices}"
            ) from None


@dataclass(frozen=True)
class User:
    """A console user (the password hash stays in the database)."""

    name: str
    role: Role
    created_at: datetime
    password_changed_at: datetime
    #: The console language the user chose (``da``, ``en``); None: the browser's.
    language: str | None = None


@dataclass(frozen=True)
class Session:
    """A logged-in browser: whose, with which role now, and until when.

    ``csrf_token`` goes into the session's forms; a form post must send it back.
    """

    user: str
    role: Role
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    #: A notice waiting for the next page (see :meth:`AccountStore.set_notice`).
    notice: str | None = None
    #: The user's chosen console language, or None: the browser's.
    language: str | None = None


def check_name(name: str) -> None:
    """Refuse a user name that is not 1-100 letters, digits, ``.``, ``_``, ``-``, ``@``.

    ``@`` lets an identity provider's user principal name (``anna@region.dk``) be
    a console user name.

    Raises:
        ValueError: naming the rule.

    Example:
        >>> check_name("anna.b")
    """
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid user name {name!r}: use 1-100 characters, each an ASCII letter, "
            "a digit, '.', '_', '-' or '@'"
        )


def check_password(name: str, password: str) -> None:
    """Refuse a password that breaks the policy: 12 characters or more, not the name.

    Raises:
        ValueError: naming the rule broken.

    Example:
        >>> check_password("anna", "anna")
        Traceback (most recent call last):
        ValueError: the password is too short: use at least 12 characters
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    if password.casefold() == name.casefold():
        raise ValueError("the password must not be the user name")


def unknown_user(name: str) -> KeyError:
    """The error for a user name that no account has."""
    return KeyError(f"no user {name!r}")
