"""Long lists in pages of a fixed size, and the same lists as CSV for Excel.

A night with thousands of exceptions must not make a page of megabytes: every list
of items or events a page shows goes through :func:`paged`. :func:`csv_export`
writes what a list shows (masked as on the page) for Excel: semicolons and a UTF-8
byte order mark, as Danish Excel opens a ``.csv`` file by double-click.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlencode

__all__ = ["PAGE_SIZE", "Paged", "csv_export", "paged"]

#: Rows per page of any list the console shows.
PAGE_SIZE = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """One page of a list: its rows, where it is, and links to its neighbours.

    ``query`` holds the list's filters, so the links keep them.
    """

    rows: tuple[T, ...]
    number: int
    pages: int
    total: int
    size: int
    query: tuple[tuple[str, str], ...] = ()

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row (0 for an empty list)."""
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """The 1-based position of the page's last row."""
        return self.first + len(self.rows) - 1 if self.rows else 0

    def link(self, number: int) -> str:
        """The query string of page ``number`` with the same filters."""
        return "?" + urlencode([*self.query, ("page", str(number))])

    @property
    def filters(self) -> str:
        """The filters alone as a query string (for the CSV link)."""
        return ("?" + urlencode(self.query)) if self.query else ""


def paged(
    rows: Sequence[T],
    number: int,
    *,
    size: int = PAGE_SIZE,
    query: Iterable[tuple[str, str]] = (),
) -> Paged[T]:
    """Return page ``number`` (1-based, clamped to the pages there are) of ``rows``.

    Example:
        >>> page = paged(list(range(250)), 3)
        >>> (page.first, page.last, page.pages)
        (201, 250, 3)
    """
    pages = max(1, -(-len(rows) // size))
    number = min(max(number, 1), pages)
    start = (number - 1) * size
    kept = tuple((key, value) for key, value in query if value)
    return Paged(
        tuple(rows[start : start + size]), number, pages, len(rows), size, kept
    )


def csv_export(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """Return a CSV file for Excel: ``;`` between fields, UTF-8 with a BOM.

    A field that starts like a formula (``=``, ``+``, ``-``, ``@``) gets a leading
    apostrophe, so a cell never runs as a formula in the reader's Excel.

    Example:
        >>> csv_export(["a", "b"], [[1, "=x"]]).decode("utf-8-sig")
        "a;b\\r\\n1;'=x\\r\\n"
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
