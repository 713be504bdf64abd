"""Write the bad-input corpus for the lab_results robot: tests/data/bad_inputs/.

Each file is one thing an operator could hand the robot: the wrong kind of file, a
damaged or encrypted workbook, a sheet with a missing, doubled or renamed column,
rows with bad values. Files that can still be read hold the two good rows in
``GOOD`` (the sheet at the row limit holds a third, on its last row), so the test
(tests/steps/test_bad_inputs.py) can check that every good row survives.

The output is reproducible: fixed workbook timestamps, fixed zip member times and
a seeded random source for the encryption. Run it from the project folder:

    .venv/bin/python scripts/make_bad_inputs.py

The test reads the committed files and never needs this script.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import random
import re
import struct
import zipfile
from base64 import b64encode
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "bad_inputs"
SHEET = "Resultater"
HEADERS = ["CPR-nummer", "Analysekode", "Værdi", "Enhed", "Prøvetidspunkt", "Kommentar"]
GOOD: list[list[Any]] = [
    ["170551-4514", "NPU02319", 8.4, "mmol/L", datetime(2026, 11, 20, 8, 0), ""],
    [
        "220209-4002",
        "NPU03429",
        141.0,
        "mmol/L",
        datetime(2026, 11, 20, 8, 15),
        "fastende",
    ],
]
#: The good row on the last row of the sheet at Excel's row limit.
LAST = ["211217-9215", "NPU19748", 12.5, "mmol/L", datetime(2026, 11, 20, 9, 30), ""]
EXCEL_ROWS = 1_048_576
_EPOCH = datetime(2026, 1, 1)
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)

Writer = Callable[[Path], None]
FILES: dict[str, Writer] = {}


def corpus(name: str) -> Callable[[Writer], Writer]:
    """Register a writer of one corpus file."""

    def register(writer: Writer) -> Writer:
        FILES[name] = writer
        return writer

    return register


# Helpers -----------------------------------------------------------------------------


def workbook(rows: Iterable[Sequence[Any]], *, title: str = SHEET) -> openpyxl.Workbook:
    """A workbook with one sheet holding the rows."""
    book = openpyxl.Workbook()
    book.properties.created = book.properties.modified = _EPOCH
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for values in rows:
        sheet.append(list(values))
    return book


def save(book: openpyxl.Workbook, path: Path) -> None:
    """Save a workbook with fixed zip times, so that the bytes are reproducible."""
    buffer = io.BytesIO()
    book.properties.created = book.properties.modified = _EPOCH
    book.save(buffer)
    path.write_bytes(_rezipped(buffer.getvalue()))


def _rezipped(
    data: bytes, change: Callable[[str, bytes], bytes] | None = None
) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the time
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*",
                    rb"\g<1>2026-01-01T00:00:00Z",
                    content,
                )
            if change is not None:
                content = change(info.filename, content)
            member = zipfile.ZipInfo(info.filename, _ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(member, content)
    return out.getvalue()


def xlsx(path: Path, rows: Iterable[Sequence[Any]]) -> None:
    """Write the rows to the sheet 'Resultater' of a new workbook."""
    save(workbook(rows), path)


def xlsx_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    """A workbook's bytes."""
    buffer = io.BytesIO()
    save_to = workbook(rows)
    save_to.save(buffer)
    return _rezipped(buffer.getvalue())


