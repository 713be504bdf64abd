"""Writes the real-world input corpus of issue 15 into this folder again.

The spreadsheets are written by LibreOffice Calc, not by openpyxl: each is described
here as flat-ODS XML (``.fods``, where text and number cells, number formats, hidden
sheets and hidden or filtered rows are spelt out), and ``soffice --headless
--convert-to`` turns it into ``.xlsx`` or ``.ods``. The CSV files are written by
Python's csv module the way Danish Excel writes them: cp1252, ``;`` between fields,
CRLF line ends; a few are UTF-8 with a byte order mark, and two are cut while being
written (the last line without its line end and part of its value).

Every CPR number is a fictitious one of the sandbox's seeded patients (seed 2026).
The CSV files and the ``.fods`` sources are byte-for-byte deterministic; the files
LibreOffice writes carry its own timestamps (zip entries, document properties), so
they differ in those bytes from one run to the next but not in content.

Run it:  .venv/bin/python tests/data/real_world/make_corpus.py
README.md in this folder says what each file covers and how it must load.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent

HEADERS = ["CPR-nummer", "Analysekode", "Værdi", "Enhed", "Prøvetidspunkt", "Kommentar"]

#: Seeded patients of the sandbox (seed 2026); 090968-9473 has a leading zero.
CPR_A = "170551-4514"
CPR_B = "220209-4002"
CPR_C = "211217-9215"
CPR_D = "090505-9525"
CPR_ZERO = "090968-9473"
CPR_E = "290191-0570"


@dataclass(frozen=True)
class Styled:
    """A number cell with a cell style, e.g. the ``0000000000`` CPR format."""

    value: float
    style: str


@dataclass
class Sheet:
    """One sheet of a flat-ODS document."""

    name: str
    rows: Sequence[Sequence[object]]
    hidden: bool = False
    #: Row index (0-based, header is 0) -> "collapse" (hidden) or "filter".
    visibility: dict[int, str] = field(default_factory=dict)
    #: Autofilter on the whole table, filtering column ``filter_column`` to a value.
    autofilter: tuple[int, str] | None = None


# --- flat ODS ---------------------------------------------------------------------

_FODS_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"
 xmlns:fo="urn:oasis:names:xsl-formatting-objects:xmlns:1.0"
 xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
{settings} <office:automatic-styles>
  <number:number-style style:name="N_cpr">
   <number:number number:decimal-places="0" number:min-integer-digits="10"/>
  </number:number-style>
  <number:date-style style:name="N_datetime">
   <number:day number:style="long"/><number:text>-</number:text>
   <number:month number:style="long"/><number:text>-</number:text>
   <number:year number:style="long"/><number:text> </number:text>
   <number:hours number:style="long"/><number:text>:</number:text>
   <number:minutes number:style="long"/>
  </number:date-style>
  <style:style style:name="ce_cpr" style:family="table-cell"
   style:data-style-name="N_cpr"/>
  <style:style style:name="ce_datetime" style:family="table-cell"
   style:data-style-name="N_datetime"/>
  <style:style style:name="ta_visible" style:family="table">
   <style:table-properties table:display="true"/>
  </style:style>
  <style:style style:name="ta_hidden" style:family="table">
   <style:table-properties table:display="false"/>
  </style:style>
 </office:automatic-styles>
 <office:body>
  <office:spreadsheet>
"""


_SETTINGS = """ <office:settings>
  <config:config-item-set config:name="ooo:view-settings">
   <config:config-item-map-indexed config:name="Views">
    <config:config-item-map-entry>
     <config:config-item config:name="ViewId" config:type="string"
      >view1</config:config-item>
     <config:config-item config:name="ActiveTable" config:type="string"
      >{active}</config:config-item>
    </config:config-item-map-entry>
   </config:config-item-map-indexed>
  </config:config-item-set>
 </office:settings>
"""


