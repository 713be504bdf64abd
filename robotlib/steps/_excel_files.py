"""Opening an input file as a table of rows: workbooks by their sheet, CSV by hand.

Every problem with the file itself (missing, not a workbook, encrypted, damaged,
no such sheet, not text) becomes an :class:`~robotlib.errors.InputError` worded for
the operator who has to fix the file. So do the signs of a file read before it was
complete: a CSV file whose last line has no line end while its other lines have
one (its last value is probably cut), and, when the read asks for it
(``stable_for_s``), a file whose size or modification time keeps changing. Excel's
lock file (``~$lab.xlsx``, there while someone has ``lab.xlsx`` open) is refused by
its name.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from robotlib.errors import InputError
from robotlib.steps._excel_options import ReadOptions
from robotlib.steps._excel_sheets import HeaderTest, column_letter, open_sheet

__all__ = ["CSV_SUFFIXES", "Table", "open_table", "wait_until_stable"]

CSV_SUFFIXES = frozenset({".csv", ".txt"})
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0"
_SNIFF_CHARS = 8192
_DELIMITERS = ";,\t"

log = structlog.get_logger("robotlib.excel")


@dataclass
class Table:
    """The rows of one sheet (or CSV file), numbered as the operator sees them.

    Attributes:
        file: the file's name (never its folder: paths can hold user names).
        sheet: the sheet's name; None for CSV.
        rows: ``(row number, cell values)`` pairs, from row 1.
        label: names a column by its 0-based index (``B`` in a sheet, ``2`` in CSV).
        positional: whether a cell's column is its place in the sheet (a workbook),
            not its count of delimiters before it (CSV, where a value holding an
            unquoted delimiter shifts the rest of its line).
    """

    file: str
    sheet: str | None
    rows: Iterator[tuple[int, Sequence[Any]]]
    label: Callable[[int], str]
    positional: bool = True

    @property
    def place(self) -> str:
        """The start of a row's location: ``"lab.xlsx, sheet 'Ark1'"``."""
        if self.sheet is None:
            return self.file
        return f"{self.file}, sheet {self.sheet!r}"

    def error(self, message: str, **where: Any) -> InputError:
        """An :class:`InputError` naming this file and sheet."""
        return InputError(message, file=self.file, sheet=self.sheet, **where)


@contextlib.contextmanager
def open_table(
    path: Path,
    sheet: str | None,
    options: ReadOptions | None = None,
    header: HeaderTest | None = None,
) -> Iterator[Table]:
    """Open a workbook's sheet or a CSV file (by suffix) as a :class:`Table`.

    Args:
        path: the file.
        sheet: the sheet's name; None: the first visible sheet with the header.
        options: the read's options (hidden rows, the stability wait).
        header: scores a row as the header, to choose the sheet by.
    """
    options = options or ReadOptions()
    if path.name.startswith("~$"):
        raise InputError(
            f"this is Excel's lock file, not a workbook: it exists while someone "
            f"has {path.name[2:]} open; read {path.name[2:]} instead",
            file=path.name,
        )
    magic = _magic(path)
    if options.stable_for_s > 0:
        wait_until_stable(path, options.stable_for_s)
    if path.suffix.lower() in CSV_SUFFIXES:
        if magic.startswith((ZIP_MAGIC, OLE2_MAGIC)):
            raise InputError(
                "this is an Excel workbook, not CSV text: save it as CSV, or give "
                "it the .xlsx suffix",
                file=path.name,
            )
        with _open_csv(path, magic) as table:
            yield table
        return
    _check_workbook(path, magic)
    with _open_workbook(path, sheet, options, header) as table:
        yield table


#: The shortest time waited for a file to stop changing before it is refused.
MIN_PATIENCE_S = 60.0
_POLLS_PER_WAIT = 10