def csv_text(rows: Iterable[Sequence[Any]], delimiter: str = ";") -> str:
    """Rows as Danish CSV: decimal commas, dd-mm-yyyy HH:MM, CRLF line ends."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            text = f"{value:g}"
            return text.replace(".", ",") if delimiter == ";" else text
        if isinstance(value, datetime):
            return value.strftime("%d-%m-%Y %H:%M")
        text = "" if value is None else str(value)
        if delimiter in text or '"' in text or "\n" in text:
            return '"' + text.replace('"', '""') + '"'
        return text

    return "".join(delimiter.join(map(cell, row)) + "\r\n" for row in rows)


def csv(path: Path, rows: Iterable[Sequence[Any]], delimiter: str = ";") -> None:
    """Write rows as UTF-8 CSV (no BOM)."""
    path.write_bytes(csv_text(rows, delimiter).encode("utf-8"))


def good(*, code: str | None = None, **changes: Any) -> list[Any]:
    """A copy of the first good row with some cells changed, by header index."""
    row = list(GOOD[0])
    for index, value in changes.items():
        row[int(index.lstrip("c"))] = value
    if code is not None:
        row[1] = code
    return row


def bad(column: str, value: Any) -> list[Any]:
    """The first good row with one cell (by header) replaced."""
    row = list(GOOD[0])
    row[HEADERS.index(column)] = value
    return row


# Wrong kind of file ------------------------------------------------------------------


@corpus("png_named.xlsx")
def _png(path: Path) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())


_PDF = b"""%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj
trailer << /Root 1 0 R >>
%%EOF
"""


@corpus("pdf_named.xlsx")
def _pdf(path: Path) -> None:
    path.write_bytes(_PDF)


@corpus("pdf_named.csv")
def _pdf_csv(path: Path) -> None:
    path.write_bytes(_PDF + bytes(range(0x80, 0xA0)))


@corpus("legacy.xls")
def _xls(path: Path) -> None:
    path.write_bytes(compound_file({"Workbook": _biff_workbook()}))


@corpus("legacy_renamed.xlsx")
def _xls_renamed(path: Path) -> None:
    path.write_bytes(compound_file({"Workbook": _biff_workbook()}))


@corpus("truncated.xlsx")
def _truncated(path: Path) -> None:
    data = xlsx_bytes([HEADERS, *GOOD])
    path.write_bytes(data[: len(data) // 2])


@corpus("encrypted.xlsx")
def _encrypted(path: Path) -> None:
    path.write_bytes(encrypted_xlsx(xlsx_bytes([HEADERS, *GOOD]), "hemmelig"))


@corpus("empty.xlsx")
def _empty_xlsx(path: Path) -> None:
    path.write_bytes(b"")


@corpus("empty.csv")
def _empty_csv(path: Path) -> None:
    path.write_bytes(b"")


# Sheets and headers ------------------------------------------------------------------


@corpus("header_only.xlsx")
def _header_only(path: Path) -> None:
    xlsx(path, [HEADERS])


@corpus("header_only.csv")
def _header_only_csv(path: Path) -> None:
    csv(path, [HEADERS])


def _without(column: str, rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    index = HEADERS.index(column)
    return [[v for i, v in enumerate(row) if i != index] for row in rows]


@corpus("missing_column.xlsx")
def _missing_column(path: Path) -> None:
    xlsx(path, _without("Værdi", [HEADERS, *GOOD]))


@corpus("missing_column.csv")
def _missing_column_csv(path: Path) -> None:
    csv(path, _without("Prøvetidspunkt", [HEADERS, *GOOD]))


@corpus("duplicated_column.xlsx")
def _duplicated(path: Path) -> None:
    xlsx(path, [[*HEADERS, "Værdi"], *[[*row, 9.9] for row in GOOD]])


@corpus("duplicated_column.csv")
def _duplicated_csv(path: Path) -> None:
    csv(path, [[*HEADERS, "CPR-nummer"], *[[*row, row[0]] for row in GOOD]])


@corpus("renamed_column.xlsx")
def _renamed(path: Path) -> None:
    headers = [("Resultat" if h == "Værdi" else h) for h in HEADERS]
    xlsx(path, [headers, *GOOD])


@corpus("renamed_optional_column.xlsx")
def _renamed_optional(path: Path) -> None:
    headers = [("Bemærkning" if h == "Kommentar" else h) for h in HEADERS]
    xlsx(path, [headers, *GOOD])


@corpus("missing_sheet.xlsx")
def _missing_sheet(path: Path) -> None:
    book = workbook([HEADERS, *GOOD], title="Ark1")
    book.create_sheet("Noter").append(["Til laboratoriet"])
    save(book, path)


@corpus("blank_rows_only.xlsx")
def _blank_only(path: Path) -> None:
    book = workbook([["", "  ", None, "\t"], [" "], ["", ""]])
    sheet = book[SHEET]
    for number in range(4, 30):
        sheet.cell(number, 2).number_format = "0.00"  # styled, still empty
    save(book, path)


@corpus("blank_lines_only.csv")
def _blank_only_csv(path: Path) -> None:
    path.write_bytes(b"\r\n;;;\r\n  \r\n;;;;;\r\n")


@corpus("trailing_blank_rows.xlsx")
def _trailing_blank(path: Path) -> None:
    book = workbook([HEADERS, *GOOD, *([""] * 6 for _ in range(50))])
    sheet = book[SHEET]
    for number in range(54, 200):
        sheet.cell(number, 3).number_format = "0.00"
    save(book, path)


@corpus("trailing_blank_rows.csv")
def _trailing_blank_csv(path: Path) -> None:
    text = csv_text([HEADERS, *GOOD]) + ";;;;;\r\n" * 20 + "\r\n" * 5
    path.write_bytes(text.encode())


@corpus("extra_cells.xlsx")
def _extra_cells(path: Path) -> None:
    xlsx(
        path,
        [HEADERS, [*GOOD[0], None, "ringet til afd."], [*GOOD[1], "x", 42]],
    )


@corpus("extra_cells.csv")
def _extra_cells_csv(path: Path) -> None:
    # row 3 holds a decimal comma in an unquoted value: its cells have shifted
    lines = csv_text([HEADERS, GOOD[0]], delimiter=",")
    lines += "150372-3456,NPU02319,8,4,mmol/L,2026-11-20 08:00,\r\n"
    lines += csv_text([GOOD[1]], delimiter=",")
    path.write_bytes(lines.encode())


@corpus("unbalanced_quote.csv")
def _unbalanced_quote(path: Path) -> None:
    lines = csv_text([HEADERS, GOOD[0]])
    lines += '150372-3456;NPU02319;7,5;mmol/L;20-11-2026 08:30;"hæmolyseret\r\n'
    lines += csv_text([GOOD[1]])
    path.write_bytes(lines.encode())


@corpus("merged_cells.xlsx")
def _merged(path: Path) -> None:
    third = good(**{"c0": "150372-3456", "c3": None})
    book = workbook([HEADERS, GOOD[0], third, GOOD[1]])
    book[SHEET].merge_cells("D2:D3")  # the unit of row 2 spans row 3: D3 reads empty
    save(book, path)


@corpus("hidden_rows.xlsx")
def _hidden(path: Path) -> None:
    book = workbook([HEADERS, GOOD[0], GOOD[1], bad("Værdi", "abc")])
    sheet = book[SHEET]
    sheet.row_dimensions[2].hidden = True
    sheet.row_dimensions[4].hidden = True
    sheet.column_dimensions["F"].hidden = True
    save(book, path)


# Values ------------------------------------------------------------------------------

INVALID_CPR = ["310299-1234", "12345", "abcdef-ghij", "0101901234567"]


@corpus("invalid_cpr.xlsx")
def _invalid_cpr(path: Path) -> None:
    rows = [bad("CPR-nummer", cpr) for cpr in INVALID_CPR]
    xlsx(path, [HEADERS, GOOD[0], *rows, GOOD[1]])


@corpus("invalid_cpr.csv")
def _invalid_cpr_csv(path: Path) -> None:
    rows = [bad("CPR-nummer", cpr) for cpr in INVALID_CPR]
    csv(path, [HEADERS, GOOD[0], *rows, GOOD[1]])


@corpus("future_dates.xlsx")
def _future(path: Path) -> None:
    xlsx(
        path,
        [
            HEADERS,
            GOOD[0],
            bad("Prøvetidspunkt", datetime(2099, 1, 1, 8, 0)),
            bad("Prøvetidspunkt", "24-12-2099 10:00"),
            GOOD[1],
        ],
    )


@corpus("text_in_numeric.xlsx")
def _text_in_numeric(path: Path) -> None:
    rows = [bad("Værdi", v) for v in ("høj", "7,5 mmol", "<0,5", "")]
    xlsx(path, [HEADERS, GOOD[0], *rows, bad("Prøvetidspunkt", 46000.5), GOOD[1]])


@corpus("text_in_numeric.csv")
def _text_in_numeric_csv(path: Path) -> None:
    rows = [bad("Værdi", v) for v in ("høj", "7,5 mmol", "<0,5")]
    csv(path, [HEADERS, GOOD[0], *rows, GOOD[1]])


@corpus("formula_errors.xlsx")
def _formula_errors(path: Path) -> None:
    book = workbook([HEADERS, GOOD[0], good(), good(), good(), GOOD[1]])
    sheet = book[SHEET]
    sheet["C3"] = "=1/0"
    sheet["C4"] = "=#REF!*2"
    sheet["E5"] = "=VLOOKUP(A5,Ark2!A:B,2,FALSE)"
    buffer = io.BytesIO()
    book.save(buffer)
    cached = {"1/0": "#DIV/0!", "#REF!*2": "#REF!", "VLOOKUP": "#N/A"}

    def cache(name: str, content: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return content
        text = content.decode()
        for formula, code in cached.items():
            start = text.index(f"<f>{formula}")
            cell = text.rindex("<c ", 0, start)
            text = text[:cell] + text[cell:].replace("<c ", '<c t="e" ', 1)
            end = text.index("<v", text.index("</f>", start))
            close = text.index(">", end)
            tail = text[close + 1 :]
            if text[close - 1] == "/":
                text = text[:end] + f"<v>{code}</v>" + tail
            else:
                text = text[:end] + f"<v>{code}</v>" + tail[tail.index("</v>") + 4 :]
        return text.encode()

    path.write_bytes(_rezipped(buffer.getvalue(), cache))


@corpus("formula_errors.csv")
def _formula_errors_csv(path: Path) -> None:
    csv(
        path,
        [HEADERS, GOOD[0], bad("Værdi", "#DIV/0!"), bad("Enhed", "#REF!"), GOOD[1]],
    )


@corpus("bad_analysis_code.xlsx")
def _bad_code(path: Path) -> None:
    rows = [bad("Analysekode", code) for code in ("NPU2319", "npu02319", "DNK05472")]
    xlsx(path, [HEADERS, GOOD[0], *rows, GOOD[1]])


HUGE = 100_000
LONG_COMMENT_AT = datetime(2026, 11, 20, 8, 45)


@corpus("huge_strings.xlsx")
def _huge(path: Path) -> None:
    # Excel itself stops at 32,767 characters a cell; other programs do not.
    xlsx(
        path,
        [
            HEADERS,
            GOOD[0],
            bad("CPR-nummer", "1" * HUGE),
            bad("Analysekode", "NPU" + "0" * HUGE),
            bad("Værdi", "8,4 " + "x" * HUGE),
            good(c4=LONG_COMMENT_AT, c5="k" * HUGE),  # good: the model sets no limit
            GOOD[1],
        ],
    )


@corpus("huge_strings.csv")
def _huge_csv(path: Path) -> None:
    csv(
        path,
        [
            HEADERS,
            GOOD[0],
            bad("CPR-nummer", "x" * HUGE),
            bad("Værdi", "8,4" + " " * HUGE + "x"),
            good(c4=LONG_COMMENT_AT, c5="k" * HUGE),  # good: the model sets no limit
            GOOD[1],
        ],
    )


@corpus("huge_header.xlsx")
def _huge_header(path: Path) -> None:
    headers = ["Værdi" * 20_000 if h == "Værdi" else h for h in HEADERS]
    xlsx(path, [headers, *GOOD])


# Encodings and delimiters ------------------------------------------------------------

_DANISH = "prøve på æble, Århus"


@corpus("windows_1252.csv")
def _cp1252(path: Path) -> None:
    rows = [HEADERS, good(c5=_DANISH), GOOD[1]]
    path.write_bytes(csv_text(rows).encode("cp1252"))


@corpus("utf8_bom.csv")
def _bom(path: Path) -> None:
    rows = [HEADERS, good(c5=_DANISH), GOOD[1]]
    path.write_bytes(csv_text(rows).encode("utf-8-sig"))


@corpus("semicolon.csv")
def _semicolon(path: Path) -> None:
    csv(path, [HEADERS, *GOOD], delimiter=";")


@corpus("comma.csv")
def _comma(path: Path) -> None:
    csv(path, [HEADERS, *GOOD], delimiter=",")


@corpus("comma_decimal_commas.csv")
def _comma_quoted(path: Path) -> None:
    # a comma-separated export that quotes its decimal commas, as Excel does
    text = csv_text([HEADERS], delimiter=",")
    for row in GOOD:
        cells = [
            f'"{row[2]:g}"'.replace(".", ",") if i == 2 else c
            for i, c in enumerate(row)
        ]
        cells[4] = row[4].strftime("%d-%m-%Y %H:%M")
        text += ",".join(map(str, cells)) + "\r\n"
    path.write_bytes(text.encode())


# The row limit -----------------------------------------------------------------------


@corpus("row_limit.xlsx")
def _row_limit(path: Path) -> None:
    """Every one of Excel's 1,048,576 rows used: the header, two good rows, one bad
    row repeated down to the last row but one, and a good row on the last row.

    The sheet XML is streamed into the zip. Its cells have no ``r`` references
    (they are optional), so the repeated rows are byte-identical and compress to
    next to nothing.
    """
    values = [v for row in (*GOOD, LAST) for v in row if isinstance(v, str) and v]
    strings = [*HEADERS, *values, "høj"]
    index = {s: i for i, s in enumerate(dict.fromkeys(strings))}

    def row_xml(values: Sequence[Any], number: int | None = None) -> str:
        cells = []
        for value in values:
            if isinstance(value, datetime):
                serial = (value - datetime(1899, 12, 30)).total_seconds() / 86400
                cells.append(f'<c s="1"><v>{serial!r}</v></c>')
            elif isinstance(value, float):
                cells.append(f"<c><v>{value!r}</v></c>")
            elif value == "" or value is None:
                cells.append("<c/>")
            else:
                cells.append(f'<c t="s"><v>{index[value]}</v></c>')
        attribute = f' r="{number}"' if number else ""
        return f"<row{attribute}>{''.join(cells)}</row>"

    repeated = row_xml(bad("Værdi", "høj")).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in _workbook_parts(index).items():
            archive.writestr(
                zipfile.ZipInfo(name, _ZIP_TIME), content, zipfile.ZIP_DEFLATED
            )
        member = zipfile.ZipInfo("xl/worksheets/sheet1.xml", _ZIP_TIME)
        member.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(member, "w", force_zip64=True) as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                b'2006/main"><dimension ref="A1:F1048576"/><sheetData>'
            )
            for values in (HEADERS, *GOOD):
                sheet.write(row_xml(values).encode())
            block = repeated * 4096
            left = EXCEL_ROWS - 4
            while left:
                count = min(left, 4096)
                sheet.write(block if count == 4096 else repeated * count)
                left -= count
            sheet.write(row_xml(LAST, EXCEL_ROWS).encode())
            sheet.write(b"</sheetData></worksheet>")


def _workbook_parts(strings: dict[str, int]) -> dict[str, str]:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    content = "http://schemas.openxmlformats.org/package/2006/content-types"
    sml = "application/vnd.openxmlformats-officedocument.spreadsheetml"

    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    shared = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    return {
        "[Content_Types].xml": (
            f'<Types xmlns="{content}">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-'
            'package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            f'ContentType="{sml}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{sml}.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{sml}.styles+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{sml}.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
            f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            f'<sheet name="{SHEET}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{package}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>'
        ),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{main}"><numFmts count="1"><numFmt numFmtId="164" '
            'formatCode="dd-mm-yyyy hh:mm"/></numFmts>'
            '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
            '<borders count="1"><border/></borders>'
            '<cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf/>'
            '<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>'
        ),
        "xl/sharedStrings.xml": (
            f'<sst xmlns="{main}" count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">{shared}</sst>'
        ),
    }


# OLE compound files (old .xls, encrypted .xlsx) --------------------------------------

_SECTOR = 512
_MINI = 64
_CUTOFF = 4096
_FREE, _END, _FAT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A version 3 compound file (CFB, "OLE2") holding the streams in its root.

    Streams under 4,096 bytes live in the mini stream, as the format requires.
    """
    names = list(streams)
    mini = bytearray()
    mini_fat: list[int] = []
    big: list[tuple[str, bytes]] = []
    starts: dict[str, int] = {}
    for name in names:
        data = streams[name]
        if len(data) >= _CUTOFF:
            big.append((name, data))
            continue
        count = max(1, -(-len(data) // _MINI))
        starts[name] = len(mini_fat)
        mini_fat.extend(range(len(mini_fat) + 1, len(mini_fat) + count))
        mini_fat.append(_END)
        mini += data.ljust(count * _MINI, b"\0")

    def sectors(size: int) -> int:
        return -(-size // _SECTOR)

    directory = 1 + len(names)
    layout = [
        ("directory", sectors(directory * 128)),
        ("minifat", sectors(len(mini_fat) * 4) if mini_fat else 0),
        ("ministream", sectors(len(mini)) if mini else 0),
        *((name, sectors(len(data))) for name, data in big),
    ]
    used = sum(count for _, count in layout)
    fat_sectors = 1
    while fat_sectors * 128 < used + fat_sectors:
        fat_sectors += 1
    fat = [_FAT] * fat_sectors
    first: dict[str, int] = {}
    for name, count in layout:
        if not count:
            first[name] = _END
            continue
        first[name] = len(fat)
        fat.extend([*range(len(fat) + 1, len(fat) + count), _END])
    fat += [_FREE] * (fat_sectors * 128 - len(fat))
    for name, _ in big:
        starts[name] = first[name]

    def entry(
        name: str,
        kind: int,
        start: int,
        size: int,
        child: int = _FREE,
        right: int = _FREE,
    ) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)  # black node
            + struct.pack("<III", _FREE, right, child)
            + bytes(16 + 4 + 16)
            + struct.pack("<IQ", start, size)
        )

    # siblings as a chain of right links, ordered as CFB compares names
    ordered = sorted(names, key=lambda n: (len(n), n.upper()))
    ids = {name: i + 1 for i, name in enumerate(ordered)}
    entries = [
        entry("Root Entry", 5, first["ministream"], len(mini), child=ids[ordered[0]])
    ]
    for position, name in enumerate(ordered):
        right = ids[ordered[position + 1]] if position + 1 < len(ordered) else _FREE
        entries.append(entry(name, 2, starts[name], len(streams[name]), right=right))
    directory_bytes = b"".join(entries)
    directory_bytes += entry("", 0, _END, 0) * (
        sectors(len(directory_bytes)) * 4 - len(entries)
    )
    body = {
        "directory": directory_bytes,
        "minifat": b"".join(struct.pack("<I", n) for n in mini_fat),
        "ministream": bytes(mini),
        **dict(big),
    }
    difat = list(range(fat_sectors)) + [_FREE] * (109 - fat_sectors)
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIII", 0, fat_sectors, first["directory"], 0)
        + struct.pack("<I", _CUTOFF)
        + struct.pack("<II", first["minifat"], 1 if mini_fat else 0)
        + struct.pack("<II", _END, 0)
        + b"".join(struct.pack("<I", n) for n in difat)
    )
    assert len(header) == _SECTOR
    out = bytearray(header)
    out += b"".join(struct.pack("<I", n) for n in fat)
    for name, count in layout:
        out += body[name].ljust(count * _SECTOR, b"\0")
    return bytes(out)