def _cell_xml(value: object) -> str:
    if value is None or value == "":
        return "<table:table-cell/>"
    if isinstance(value, Styled):
        return (
            f'<table:table-cell table:style-name="{value.style}"'
            f' office:value-type="float" office:value="{value.value!r}">'
            f"<text:p>{value.value:010.0f}</text:p></table:table-cell>"
        )
    if isinstance(value, datetime):
        return (
            '<table:table-cell table:style-name="ce_datetime" office:value-type="date"'
            f' office:date-value="{value.isoformat()}">'
            f"<text:p>{value:%d-%m-%Y %H:%M}</text:p></table:table-cell>"
        )
    if isinstance(value, int | float):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value!r}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    return (
        '<table:table-cell office:value-type="string">'
        f"<text:p>{escape(str(value))}</text:p></table:table-cell>"
    )


def _column_name(index: int) -> str:
    return chr(ord("A") + index)


def fods(sheets: list[Sheet]) -> str:
    """Return the flat-ODS XML of a document with these sheets."""
    # The active sheet cannot be hidden: open the document on the first visible one.
    active = next(sheet.name for sheet in sheets if not sheet.hidden)
    parts = [
        _FODS_HEAD.format(settings=_SETTINGS.format(active=quoteattr(active)[1:-1]))
    ]
    ranges: list[str] = []
    for sheet in sheets:
        style = "ta_hidden" if sheet.hidden else "ta_visible"
        parts.append(
            f"   <table:table table:name={quoteattr(sheet.name)}"
            f' table:style-name="{style}">\n'
        )
        parts.append(
            "    <table:table-column"
            f' table:number-columns-repeated="{len(HEADERS)}"/>\n'
        )
        for index, row in enumerate(sheet.rows):
            visibility = sheet.visibility.get(index)
            attr = f' table:visibility="{visibility}"' if visibility else ""
            cells = "".join(_cell_xml(value) for value in row)
            parts.append(f"    <table:table-row{attr}>{cells}</table:table-row>\n")
        parts.append("   </table:table>\n")
        if sheet.autofilter is not None:
            column, value = sheet.autofilter
            last = f"{_column_name(len(HEADERS) - 1)}{len(sheet.rows)}"
            ranges.append(
                "    <table:database-range"
                f' table:name="__Anonymous_Sheet_DB__{len(ranges)}"'
                f' table:target-range-address="{sheet.name}.A1:{sheet.name}.{last}"'
                ' table:display-filter-buttons="true">\n'
                "     <table:filter><table:filter-condition"
                f' table:field-number="{column}" table:value={quoteattr(value)}'
                ' table:operator="="/></table:filter>\n'
                "    </table:database-range>\n"
            )
    if ranges:
        parts.append("   <table:database-ranges>\n" + "".join(ranges))
        parts.append("   </table:database-ranges>\n")
    parts.append("  </office:spreadsheet>\n </office:body>\n</office:document>\n")
    return "".join(parts)


def good_rows() -> Sequence[Sequence[object]]:
    """Three ordinary rows as a laboratory's workbook holds them."""
    return [
        HEADERS,
        [CPR_A, "NPU02319", 8.4, "mmol/L", datetime(2026, 11, 20, 8, 0), ""],
        [CPR_B, "NPU03429", 141, "mmol/L", datetime(2026, 11, 20, 8, 15), "Fastende"],
        [CPR_C, "NPU19748", 12.5, "mg/L", datetime(2026, 11, 20, 9, 30), ""],
    ]


def old_copy_rows() -> Sequence[Sequence[object]]:
    """An old copy of the results: other values, left in the file as a hidden sheet."""
    return [
        HEADERS,
        [CPR_A, "NPU02319", 7.1, "mmol/L", datetime(2026, 11, 13, 8, 0), "gammel"],
        [CPR_D, "NPU02192", 6.2, "mmol/L", datetime(2026, 11, 13, 7, 45), "gammel"],
    ]


