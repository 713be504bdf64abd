"""Helpers of the security tests: finding passwords and CPR numbers in artifacts."""

from __future__ import annotations

import io
import re
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from robotlib.cpr import is_well_formed

#: A CPR number as people write it: DDMMYY-SSSS, not inside a longer number.
DASHED_CPR = re.compile(r"(?<!\d)\d{6}-\d{4}(?!\d)")


def full_cprs(text: str) -> list[str]:
    """Return the well-formed DDMMYY-SSSS numbers in ``text`` (a real birth date)."""
    return [found for found in DASHED_CPR.findall(text) if is_well_formed(found)]


def secret_forms(secret: str) -> set[str]:
    """The ways a secret can be written: as it is, URL-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def walk_texts(path: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(where, text)`` for a file and, for a zip (xlsx, trace), each member.

    Zips are opened recursively, so a zip inside a zip is read too. Binary content
    is decoded as Latin-1, so that every byte sequence is searchable as text.
    """
    yield from _walk_bytes(path.as_posix(), path.read_bytes())


def _walk_bytes(where: str, data: bytes) -> Iterator[tuple[str, str]]:
    yield where, data.decode("latin-1")
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield from _walk_bytes(f"{where}!{member}", archive.read(member))


def dump_sqlite(path: Path) -> dict[str, list[dict[str, str]]]:
    """Return every row of every table of a SQLite database, values as text."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        ]
        dump: dict[str, list[dict[str, str]]] = {}
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            names = [column[0] for column in cursor.description]
            dump[table] = [
                {name: str(value) for name, value in zip(names, row, strict=True)}
                for row in cursor
            ]
        return dump
    finally:
        connection.close()


@pytest.fixture(scope="session", name="full_cprs")
def full_cprs_fixture() -> Callable[[str], list[str]]:
    """Return the CPR finder (test modules cannot import conftest: importlib mode)."""
    return full_cprs


@pytest.fixture(scope="session", name="secret_forms")
def secret_forms_fixture() -> Callable[[str], set[str]]:
    """Return the secret spellings helper."""
    return secret_forms


@pytest.fixture(scope="session", name="walk_texts")
def walk_texts_fixture() -> Callable[[Path], Iterator[tuple[str, str]]]:
    """Return the file (and zip member) reader."""
    return walk_texts


@pytest.fixture(scope="session", name="dump_sqlite")
def dump_sqlite_fixture() -> Callable[[Path], dict[str, list[dict[str, str]]]]:
    """Return the SQLite dumper."""
    return dump_sqlite
