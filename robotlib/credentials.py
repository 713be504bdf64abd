"""Credentials of the systems robots log in to.

They come from, strongest first:

1. Environment variables ``RPA_CRED_<SYSTEM>_<FIELD>``, the system and field names
   upper-cased with ``-`` turned into ``_``: ``RPA_CRED_SANDBOX_PASSWORD``,
   ``RPA_CRED_LAB_PORTAL_URL``, ``RPA_CRED_EPJ_API_TOKEN``. A variable wins over the
   file, and a system may exist only in the environment.
2. ``credentials.toml`` (``Settings.credentials_path``), one table per system,
   readable by its owner only (``chmod 600``; not checked on Windows)::

       [sandbox]
       url = "http://127.0.0.1:8765"
       username = "robot"
       password = "robot-pass-1"
       tenant = "north"          # any other field lands in ``extra``

3. The OS keyring (``pip install "robotlib[keyring]"``), for a password written as
   ``password = "keyring"``, or for a system without a password when
   ``Settings.use_keyring`` is on. The keyring entry's service is
   ``robotlib:<system>`` and its user name the system's ``username``.

Passwords and extra fields whose name contains ``password``, ``secret``, ``token`` or
``key`` are secrets: held as :class:`pydantic.SecretStr`, never shown by ``repr`` and
registered with the log :class:`~robotlib.logs.Redactor` so they never reach a log.

Example:
    >>> credentials = Credentials.load(settings, environ=os.environ)
    >>> sandbox = credentials.get("sandbox")
    >>> login(page, sandbox.username, sandbox.password.get_secret_value())
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

from pydantic import BaseModel, SecretStr

from robotlib.errors import CredentialsError
from robotlib.logs import Redactor
from robotlib.secrecy import is_secret_name
from robotlib.settings import Settings

__all__ = ["ENV_PREFIX", "KEYRING_MARKER", "Credentials", "SystemCredentials"]

ENV_PREFIX = "RPA_CRED_"

#: The marker value that sends a password lookup to the OS keyring.
KEYRING_MARKER = "keyring"

_STANDARD_FIELDS = ("url", "username", "password")


class SystemCredentials(BaseModel, frozen=True):
    """The credentials of one system.

    Example:
        >>> creds = SystemCredentials(system="lab", username="robot", password="pw")
        >>> creds.password
        SecretStr('**********')
        >>> creds.password.get_secret_value()
        'pw'
    """

    system: str
    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    # str first: pydantic's smart union would otherwise turn every str secret.
    extra: dict[str, str | SecretStr] = {}


class Credentials:
    """The credentials of every system a project's robots log in to.

    Build it with :meth:`load`.
    """

    def __init__(
        self,
        *,
        path: Path,
        fields: dict[str, dict[str, SecretStr | str]],
        environ: dict[str, str],
        use_keyring: bool,
        redactor: Redactor | None,
    ) -> None:
        self._path = path
        self._fields = fields
        self._environ = environ
        self._use_keyring = use_keyring
        self._redactor = redactor
        self._resolved: dict[str, SystemCredentials] = {}

    def __repr__(self) -> str:
        return f"Credentials(path={str(self._path)!r}, systems={self.systems()!r})"

    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        environ: Mapping[str, str],
        redactor: Redactor | None = None,
    ) -> Credentials:
        """Read ``credentials.toml`` and the ``RPA_CRED_*`` variables.

        A missing file is fine until a system is asked for.

        Args:
            settings: the project settings (``credentials_path``, ``use_keyring``).
            environ: the environment, e.g. ``os.environ``; only ``RPA_CRED_*``
                variables are kept.
            redactor: registers every secret, so logs never show it.

        Raises:
            CredentialsError: the file is readable by others, is not valid TOML or
                holds a value that is not text.

        Example:
            >>> Credentials.load(settings, environ=os.environ).systems()
            ['sandbox']
        """
        path = settings.credentials_path
        fields = _read_file(path) if path.exists() else {}
        variables = {
            name: value
            for name, value in environ.items()
            if name.startswith(ENV_PREFIX)
        }
        for system in _systems_in_environment(variables, known=fields):
            fields.setdefault(system, {})
        for system in fields:
            _apply_environment(fields[system], variables, system, others=fields)
        credentials = cls(
            path=path,
            fields=fields,
            environ=variables,
            use_keyring=settings.use_keyring,
            redactor=redactor,
        )
        for values in fields.values():
            credentials._register(values)
        return credentials

    def systems(self) -> list[str]:
        """Return the names of the systems with credentials, sorted.

        Example:
            >>> Credentials.load(settings, environ={}).systems()
            ['sandbox']
        """
        return sorted(self._fields)

    def get(self, system: str) -> SystemCredentials:
        """Return the credentials of ``system``, with keyring passwords filled in.

        Raises:
            CredentialsError: the system is unknown, or its keyring password is
                missing.

        Example:
            >>> Credentials.load(settings, environ=os.environ).get("sandbox").url
            'http://127.0.0.1:8765'
        """
        found = self.find(system)
        if found is None:
            raise CredentialsError(self._unknown_system(self._known_name(system)))
        return found

    def find(self, system: str) -> SystemCredentials | None:
        """Return the credentials of ``system``, or None when it has none at all.

        For a system that is optional (a setting a robot has a default for): a
        system that is there but broken (a missing keyring password) still raises.
        """
        system = self._known_name(system)
        if system in self._resolved:
            return self._resolved[system]
        values = self._fields.get(system)
        if values is None:
            values = {}
            _apply_environment(values, self._environ, system, others=self._fields)
            if not values:
                return None
            self._fields[system] = values
            self._register(values)
        resolved = self._resolve(system, dict(values))
        self._resolved[system] = resolved
        return resolved

    # Private API ------------------------------------------------------------------

    def _known_name(self, system: str) -> str:
        """Return ``system``, or the known system it names in environment spelling.

        The environment cannot tell ``lab-portal`` from ``lab_portal``, so a system
        found there answers to both.
        """
        if system in self._fields:
            return system
        same = [name for name in self._fields if _normalize(name) == _normalize(system)]
        return same[0] if len(same) == 1 else system

    def _resolve(
        self, system: str, values: dict[str, SecretStr | str]
    ) -> SystemCredentials:
        password = values.pop("password", None)
        username = values.pop("username", None)
        if isinstance(password, SecretStr):
            wants_keyring = password.get_secret_value() == KEYRING_MARKER
        else:  # a system without username (a token-only API) needs no password
            wants_keyring = self._use_keyring and username is not None
        if wants_keyring:
            password = SecretStr(self._password_from_keyring(system, username))
            self._register({"password": password})
        url = values.pop("url", None)
        return SystemCredentials(
            system=system,
            url=_plain(url),
            username=_plain(username),
            password=password if isinstance(password, SecretStr) else None,
            extra=values,
        )

    def _password_from_keyring(
        self, system: str, username: SecretStr | str | None
    ) -> str:
        service = f"robotlib:{system}"
        if not isinstance(username, str):
            raise CredentialsError(
                f"[{system}] in {self._path} needs a username to look up its "
                f"password in the OS keyring (service {service!r})"
            )
        keyring = _import_keyring()
        try:
            password = keyring.get_password(service, username)
        except Exception as exc:  # keyring backends raise their own errors
            raise CredentialsError(
                f"the OS keyring failed to give the password of {username!r} for "
                f"service {service!r}: {exc}"
            ) from exc
        if password is None:
            raise CredentialsError(
                f"the OS keyring has no password for user {username!r} of service "
                f"{service!r}; store one with: keyring set {service} {username}"
            )
        return password

    def _register(self, values: Mapping[str, SecretStr | str]) -> None:
        if self._redactor is None:
            return
        for value in values.values():
            if not isinstance(value, SecretStr):
                continue
            secret = value.get_secret_value()
            if secret != KEYRING_MARKER:
                self._redactor.add_secret(secret)

    def _unknown_system(self, system: str) -> str:
        where = (
            f"{self._path} has no [{system}] table"
            if self._path.exists()
            else f"{self._path} does not exist (copy credentials.example.toml)"
        )
        variables = ", ".join(_variable(system, field) for field in _STANDARD_FIELDS)
        known = ", ".join(self.systems()) or "none"
        return (
            f"no credentials for system {system!r}: {where}. Add a table [{system}] "
            f"with url, username and password, or set the environment variables "
            f"{variables}. Systems with credentials: {known}."
        )


# Private API ----------------------------------------------------------------------


class _Keyring(Protocol):
    """The part of the ``keyring`` package robotlib uses."""

    def get_password(self, service_name: str, username: str) -> str | None: ...


def _import_keyring() -> _Keyring:
    try:
        module = importlib.import_module("keyring")
    except ImportError:
        raise CredentialsError(
            "a password is to come from the OS keyring, but the keyring package is "
            'not installed: pip install "robotlib[keyring]"'
        ) from None
    return cast(_Keyring, module)


def _read_file(path: Path) -> dict[str, dict[str, SecretStr | str]]:
    if os.name == "posix":
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise CredentialsError(
                f"{path} has mode {mode:#o}: other users can read or change it. "
                f"Make it readable by its owner only: chmod 600 {path}"
            )
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"{path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read {path}: {exc}") from None
    return {
        system: _read_table(path, system, table) for system, table in document.items()
    }


def _read_table(path: Path, system: str, table: Any) -> dict[str, SecretStr | str]:
    if not isinstance(table, dict):
        raise CredentialsError(
            f"{path}: {system} is not inside a table; each system is a table, "
            "such as [sandbox] followed by its url, username and password lines"
        )
    values: dict[str, SecretStr | str] = {}
    for key, value in table.items():
        if not isinstance(value, str):
            # The value is not shown: it may be a password.
            raise CredentialsError(
                f"{path}: [{system}] {key} must be text in quotes, like "
                f'{key} = "...", not a {_toml_type(value)}'
            )
        values[key] = _wrap(key, value)
    return values


def _toml_type(value: Any) -> str:
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "date or time"


def _wrap(field: str, value: str) -> SecretStr | str:
    if field not in ("url", "username") and is_secret_name(field):
        return SecretStr(value)
    return value


def _plain(value: SecretStr | str | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def _normalize(name: str) -> str:
    return name.upper().replace("-", "_")


def _variable(system: str, field: str) -> str:
    return f"{ENV_PREFIX}{_normalize(system)}_{_normalize(field)}"


def _owner(variable: str, systems: list[str]) -> str | None:
    """Return the system a variable belongs to: the longest matching name wins."""
    matching = [
        system
        for system in systems
        if variable.startswith(f"{ENV_PREFIX}{_normalize(system)}_")
    ]
    return max(matching, key=len, default=None)


def _systems_in_environment(
    variables: Mapping[str, str], *, known: Mapping[str, object]
) -> list[str]:
    """Return the systems only the environment knows, from their standard fields.

    ``RPA_CRED_LAB_PORTAL_PASSWORD`` names the system ``lab_portal``. A system with
    only extra fields cannot be told apart from its field names this way; it is
    still found when asked for by name.
    """
    found: list[str] = []
    for variable in variables:
        if _owner(variable, list(known)) is not None:
            continue
        rest = variable.removeprefix(ENV_PREFIX)
        for field in _STANDARD_FIELDS:
            suffix = f"_{field.upper()}"
            if rest.endswith(suffix) and len(rest) > len(suffix):
                found.append(rest.removesuffix(suffix).lower())
                break
    return sorted(set(found))


def _apply_environment(
    values: dict[str, SecretStr | str],
    variables: Mapping[str, str],
    system: str,
    *,
    others: Mapping[str, object],
) -> None:
    """Override ``values`` of ``system`` with its ``RPA_CRED_*`` variables."""
    prefix = f"{ENV_PREFIX}{_normalize(system)}_"
    candidates = [*others, system]
    by_normalized = {_normalize(field): field for field in values}
    for variable, value in variables.items():
        if not variable.startswith(prefix) or _owner(variable, candidates) != system:
            continue
        normalized = variable.removeprefix(prefix)
        field = by_normalized.get(normalized, normalized.lower())
        values[field] = _wrap(field, value)