#: Spreadsheets: file stem -> (sheets, formats LibreOffice writes it as).
SPREADSHEETS: dict[str, tuple[list[Sheet], tuple[str, ...]]] = {
    "lo_good": (
        [Sheet("Resultater", good_rows())],
        ("xlsx", "ods"),
    ),
    "lo_numbers_text": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    [CPR_A, "NPU18016", "1.050", "µmol/L", "20-11-2026 08:00", ""],
                    [CPR_B, "NPU03568", "1.234", "10^9/L", "20-11-2026 08:15", ""],
                    [CPR_C, "NPU18016", "1.234,5", "µmol/L", "20-11-2026 08:30", ""],
                    [CPR_D, "NPU18016", "1,234.5", "µmol/L", "20-11-2026 08:45", ""],
                    [CPR_E, "NPU02319", "7,5", "mmol/L", "20-11-2026 09:00", ""],
                    [CPR_A, "NPU01370", "48,25", "g/L", "20-11-2026 09:15", ""],
                ],
            )
        ],
        ("xlsx", "ods"),
    ),
    "lo_numbers_cells": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    [
                        CPR_A,
                        "NPU18016",
                        1050,
                        "µmol/L",
                        datetime(2026, 11, 20, 8, 0),
                        "",
                    ],
                    [
                        CPR_B,
                        "NPU03568",
                        1234,
                        "10^9/L",
                        datetime(2026, 11, 20, 8, 15),
                        "",
                    ],
                    [
                        CPR_C,
                        "NPU18016",
                        1234.5,
                        "µmol/L",
                        datetime(2026, 11, 20, 8, 30),
                        "",
                    ],
                    [
                        CPR_E,
                        "NPU02319",
                        7.5,
                        "mmol/L",
                        datetime(2026, 11, 20, 9, 0),
                        "",
                    ],
                    [
                        CPR_A,
                        "NPU01370",
                        48.25,
                        "g/L",
                        datetime(2026, 11, 20, 9, 15),
                        "",
                    ],
                    [
                        CPR_D,
                        "NPU03577",
                        1.234,
                        "mIU/L",
                        datetime(2026, 11, 20, 9, 30),
                        "",
                    ],
                ],
            )
        ],
        ("xlsx",),
    ),
    "lo_hidden_first_sheet": (
        [
            Sheet("Gammel kopi", old_copy_rows(), hidden=True),
            Sheet("Resultater", good_rows()),
        ],
        ("xlsx", "ods"),
    ),
    "lo_two_visible_sheets": (
        [Sheet("Resultater", good_rows()), Sheet("Resultater (2)", old_copy_rows())],
        ("xlsx",),
    ),
    "lo_hidden_rows": (
        [Sheet("Resultater", good_rows(), visibility={2: "collapse"})],
        ("xlsx", "ods"),
    ),
    "lo_filtered_rows": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    [
                        CPR_A,
                        "NPU02319",
                        8.4,
                        "mmol/L",
                        datetime(2026, 11, 20, 8, 0),
                        "",
                    ],
                    [
                        CPR_B,
                        "NPU03429",
                        141,
                        "mmol/L",
                        datetime(2026, 11, 20, 8, 15),
                        "",
                    ],
                    [
                        CPR_C,
                        "NPU02319",
                        7.9,
                        "mmol/L",
                        datetime(2026, 11, 20, 9, 30),
                        "",
                    ],
                    [CPR_D, "NPU19748", 3, "mg/L", datetime(2026, 11, 20, 9, 45), ""],
                ],
                visibility={2: "filter", 4: "filter"},
                autofilter=(1, "NPU02319"),
            )
        ],
        ("xlsx", "ods"),
    ),
    "lo_timezones_text": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    [CPR_A, "NPU02319", 8.4, "mmol/L", "2026-11-20T08:00:00+01:00", ""],
                    [CPR_B, "NPU03429", 141, "mmol/L", "2026-11-20T07:15:00Z", ""],
                    [CPR_C, "NPU19748", 12.5, "mg/L", "2026-11-20T09:30:00", ""],
                ],
            )
        ],
        ("xlsx",),
    ),
    "lo_dates_cells_and_text": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    [
                        CPR_A,
                        "NPU02319",
                        8.4,
                        "mmol/L",
                        datetime(2026, 11, 20, 8, 0),
                        "",
                    ],
                    [CPR_B, "NPU03429", 141, "mmol/L", "20-11-2026 08:15", ""],
                    [CPR_C, "NPU19748", 12.5, "mg/L", "20.11.2026 09:30", ""],
                ],
            )
        ],
        ("xlsx", "ods"),
    ),
    "lo_day_month_order": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    [CPR_A, "NPU02319", 8.4, "mmol/L", "11/19/2026 08:00", ""],
                    [CPR_B, "NPU03429", 141, "mmol/L", "11/05/2026 08:15", ""],
                    [CPR_C, "NPU19748", 12.5, "mg/L", "11/20/2026 09:30", ""],
                ],
            )
        ],
        ("xlsx",),
    ),
    "lo_cpr_number_lost_zero": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    [
                        909689473,
                        "NPU02319",
                        8.4,
                        "mmol/L",
                        datetime(2026, 11, 20, 8, 0),
                        "",
                    ],
                    [
                        2202094002,
                        "NPU03429",
                        141,
                        "mmol/L",
                        datetime(2026, 11, 20, 8, 15),
                        "",
                    ],
                ],
            )
        ],
        ("xlsx",),
    ),
    "lo_cpr_number_format_10": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    [
                        Styled(909689473, "ce_cpr"),
                        "NPU02319",
                        8.4,
                        "mmol/L",
                        datetime(2026, 11, 20, 8, 0),
                        "",
                    ],
                    [
                        Styled(2202094002, "ce_cpr"),
                        "NPU03429",
                        141,
                        "mmol/L",
                        datetime(2026, 11, 20, 8, 15),
                        "",
                    ],
                ],
            )
        ],
        ("xlsx", "ods"),
    ),
    "lo_cpr_separators": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    ["090968 9473", "NPU02319", 8.4, "mmol/L", "20-11-2026 08:00", ""],
                    [
                        "090968\u00a09473",
                        "NPU02319",
                        8.5,
                        "mmol/L",
                        "20-11-2026 08:05",
                        "",
                    ],
                    [
                        "090968\u20139473",
                        "NPU02319",
                        8.6,
                        "mmol/L",
                        "20-11-2026 08:10",
                        "",
                    ],
                    [
                        "090968 - 9473",
                        "NPU02319",
                        8.7,
                        "mmol/L",
                        "20-11-2026 08:15",
                        "",
                    ],
                    [
                        "090968\u200b9473",
                        "NPU02319",
                        8.8,
                        "mmol/L",
                        "20-11-2026 08:20",
                        "",
                    ],
                    ["0909689473", "NPU02319", 8.9, "mmol/L", "20-11-2026 08:25", ""],
                ],
            )
        ],
        ("xlsx",),
    ),
    "lo_cpr_malformed": (
        [
            Sheet(
                "Resultater",
                [
                    HEADERS,
                    ["220209-40021", "NPU03429", 141, "mmol/L", "20-11-2026 08:15", ""],
                    ["2202O94002", "NPU03429", 140, "mmol/L", "20-11-2026 08:30", ""],
                    [CPR_A, "NPU02319", 8.4, "mmol/L", "20-11-2026 08:00", ""],
                ],
            )
        ],
        ("xlsx",),
    ),
}