def wait_until_stable(path: Path, seconds: float) -> None:
    """Return once the file's size and modification time have not changed for
    ``seconds``; refuse it if it still changes after ten times that (at least a
    minute): a file being copied or exported is not read half-written.
    """
    patience = max(10 * seconds, MIN_PATIENCE_S)
    state = _state(path)
    start = since = time.monotonic()
    log.info("input_waiting_stable", file=path.name, seconds=seconds)
    while (now := time.monotonic()) - since < seconds:
        if now - start > patience:
            raise InputError(
                f"the file is still being written: it changed within the last "
                f"{seconds:g} seconds for {patience:g} seconds; wait until it is "
                "complete (copied or saved) and run again",
                file=path.name,
            )
        time.sleep(min(seconds / _POLLS_PER_WAIT, 1.0))
        current = _state(path)
        if current != state:
            state, since = current, time.monotonic()


def _state(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise InputError(
            "the file disappeared while waiting for it to be complete (was it "
            "moved or renamed?)",
            file=path.name,
        ) from exc
    return stat.st_size, stat.st_mtime_ns


def _magic(path: Path) -> bytes:
    if not path.exists():
        raise InputError("the file does not exist", file=path.name)
    if path.is_dir():
        raise InputError("this is a folder, not a file", file=path.name)
    try:
        with path.open("rb") as handle:
            magic = handle.read(8)
    except PermissionError as exc:
        raise InputError(
            "the file cannot be opened: permission denied (is it open in Excel, or "
            "locked by another program?)",
            file=path.name,
        ) from exc
    if not magic:
        raise InputError("the file is empty", file=path.name)
    return magic


def _check_workbook(path: Path, magic: bytes) -> None:
    if magic.startswith(ZIP_MAGIC):
        return
    if magic.startswith(OLE2_MAGIC):
        raise InputError(_ole_message(path), file=path.name)
    raise InputError(
        "this is not an Excel workbook (.xlsx): its content is not an xlsx file, "
        "whatever its name says; open it in Excel and save it as .xlsx",
        file=path.name,
    )


_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_XLS_STREAMS = tuple((name + "\0").encode("utf-16-le") for name in ("Workbook", "Book"))
_XLS_MESSAGE = (
    "this is an old-style .xls workbook (Excel 97-2003), which cannot be read; "
    "open it in Excel and save it as .xlsx (Excel Workbook)"
)
_ENCRYPTED_MESSAGE = (
    "the workbook is password-protected (encrypted); save it without a password "
    "(File > Info > Protect Workbook > Encrypt with Password, clear the password)"
)


def _ole_message(path: Path) -> str:
    """Say what an OLE compound file ("OLE2") is, by the streams it holds.

    An encrypted xlsx is a compound file with an ``EncryptedPackage`` stream; an
    old .xls one with a ``Workbook`` (or ``Book``) stream. Their names are in the
    file's directory, in UTF-16: a byte search finds them without parsing it.
    Without either, the suffix decides (an OLE file named .xlsx is most often an
    encrypted one).
    """
    if _holds(path, (_ENCRYPTED_STREAM,)):
        return _ENCRYPTED_MESSAGE
    if path.suffix.lower() == ".xls" or _holds(path, _XLS_STREAMS):
        return _XLS_MESSAGE
    return _ENCRYPTED_MESSAGE


def _holds(path: Path, names: tuple[bytes, ...]) -> bool:
    overlap = max(map(len, names)) - 1
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            text = tail + chunk
            if any(name in text for name in names):
                return True
            tail = text[-overlap:]
    return False


# Workbooks ----------------------------------------------------------------------------


@contextlib.contextmanager
def _open_workbook(
    path: Path, sheet: str | None, options: ReadOptions, header: HeaderTest | None
) -> Iterator[Table]:
    with open_sheet(path, sheet, header=header, hidden_rows=options.hidden_rows) as (
        title,
        rows,
    ):
        yield Table(path.name, title, rows, column_letter)


# CSV ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _open_csv(path: Path, magic: bytes) -> Iterator[Table]:
    encoding = _encoding(path, magic)
    with path.open(encoding=encoding, newline="") as handle:
        _check_complete(handle, path.name)
        handle.seek(0)
        delimiter = _delimiter(handle.read(_SNIFF_CHARS))
        handle.seek(0)
        table = Table(
            path.name,
            None,
            iter(()),
            lambda index: f"column {index + 1}",
            positional=False,
        )
        table.rows = _csv_rows(handle, delimiter, table)
        yield table


def _check_complete(handle: io.TextIOBase, file: str) -> None:
    """Refuse a file whose last line has no line end while the others have one.

    Excel and other exporters end every line, the last one too: a last line
    without one is most often a file copied before it was complete, whose last
    value is cut (``48,25`` read as ``4``). A file of one line, or one whose
    lines all lack it, is not judged by this.
    """
    lines, last = 0, ""
    while chunk := handle.read(1 << 20):
        lines += chunk.count("\n") or (chunk.count("\r") if "\n" not in chunk else 0)
        last = chunk[-1]
    if lines and last not in "\r\n":
        raise InputError(
            f"the last line, line {lines + 1}, has no line end while the others "
            "have: the file was probably cut while being written (copied before it "
            "was complete); wait for the complete file or ask for it again",
            file=file,
            row=lines + 1,
        )


def _encoding(path: Path, magic: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 by its BOM, else Windows-1252."""
    if magic.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _undecodable_line(path, "utf-8") is None:
        return "utf-8-sig"
    line = _undecodable_line(path, "cp1252")
    if line is not None:
        raise InputError(
            "the file is neither UTF-8 nor Windows-1252 text; save it as "
            "CSV UTF-8 (comma delimited)",
            file=path.name,
            row=line,
        )
    log.warning("input_not_utf8", file=path.name, read_as="cp1252")
    return "cp1252"


def _undecodable_line(path: Path, encoding: str) -> int | None:
    """The first line the encoding cannot decode, or None; read in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 1
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return lines + chunk[: max(exc.start, 0)].count(b"\n")
            if not chunk:
                return None
            lines += chunk.count(b"\n")


def _delimiter(sample: str) -> str:
    """Sniff ``;``, ``,`` or tab; ``;`` (the Danish one) when it is not clear."""
    lines = sample.splitlines()
    if len(sample) >= _SNIFF_CHARS and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off
    first = next((line for line in lines if line.strip()), "")
    try:
        found = csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS)
        delimiter: str | None = found.delimiter
    except csv.Error:
        delimiter = None
    if delimiter is None or delimiter not in first:
        present = [d for d in _DELIMITERS if d in first]
        delimiter = present[0] if len(present) == 1 else ";"
    return delimiter


def _csv_rows(
    handle: io.TextIOBase, delimiter: str, table: Table
) -> Iterator[tuple[int, Sequence[Any]]]:
    reader = csv.reader(handle, delimiter=delimiter)
    line = 1
    width = 0  # of the first non-empty line
    try:
        for cells in reader:
            width = width or (len(cells) if any(cells) else 0)
            if reader.line_num > line and width > 2:
                _check_quotes(cells, delimiter, width, line, table)
            yield line, cells
            line = reader.line_num + 1
    except UnicodeDecodeError as exc:  # the file changed while it was read
        raise table.error("the file cannot be decoded here", row=line) from exc
    except csv.Error as exc:
        raise table.error(f"this line cannot be read as CSV: {exc}", row=line) from exc


def _check_quotes(
    cells: Sequence[str], delimiter: str, width: int, line: int, table: Table
) -> None:
    """Refuse a quoted value that runs over lines holding what look like rows.

    A value in quotes may hold line breaks, but a stray quote (``"hæmolyseret``)
    opens a value that only ends at the next quote, or at the end of the file: the
    lines in between, rows of other patients, would be read as part of it.
    """
    for cell in cells:
        for inner in cell.splitlines()[1:]:
            if inner.count(delimiter) >= width - 1:
                raise table.error(
                    'a quote (") in this line opens a value that runs on over the '
                    "lines after it, which look like rows of their own; the quote "
                    "is probably a typo: remove it, or close it",
                    row=line,
                )
