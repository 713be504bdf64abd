"""The workbook writer: tables, charts, summary sheets, and saving them safely.

What :mod:`robotlib.workbooks` exports (and :mod:`robotlib.steps.reports` gives
robots, with an example); how values become cells is :mod:`._cells`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from robotlib.workbooks._cells import (
    cell_value,
    number_format,
    sheet_title,
    shown_width,
)

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = [
    "Column",
    "Highlight",
    "add_chart",
    "add_facts_chart",
    "new_workbook",
    "save",
    "write_summary",
    "write_table",
]

HEADER_FILL = "DDEBF7"
MAX_WIDTH, MIN_WIDTH = 60, 6
_HEX_COLOUR = re.compile(r"[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?")
_CHART_ROWS = 16  # rows a default chart covers, to stack charts without overlap


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a table: the row key, and how it is shown.

    Attributes:
        key: the key (or model field) the value comes from.
        header: the header text; default: ``key``.
        number_format: an Excel number format; default: from the values' type.
        width: the column width in characters; default: fitted to the content.
    """

    key: str
    header: str | None = None
    number_format: str | None = None
    width: float | None = None

    @property
    def title(self) -> str:
        """The header text."""
        return self.header if self.header is not None else self.key


@dataclass(frozen=True, slots=True)
class Highlight:
    """Colour cells (or whole rows) where a column equals a value or passes a limit.

    Give exactly one of ``equals``, ``greater_than`` and ``less_than``. ``column`` is
    a header or a key; ``fill`` an RGB hex colour such as ``"FFF2CC"``.

    Example:
        >>> Highlight(column="State", equals="failed", fill="FFC7CE", whole_row=True)
        >>> Highlight(column="Value", greater_than=8.0)
    """

    column: str
    equals: str | float | None = None
    greater_than: float | None = None
    less_than: float | None = None
    fill: str = "FFF2CC"
    whole_row: bool = False

    def __post_init__(self) -> None:
        given = [self.equals, self.greater_than, self.less_than]
        if sum(value is not None for value in given) != 1:
            raise ValueError(
                "a Highlight needs exactly one of equals, greater_than, less_than"
            )
        if not _HEX_COLOUR.fullmatch(self.fill):
            raise ValueError(f"fill {self.fill!r} is not a hex colour like 'FFF2CC'")

    def condition(self, cell: str) -> str:
        """The Excel formula that is true where ``cell`` (e.g. ``$C2``) matches."""
        if self.equals is not None:
            if isinstance(self.equals, str):
                return f'{cell}="{self.equals.replace(chr(34), chr(34) * 2)}"'
            return f"{cell}={self.equals!r}"
        if self.greater_than is not None:
            return f"AND(ISNUMBER({cell}),{cell}>{self.greater_than!r})"
        return f"AND(ISNUMBER({cell}),{cell}<{self.less_than!r})"


# Public API -----------------------------------------------------------------------


def new_workbook() -> Workbook:
    """Return an empty workbook; its placeholder sheet goes when a sheet is added.

    Example:
        >>> workbook = new_workbook()
        >>> write_table(workbook, "Data", [{"a": 1}]).parent.sheetnames
        ['Data']
    """
    return _openpyxl().Workbook()


def write_table(
    workbook: Workbook,
    title: str,
    rows: Sequence[Mapping[str, Any]] | Sequence[BaseModel],
    *,
    columns: Sequence[Column] | None = None,
    highlight: Sequence[Highlight] = (),
) -> Worksheet:
    """Add a sheet holding ``rows`` as a formatted table.

    Args:
        workbook: the workbook to add to.
        title: the sheet's title; made valid for Excel and unique.
        rows: dicts or pydantic models, one per row.
        columns: which keys, in which order, with which headers; default: every
            key, in the order first seen.
        highlight: conditional colouring of cells or rows.

    Returns:
        The new sheet: header in row 1, data from row 2.

    Raises:
        ValueError: a highlight names a column the table does not have.

    Example:
        >>> write_table(workbook, "Lab", rows, columns=[Column("cpr", "CPR-nummer")],
        ...             highlight=[Highlight(column="Værdi", greater_than=8.0)])
    """
    dicts = [row.model_dump() if isinstance(row, BaseModel) else row for row in rows]
    cols = list(columns) if columns is not None else _columns(dicts)
    values = [[cell_value(row.get(col.key)) for col in cols] for row in dicts]
    marked = [(rule, _column_of(cols, rule.column, title)) for rule in highlight]
    xl = _openpyxl()
    sheet = _add_sheet(workbook, title)
    for index, col in enumerate(cols, start=1):
        cell = sheet.cell(row=1, column=index, value=col.title)
        cell.font = xl.styles.Font(bold=True)
        cell.fill = _fill(HEADER_FILL)
    formats = [
        col.number_format or number_format(row[index] for row in values)
        for index, col in enumerate(cols)
    ]
    for row_number, row_values in enumerate(values, start=2):
        for index, value in enumerate(row_values, start=1):
            _write(sheet, row_number, index, value, formats[index - 1])
    for index, col in enumerate(cols):
        shown = [shown_width(row[index], formats[index]) for row in values]
        fitted = max([len(col.title) + 4, MIN_WIDTH, *shown])  # + filter button
        letter = xl.utils.get_column_letter(index + 1)
        sheet.column_dimensions[letter].width = col.width or min(fitted, MAX_WIDTH)
    if cols:
        last = xl.utils.get_column_letter(len(cols))
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{last}{len(values) + 1}"
        for rule, column in marked:
            _add_highlight(sheet, rule, column, last, max(len(values), 1) + 1)
    return sheet