# --- CSV --------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvFile:
    """A CSV file as Danish Excel (cp1252) or another program (UTF-8, BOM) writes it."""

    rows: Sequence[Sequence[str]]
    encoding: str = "cp1252"
    #: The writer was interrupted: the file ends right after this text's last
    #: occurrence, without the rest of the last line and its line end.
    cut_after: str = ""


def csv_bytes(spec: CsvFile) -> bytes:
    """Return the bytes of ``spec``: ``;``-separated, CRLF line ends."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerows(spec.rows)
    text = buffer.getvalue()
    if spec.cut_after:
        text = text[: text.rindex(spec.cut_after) + len(spec.cut_after)]
    return text.encode(spec.encoding)


CSV_FILES: dict[str, CsvFile] = {
    "csv_good_cp1252.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "8,4", "mmol/L", "20-11-2026 08:00", "Prøve ændret"],
            [CPR_B, "NPU03429", "141", "mmol/L", "20-11-2026 08:15", "Fastende"],
            [CPR_C, "NPU19748", "12,5", "mg/L", "20-11-2026 09:30", ""],
        ]
    ),
    "csv_good_utf8_bom.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "8,4", "mmol/L", "20-11-2026 08:00", "Prøve ændret"],
            [CPR_D, "NPU04998", "1,25", "mmol/L", "20-11-2026 08:15", "µ-prøve"],
        ],
        encoding="utf-8-sig",
    ),
    "csv_numbers_danish.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU18016", "1.050", "µmol/L", "20-11-2026 08:00", ""],
            [CPR_B, "NPU03568", "1.234", "10^9/L", "20-11-2026 08:15", ""],
            [CPR_C, "NPU18016", "1.234,5", "µmol/L", "20-11-2026 08:30", ""],
            [CPR_E, "NPU02319", "7,5", "mmol/L", "20-11-2026 09:00", ""],
            [CPR_A, "NPU01370", "48,25", "g/L", "20-11-2026 09:15", ""],
        ]
    ),
    "csv_numbers_english_in_danish.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "8,4", "mmol/L", "20-11-2026 08:00", ""],
            [CPR_D, "NPU18016", "1,234.5", "µmol/L", "20-11-2026 08:45", ""],
        ]
    ),
    "csv_cut_mid_value.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "8,4", "mmol/L", "20-11-2026 08:00", ""],
            [CPR_B, "NPU01370", "48,25", "g/L", "20-11-2026 08:15", ""],
        ],
        cut_after=";NPU01370;4",
    ),
    "csv_cut_comment.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "8,4", "mmol/L", "20-11-2026 08:00", ""],
            [
                CPR_B,
                "NPU03429",
                "141",
                "mmol/L",
                "20-11-2026 08:15",
                "Fastende, taget kl. 7",
            ],
        ],
        cut_after=";Fastende, t",
    ),
    "csv_timezones.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "8,4", "mmol/L", "2026-11-20T08:00:00+01:00", ""],
            [CPR_B, "NPU03429", "141", "mmol/L", "2026-11-20T07:15:00Z", ""],
            [CPR_C, "NPU19748", "12,5", "mg/L", "2026-11-20T09:30:00", ""],
        ]
    ),
    "csv_day_month_order.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "8,4", "mmol/L", "11/19/2026 08:00", ""],
            [CPR_B, "NPU03429", "141", "mmol/L", "11/05/2026 08:15", ""],
        ]
    ),
    "csv_cpr_lost_zero.csv": CsvFile(
        [
            HEADERS,
            ["909689473", "NPU02319", "8,4", "mmol/L", "20-11-2026 08:00", ""],
            [CPR_A, "NPU02319", "8,1", "mmol/L", "20-11-2026 08:05", ""],
        ]
    ),
    "csv_cpr_separators_cp1252.csv": CsvFile(
        [
            HEADERS,
            ["090968 9473", "NPU02319", "8,4", "mmol/L", "20-11-2026 08:00", ""],
            ["090968\u00a09473", "NPU02319", "8,5", "mmol/L", "20-11-2026 08:05", ""],
            ["090968\u20139473", "NPU02319", "8,6", "mmol/L", "20-11-2026 08:10", ""],
            ["090968 - 9473", "NPU02319", "8,7", "mmol/L", "20-11-2026 08:15", ""],
        ]
    ),
    "csv_cpr_zero_width_utf8_bom.csv": CsvFile(
        [
            HEADERS,
            ["090968\u200b-9473", "NPU02319", "8,8", "mmol/L", "20-11-2026 08:20", ""],
            ["\u200b0909689473", "NPU02319", "8,9", "mmol/L", "20-11-2026 08:25", ""],
        ],
        encoding="utf-8-sig",
    ),
    "csv_cpr_malformed.csv": CsvFile(
        [
            HEADERS,
            ["220209-40021", "NPU03429", "141", "mmol/L", "20-11-2026 08:15", ""],
            ["2202O94002", "NPU03429", "140", "mmol/L", "20-11-2026 08:30", ""],
            [CPR_A, "NPU02319", "8,4", "mmol/L", "20-11-2026 08:00", ""],
        ]
    ),
    "corrections_yesterday.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "99", "mmol/L", "19-11-2026 08:00", ""],
            [CPR_B, "NPU03429", "141", "mmol/L", "19-11-2026 08:15", ""],
            [CPR_C, "NPU19748", "12,5", "mg/L", "19-11-2026 09:30", ""],
        ]
    ),
    "corrections_today.csv": CsvFile(
        [
            HEADERS,
            [CPR_A, "NPU02319", "9,9", "mmol/L", "19-11-2026 08:00", "Rettet"],
            [CPR_B, "NPU03429", "143", "mmol/L", "19-11-2026 08:15", ""],
            [CPR_C, "NPU19748", "12,5", "mg/L", "19-11-2026 09:30", ""],
        ]
    ),
}


def owner_file(user: str) -> bytes:
    """Return an Excel owner file (``~$name.xlsx``): 162 bytes naming who has it open.

    The layout Excel uses: the user name's length, the name in the ANSI code page
    padded with spaces to 54 bytes, then the name again in UTF-16 padded to 108.
    """
    ansi = bytes([len(user)]) + user.encode("cp1252")
    ansi = ansi.ljust(54, b" ")
    wide = len(user).to_bytes(2, "little") + user.encode("utf-16-le")
    return ansi + wide.ljust(108, b"\x00")


# --- writing ----------------------------------------------------------------------


def convert(sources: Path, fmt: str, out: Path, profile: Path) -> None:
    """Let LibreOffice Calc convert every ``.fods`` in ``sources`` to ``fmt``."""
    files = sorted(str(path) for path in sources.glob("*.fods"))
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            fmt,
            "--outdir",
            str(out),
            *files,
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )


def hide_first_sheet(path: Path) -> None:
    """Mark the first sheet of a LibreOffice xlsx hidden, as Excel writes it.

    LibreOffice headless opens every document on its first sheet and cannot leave
    the active sheet hidden, so its xlsx export shows it (its ``.ods`` keeps it
    hidden). Only ``xl/workbook.xml`` is changed: the first ``<sheet>`` gets
    ``state="hidden"`` and the workbook opens on the second (``activeTab="1"``).
    """
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            if info.filename == "xl/workbook.xml":
                text = data.decode("utf-8")
                text = text.replace('state="visible"', 'state="hidden"', 1)
                text = text.replace('activeTab="0"', 'activeTab="1"', 1)
                data = text.encode("utf-8")
            target.writestr(info, data)


def main() -> int:
    """Write every file of the corpus into this folder."""
    for name, spec in CSV_FILES.items():
        (HERE / name).write_bytes(csv_bytes(spec))
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        profile = root / "profile"
        for fmt in ("xlsx", "ods"):
            sources = root / f"fods_{fmt}"
            sources.mkdir()
            for stem, (sheets, formats) in SPREADSHEETS.items():
                if fmt in formats:
                    (sources / f"{stem}.fods").write_text(fods(sheets), "utf-8")
            convert(sources, fmt, HERE, profile)
    hide_first_sheet(HERE / "lo_hidden_first_sheet.xlsx")
    glob_dir = HERE / "glob"
    glob_dir.mkdir(exist_ok=True)
    shutil.copyfile(HERE / "lo_good.xlsx", glob_dir / "lab.xlsx")
    (glob_dir / "~$lab.xlsx").write_bytes(owner_file("Laborant"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