def _biff_workbook() -> bytes:
    """The smallest BIFF8 workbook stream: BOF (workbook globals) and EOF."""
    bof = struct.pack("<HHHHHHII", 0x0809, 16, 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x06)
    return bof + struct.pack("<HH", 0x000A, 0)


def encrypted_xlsx(package: bytes, password: str) -> bytes:
    """Encrypt an xlsx as Excel does with a password (ECMA-376 agile encryption,
    AES-256, SHA-512), into an OLE compound file."""
    rng = random.Random(8)
    key_salt, password_salt = rng.randbytes(16), rng.randbytes(16)
    secret, hmac_key = rng.randbytes(32), rng.randbytes(64)
    spin = 100_000

    def aes(key: bytes, iv: bytes, data: bytes) -> bytes:
        data = data.ljust(-(-len(data) // 16) * 16, b"\0")
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return encryptor.update(data) + encryptor.finalize()

    digest = hashlib.sha512(password_salt + password.encode("utf-16-le")).digest()
    for i in range(spin):
        digest = hashlib.sha512(struct.pack("<I", i) + digest).digest()

    def password_key(block: bytes) -> bytes:
        return hashlib.sha512(digest + block).digest()[:32]

    verifier = rng.randbytes(16)
    encrypted_verifier = aes(
        password_key(bytes.fromhex("fea7d2763b4b9e79")), password_salt, verifier
    )
    encrypted_verifier_hash = aes(
        password_key(bytes.fromhex("d7aa0f6d3061344e")),
        password_salt,
        hashlib.sha512(verifier).digest(),
    )
    encrypted_key = aes(
        password_key(bytes.fromhex("146e0be7abacd0d6")), password_salt, secret
    )
    segments = [package[i : i + 4096] for i in range(0, len(package), 4096)]
    encrypted = struct.pack("<Q", len(package)) + b"".join(
        aes(secret, hashlib.sha512(key_salt + struct.pack("<I", n)).digest()[:16], seg)
        for n, seg in enumerate(segments)
    )

    def block_iv(block: str) -> bytes:
        return hashlib.sha512(key_salt + bytes.fromhex(block)).digest()[:16]

    hmac_value = hmac.new(hmac_key, encrypted, hashlib.sha512).digest()
    encrypted_hmac_key = aes(secret, block_iv("5fb2ad010cb9e1f6"), hmac_key)
    encrypted_hmac_value = aes(secret, block_iv("a0677f02b22c8433"), hmac_value)

    def b64(data: bytes) -> str:
        return b64encode(data).decode()

    common = (
        'blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512"'
    )
    descriptor = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption" '
        'xmlns:p="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
        f'<keyData saltSize="16" {common} saltValue="{b64(key_salt)}"/>'
        f'<dataIntegrity encryptedHmacKey="{b64(encrypted_hmac_key)}" '
        f'encryptedHmacValue="{b64(encrypted_hmac_value)}"/>'
        '<keyEncryptors><keyEncryptor uri="http://schemas.microsoft.com/office/2006/'
        f'keyEncryptor/password"><p:encryptedKey spinCount="{spin}" saltSize="16" '
        f'{common} saltValue="{b64(password_salt)}" '
        f'encryptedVerifierHashInput="{b64(encrypted_verifier)}" '
        f'encryptedVerifierHashValue="{b64(encrypted_verifier_hash)}" '
        f'encryptedKeyValue="{b64(encrypted_key)}"/></keyEncryptor></keyEncryptors>'
        "</encryption>"
    ).encode()
    info = struct.pack("<HHI", 4, 4, 0x40) + descriptor
    return compound_file({"EncryptionInfo": info, "EncryptedPackage": encrypted})


def main() -> None:
    """Write every corpus file."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, writer in FILES.items():
        writer(OUT / name)
        print(f"{(OUT / name).stat().st_size:>10,}  {name}")
    print(f"{len(FILES)} files in {OUT}")


if __name__ == "__main__":
    main()