def add_chart(
    worksheet: Worksheet,
    *,
    kind: Literal["bar", "line"],
    title: str,
    categories_column: str,
    value_columns: Sequence[str],
    anchor: str | None = None,
) -> None:
    """Add a bar or line chart over a table written by :func:`write_table`.

    Args:
        worksheet: the table's sheet.
        kind: ``"bar"`` or ``"line"``.
        title: the chart's title.
        categories_column: the header of the column along the x axis.
        value_columns: the headers of the columns to plot, one series each.
        anchor: the top-left cell of the chart; default: right of the table,
            below any chart already there.

    Raises:
        ValueError: a header is not in the table's first row.

    Example:
        >>> add_chart(sheet, kind="line", title="Hb per day",
        ...           categories_column="Dato", value_columns=["Værdi"])
    """
    xl = _openpyxl()
    headers = {cell.value: cell.column for cell in worksheet[1] if cell.value}
    missing = [h for h in [categories_column, *value_columns] if h not in headers]
    if missing:
        raise ValueError(
            f"sheet {worksheet.title!r} has no column {missing[0]!r}; "
            f"its columns: {', '.join(map(str, headers))}"
        )
    ref = worksheet.auto_filter.ref
    last_row = xl.utils.range_boundaries(ref)[3] if ref else worksheet.max_row
    chart = _chart(kind, title)
    for header in value_columns:
        data = xl.chart.Reference(
            worksheet, min_col=headers[header], min_row=1, max_row=last_row
        )
        chart.add_data(data, titles_from_data=True)
    chart.set_categories(
        xl.chart.Reference(
            worksheet, min_col=headers[categories_column], min_row=2, max_row=last_row
        )
    )
    if anchor is None:
        right = xl.utils.get_column_letter(worksheet.max_column + 2)
        anchor = f"{right}{2 + _CHART_ROWS * len(worksheet._charts)}"
    worksheet.add_chart(chart, anchor)


