"""Excel loading: 100,000 rows x 8 columns into validated items.

Three readers of the same workbook, interleaved:

- **python-calamine (bare)**, the baseline: open the workbook, load the sheet, turn
  every row into a Python list. The floor for any reader built on it.
- **robotlib excel_source**: what a robot does, ``excel_source(path, model=...)``
  yielding one validated pydantic item per row (headers matched, values converted,
  error cells looked for).
- **openpyxl read-only**: ``load_workbook(read_only=True)`` and ``iter_rows``, the
  reader robotlib used before.

Goals (issue 6): robotlib within 2x the bare calamine time, and at most 150 MB
peak RSS.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Benchmark,
    Options,
    in_fresh_process,
    peak_rss,
    time_ratio,
)

__all__ = ["benchmark", "read_calamine", "read_openpyxl", "read_robotlib"]

ROWS = 100_000
QUICK_ROWS = 10_000
HEADERS = [
    "CPR-nummer",
    "Navn",
    "Analysekode",
    "Værdi",
    "Prøvetidspunkt",
    "Løbenummer",
    "Apparat",
    "Enhed",
]
BASELINE = "python-calamine (bare)"
ROBOTLIB = "robotlib excel_source"
OPENPYXL = "openpyxl read-only"
SAMPLED = datetime(2026, 11, 20, 8, 0)


def benchmark(options: Options) -> Benchmark:
    """Write the workbook once, then compare the three readers on it."""
    rows = QUICK_ROWS if options.quick else ROWS
    path = options.workdir / f"lab_results_{rows}.xlsx"
    in_fresh_process(partial(write_workbook, path, rows))
    return Benchmark(
        "excel",
        title=f"{rows:,} rows x 8 columns into validated items",
        variants={
            BASELINE: partial(read_calamine, path, rows),
            ROBOTLIB: partial(read_robotlib, path, rows),
            OPENPYXL: partial(read_openpyxl, path, rows),
        },
        baseline=BASELINE,
        unit="rows/s",
        rounds=options.rounds_or(5),
        goals=[
            time_ratio(
                ROBOTLIB, at_most=2.0, text="robotlib ≤ 2x the bare calamine time"
            ),
            peak_rss(ROBOTLIB, at_most_mb=150, text="robotlib ≤ 150 MB peak RSS"),
        ],
        notes=[
            f"The workbook ({path.stat().st_size / 2**20:.1f} MB, written once per run "
            "with openpyxl's write-only mode) has text, CPR-like text, ints, floats "
            "and date-times. Each variant runs in a fresh process; its time covers "
            "opening the file to the last row (imports excluded), its peak RSS the "
            "whole process (imports included).",
        ],
    )


def write_workbook(path: Path, rows: int) -> None:
    """Write the lab results workbook: a header and ``rows`` rows of 8 columns."""
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Resultater")
    sheet.append(HEADERS)
    for n in range(rows):
        sheet.append(
            [
                f"{1 + n % 28:02d}{1 + n % 12:02d}{50 + n % 50:02d}-{n % 10000:04d}",
                f"Patient {n}",
                ("NPU02319", "NPU03429", "NPU19748")[n % 3],
                round(3 + (n % 97) / 8, 3),
                SAMPLED + timedelta(minutes=n),
                n,
                n % 7,
                "mmol/L",
            ]
        )
    workbook.save(path)


def read_calamine(path: Path, rows: int) -> dict[str, Any]:
    """The baseline: every row of the sheet as a Python list."""
    import python_calamine

    start = time.perf_counter()
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    sheet = workbook.get_sheet_by_name("Resultater")
    count = sum(1 for _ in sheet.iter_rows()) - 1
    seconds = time.perf_counter() - start
    workbook.close()
    return _counted(count, rows, seconds)


def read_openpyxl(path: Path, rows: int) -> dict[str, Any]:
    """openpyxl's streaming mode, values only."""
    import openpyxl

    start = time.perf_counter()
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in workbook["Resultater"].iter_rows(values_only=True)) - 1
    seconds = time.perf_counter() - start
    workbook.close()
    return _counted(count, rows, seconds)


def read_robotlib(path: Path, rows: int) -> dict[str, Any]:
    """What a robot does: one validated item per row through ``excel_source``."""
    import structlog
    from pydantic import BaseModel, Field

    from robotlib.robot import Row
    from robotlib.steps.excel import excel_source

    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())

    class LabResult(BaseModel):
        """One row of the lab results workbook."""

        cpr: str = Field(pattern=r"^\d{6}-\d{4}$")
        name: str
        code: str
        value: float
        sampled_at: datetime
        sequence: int
        device: int
        unit: str

    source = excel_source(
        path,
        model=LabResult,
        sheet="Resultater",
        aliases={
            "cpr": ["CPR-nummer"],
            "name": ["Navn"],
            "code": ["Analysekode"],
            "value": ["Værdi"],
            "sampled_at": ["Prøvetidspunkt"],
            "sequence": ["Løbenummer"],
            "device": ["Apparat"],
            "unit": ["Enhed"],
        },
    )
    start = time.perf_counter()
    count = 0
    for row in source(None):
        if not isinstance(row, Row):
            raise AssertionError(f"a valid row was rejected: {row}")
        count += 1
    seconds = time.perf_counter() - start
    return _counted(count, rows, seconds)


def _counted(count: int, rows: int, seconds: float) -> dict[str, Any]:
    if count != rows:
        raise AssertionError(f"read {count} rows, expected {rows}")
    return {"units": count, "seconds": seconds}