def add_counts_chart(worksheet: Worksheet, *, column: str, title: str) -> None:
    """Add a bar chart of how many rows hold each value of ``column``.

    The counts go in a small table right of the :func:`write_table` table (the
    column's values, sorted, and their counts), the chart below that.

    Raises:
        ValueError: ``column`` is not in the table's first row.

    Example:
        >>> add_counts_chart(sheet, column="Test code", title="Results per test")
    """
    xl = _openpyxl()
    headers = {cell.value: cell.column for cell in worksheet[1] if cell.value}
    if column not in headers:
        raise ValueError(
            f"sheet {worksheet.title!r} has no column {column!r}; "
            f"its columns: {', '.join(map(str, headers))}"
        )
    values = worksheet.iter_rows(
        min_row=2, min_col=headers[column], max_col=headers[column], values_only=True
    )
    counts = Counter(value for (value,) in values if value is not None)
    first = worksheet.max_column + 2
    for offset, header in enumerate((column, "Rows")):
        cell = worksheet.cell(row=1, column=first + offset, value=header)
        cell.font = xl.styles.Font(bold=True)
    for number, (value, count) in enumerate(sorted(counts.items()), start=2):
        worksheet.cell(row=number, column=first, value=value)
        worksheet.cell(row=number, column=first + 1, value=count)
    last = len(counts) + 1
    chart = _chart("bar", title)
    chart.legend = None
    data = xl.chart.Reference(worksheet, min_col=first + 1, min_row=1, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(
        xl.chart.Reference(worksheet, min_col=first, min_row=2, max_row=last)
    )
    worksheet.add_chart(chart, worksheet.cell(row=last + 2, column=first).coordinate)


def write_summary(
    workbook: Workbook, title: str, facts: Sequence[tuple[str, Any]]
) -> Worksheet:
    """Add a key/value sheet with bold keys as the workbook's first, active sheet.

    Example:
        >>> write_summary(workbook, "Summary", [("Robot", "lab_results"), ("Done", 41)])
    """
    xl = _openpyxl()
    sheet = _add_sheet(workbook, title, index=0)
    widths = [MIN_WIDTH, MIN_WIDTH]
    for row_number, (key, raw) in enumerate(facts, start=1):
        value = cell_value(raw)
        sheet.cell(row=row_number, column=1, value=key).font = xl.styles.Font(bold=True)
        _write(sheet, row_number, 2, value, number_format([value]))
        widths[0] = max(widths[0], len(key) + 2)
        widths[1] = max(widths[1], shown_width(value, number_format([value])))
    sheet.column_dimensions["A"].width = min(widths[0], MAX_WIDTH)
    sheet.column_dimensions["B"].width = min(widths[1], MAX_WIDTH)
    workbook.active = 0
    for other in workbook.worksheets:  # one selected tab, or Excel groups them
        other.sheet_view.tabSelected = other is sheet
    return sheet


def add_facts_chart(
    summary: Worksheet,
    *,
    title: str,
    first_row: int,
    last_row: int,
    anchor: str = "D2",
) -> None:
    """Add a bar chart of some facts of a :func:`write_summary` sheet.

    The facts in rows ``first_row`` to ``last_row`` (counted from 1): their keys
    along the x axis, their values as the bars.

    Example:
        >>> add_facts_chart(summary, title="Items by outcome", first_row=10,
        ...                 last_row=12)
    """
    xl = _openpyxl()
    chart = _chart("bar", title)
    chart.legend = None
    values = xl.chart.Reference(summary, min_col=2, min_row=first_row, max_row=last_row)
    chart.add_data(values, titles_from_data=False)
    chart.set_categories(
        xl.chart.Reference(summary, min_col=1, min_row=first_row, max_row=last_row)
    )
    summary.add_chart(chart, anchor)


def save(workbook: Workbook, path: Path) -> Path:
    """Write ``workbook`` to ``path`` atomically, readable by its owner only.

    The workbook is written to a temporary file in the same folder, flushed to disk
    and renamed over ``path``, so a crash never leaves half a file behind. Missing
    folders are created.

    Example:
        >>> save(workbook, run_dir / "report.xlsx")
        PosixPath('logs/lab_results/20261122T020000Z-3f9a1c/report.xlsx')
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            workbook.save(stream)
            stream.flush()
            os.fsync(stream.fileno())
        if os.name == "posix":
            os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# Private API ----------------------------------------------------------------------


def _chart(kind: Literal["bar", "line"], title: str) -> Any:
    charts = _openpyxl().chart
    chart = charts.BarChart() if kind == "bar" else charts.LineChart()
    chart.title = title
    chart.x_axis.delete = False  # openpyxl 3.1 hides axes unless told otherwise
    chart.y_axis.delete = False
    return chart


def _openpyxl() -> Any:
    import openpyxl
    import openpyxl.chart
    import openpyxl.formatting.rule
    import openpyxl.styles
    import openpyxl.utils

    return openpyxl


def _add_sheet(workbook: Workbook, title: str, *, index: int | None = None) -> Any:
    sheets = workbook.worksheets
    if len(sheets) == 1 and sheets[0].title == "Sheet" and not sheets[0]._cells:
        workbook.remove(sheets[0])  # openpyxl's untouched placeholder
    return workbook.create_sheet(sheet_title(title, workbook.sheetnames), index)


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[Column]:
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return [Column(key) for key in keys]


def _write(sheet: Any, row: int, column: int, value: Any, fmt: str | None) -> None:
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # "=HYPERLINK(...)" in the data stays text
        if "\n" in value:
            cell.alignment = _openpyxl().styles.Alignment(wrap_text=True)
    elif fmt is not None and value is not None and not isinstance(value, bool):
        cell.number_format = fmt


def _column_of(columns: Sequence[Column], name: str, title: str) -> int:
    """The 1-based index of the column with header (or else key) ``name``."""
    names = [col.title for col in columns]
    keys = [col.key for col in columns]
    if name in names:
        return names.index(name) + 1
    if name in keys:
        return keys.index(name) + 1
    raise ValueError(
        f"cannot highlight {name!r} in sheet {title!r}: no such column; "
        f"its columns: {', '.join(names)}"
    )


def _add_highlight(
    sheet: Any, rule: Highlight, column: int, last_column: str, last_row: int
) -> None:
    xl = _openpyxl()
    letter = xl.utils.get_column_letter(column)
    first, last = ("A", last_column) if rule.whole_row else (letter, letter)
    sheet.conditional_formatting.add(
        f"{first}2:{last}{last_row}",
        xl.formatting.rule.FormulaRule(
            formula=[rule.condition(f"${letter}2")], fill=_fill(rule.fill)
        ),
    )


def _fill(colour: str) -> Any:
    return _openpyxl().styles.PatternFill(
        fill_type="solid", start_color=colour, end_color=colour
    )
