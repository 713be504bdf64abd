"""Read spreadsheet and CSV rows into validated items, one bad row at a time.

``read_rows`` reads a sheet of an ``.xlsx``/``.xlsm`` workbook or an ``.ods``
spreadsheet (through python-calamine; openpyxl for the odd sheet it cannot read), or
a ``.csv``/``.txt`` file, and yields a :class:`~robotlib.robot.Row` holding a
validated model instance for each good row, and a :class:`~robotlib.robot.RowError`
for each bad one, so the engine turns bad rows into business exceptions and goes on
with the rest. Problems with the file itself raise
:class:`~robotlib.errors.InputError` (``rpa run`` exits 2).

How a sheet is read:

- **Header row.** The first non-empty row, unless a later row among the first 20
  non-empty ones is a better match for the model (a title above the table), or
  ``header_row`` says where it is. Rows above the header are ignored.
- **Header matching.** Case, surrounding and repeated spaces, ``-`` and ``_`` do not
  matter (``"CPR-nummer"`` = ``"cpr nummer"`` = ``"CPR_NUMMER"``); Danish letters
  do. A header matches a field by its name, its pydantic alias or validation alias,
  or a header listed for it in ``aliases``. Other columns are ignored. Two columns
  for the same field, or a required field with no column, raise ``InputError``.
- **Merged header cells.** A merged cell's value is in its first (top-left) cell
  and the others read empty. A header that only existed "under" a merge is
  missing, which for a required field is the missing-column error.
- **Values**, converted by the field's type (``Optional[...]`` included): text dates
  ``dd-mm-yyyy``, ``dd.mm.yyyy``, ``dd/mm/yyyy`` and ``yyyy-mm-dd``, optionally with
  ``HH:MM[:SS]`` (``2026-12-24T14:30`` too), for date and datetime fields, and
  for date fields a day in words counted from today (``i dag``, ``i går``,
  ``i dag-30``; ``today``, ``yesterday``, ``today-30``); numbers
  stored as ``12.0`` become ``12`` in int fields and ``"12"`` in text fields; text
  is stripped; an empty cell is left out, so the field's default applies.
- **Numbers in text cells** (float, Decimal and int fields) are read by the
  column's locale (``column_locales``, else ``locale``, else the project's
  ``locale``, ``da``) with Babel's strict parsing: the locale's own notation, with
  or without grouping (``7,5``, ``1.234,5`` in Danish), and the plain notation
  programs write (``7.5``, ``-0.25``); digits grouped by spaces (``1 234,5``) too.
  A text that reads as two values (``1.050`` in Danish: 1050, or 1.05 with a
  decimal point) or is written in the other notation (``1,234.5`` in a Danish
  column) is its row's error, naming both readings. Number *cells* are read as
  the number they hold, whatever the locale.
- **Day/month order.** Numeric text dates are read in the column locale's order
  (``da``: day first, ``11.05.2026`` is 11 May; ``en_US``: month first). In a
  column where another row can only be read in the other order (``11/19/2026``
  in a Danish column), a date that reads both ways (``11/05/2026``) is its row's
  error, naming both readings and the proving row. Models with date fields hold
  the sheet's rows in memory while it is read, to see the whole column first.
- **Times with an offset** (``2026-11-20T08:00:00+01:00``, ``...Z``, ``+0100``) are
  converted to the project's ``time_zone`` (``Europe/Copenhagen``) and given as its
  wall-clock time to a ``datetime`` field without one; a pydantic
  ``AwareDatetime`` field keeps the offset; a ``date`` field takes the date there.
- **A robot's check that raises** (a validator's ``TypeError`` or ``KeyError``) is
  that row's error, naming the column whose check raised, or the row when it is
  not one column's: never the end of the load.
- **Formulas** are read by the value Excel cached when it last saved the file. A
  formula cell without a cached value (a file written by a program that does not
  calculate, and never opened in Excel) reads as empty. A cell holding a formula
  error (``#REF!``, ``#DIV/0!``, ``#N/A``, ``#VALUE!``, ...) makes its row a
  ``RowError``; so does the same text typed into a cell. (python-calamine reads an
  error cell as empty: the sheet's XML is searched for them.)
- **Empty rows** (every cell empty or blank) are skipped.
- **Sheets.** Without ``sheet=``, the first *visible* worksheet whose first 20
  non-empty rows hold a header with every required field is read; if none has
  one, the first visible sheet, whose missing columns are then named. A hidden
  sheet is read only when named. Two visible sheets with the header are an
  ``InputError`` naming both: name one with ``sheet=``.
- **Hidden rows.** Rows hidden in the sheet (by hand, or filtered away) that hold
  data are refused by default, naming them; ``hidden_rows="skip"`` leaves them out
  (the log event ``input_hidden_rows_skipped`` names them) and
  ``hidden_rows="include"`` reads them like the others.
- **Incomplete files.** A CSV whose last line has no line end while the others
  have one is refused as probably cut while being written; Excel's lock files
  (``~$name.xlsx``) are refused; with ``stable_for_s`` (a scheduled run: the
  project's ``input_stable_s``) the file is read only once its size and
  modification time have not changed for that long.
- **Old ``.xls``** workbooks (Excel 97-2003) are refused with how to convert them:
  their formula errors could not be told from empty cells.
- **Memory**: the sheet is held in memory while it is read (about 80 MB for
  100,000 rows x 8 columns); the rows are validated one at a time.
- **CSV**: UTF-8 (with or without BOM), falling back to Windows-1252 with a warning
  in the log (``input_not_utf8``); the delimiter (``;``, ``,`` or tab) is sniffed,
  ``;`` when unclear. Row numbers are line numbers (the header is line 1). A line
  with more values than the header is a ``RowError``: an unquoted delimiter in a
  value (``8,4`` in a comma-separated file) has shifted its values. A quote that
  opens a value running on over lines that look like rows (a stray ``"``) is an
  ``InputError``: those rows would be lost inside it.
- **Long cells** are shown cut to 60 characters in messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from robotlib.reading import current as current_reading
from robotlib.robot import Row, RowError, Source
from robotlib.steps._excel_columns import Column, Fields, is_blank
from robotlib.steps._excel_dates import OtherOrder, order_checked, other_order_evidence
from robotlib.steps._excel_files import Table, open_table
from robotlib.steps._excel_options import HiddenRows, ReadOptions
from robotlib.steps._excel_values import CellError, day_first, is_date_type
from robotlib.validation import explain, failed_check, shown

__all__ = ["excel_source", "read_items", "read_rows"]

#: How many non-empty rows are looked at to find the header row.
HEADER_SEARCH_ROWS = 20

log = structlog.get_logger("robotlib.excel")

M = TypeVar("M", bound=BaseModel)


def read_rows(
    path: str | PathLike[str],
    *,
    model: type[BaseModel],
    sheet: str | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    header_row: int | None = None,
    locale: str | None = None,
    column_locales: Mapping[str, str] | None = None,
    hidden_rows: HiddenRows = "refuse",
    stable_for_s: float | None = None,
) -> Iterator[Row | RowError]:
    """Read the rows of a sheet (or CSV file) as validated items, one at a time.

    Nothing is read until the first row is asked for; file problems are raised
    then.

    Args:
        path: an ``.xlsx``/``.xlsm`` workbook, an ``.ods`` spreadsheet, or a
            ``.csv``/``.txt`` file.
        model: the item model each row is validated into.
        sheet: the sheet's name (default: the first sheet); ignored for CSV.
        aliases: field name → more headers that mean that field, e.g.
            ``{"cpr": ["CPR-nummer", "Personnummer"]}``.
        header_row: the header's row number (1 = first row); default: found.
        locale: how numbers and dates in text cells are written (a Babel locale,
            ``"da"``, ``"en_US"``); default: the project's ``locale`` (``da``).
        column_locales: field name → locale, for a column written otherwise than
            the rest (an instrument's decimal points in a Danish sheet).
        hidden_rows: rows hidden in Excel, or filtered away: ``"refuse"`` (the
            default: an ``InputError`` naming them), ``"skip"`` or ``"include"``.
        stable_for_s: read only once the file's size and modification time have
            not changed for this many seconds; default: the run's (a scheduled
            run waits the project's ``input_stable_s``, others not at all).

    Yields:
        ``Row(values=<model instance>, location=...)`` per good row, and
        ``RowError(location, message)`` per bad row, e.g.
        ``column 'Værdi': Input should be a valid number (value 'abc')``. The
        location is ``"lab_results.xlsx, sheet 'Resultater', row 12"``.

    Raises:
        InputError: the file is missing, not a workbook, an old .xls, encrypted
            or damaged; the sheet does not exist or is empty; a required field has
            no column, or a field has two.
        ConfigurationError: ``aliases`` names an unknown field, or makes one header
            match two fields.

    Example:
        >>> from pydantic import BaseModel
        >>> class LabResult(BaseModel):
        ...     cpr: str
        ...     value: float
        >>> rows = read_rows(
        ...     "lab_results.xlsx",
        ...     model=LabResult,
        ...     aliases={"cpr": ["CPR-nummer"], "value": ["Værdi"]},
        ... )
        >>> for row in rows:  # doctest: +SKIP
        ...     print(row)
    """
    path = Path(path)
    if header_row is not None and header_row < 1:
        raise ValueError(f"header_row is a row number from 1, not {header_row}")
    defaults = current_reading()
    options = ReadOptions(
        locale=locale or defaults.locale,
        column_locales=dict(column_locales or {}),
        time_zone=defaults.time_zone,
        hidden_rows=hidden_rows,
        stable_for_s=defaults.stable_for_s if stable_for_s is None else stable_for_s,
    )
    fields = Fields.of(model, aliases, options)
    with open_table(path, sheet, options, fields.matches) as table:
        yield from _read(table, fields, header_row, options)


def read_items(
    path: str | PathLike[str], *, model: type[M], **options: Any
) -> tuple[list[M], list[RowError]]:
    """Read a whole sheet: its good rows as ``model`` instances, and its bad rows.

    For a file a robot reads in a stage (an export it downloaded); a robot's input
    is read by its ``source``. The options are :func:`read_rows`'s.

    Example:
        >>> results, bad = read_items("export.xlsx", model=WorklistRow)
        ... # doctest: +SKIP
    """
    good: list[M] = []
    bad: list[RowError] = []
    for row in read_rows(path, model=model, **options):
        if isinstance(row, RowError):
            bad.append(row)
        elif isinstance(row.values, model):
            good.append(row.values)
    return good, bad


def excel_source(
    path: str | PathLike[str],
    *,
    model: type[BaseModel],
    sheet: str | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    header_row: int | None = None,
    locale: str | None = None,
    column_locales: Mapping[str, str] | None = None,
    hidden_rows: HiddenRows = "refuse",
    stable_for_s: float | None = None,
) -> Source:
    """Return a robot ``source`` that reads a sheet with :func:`read_rows`.

    It reads the file given to ``rpa run --input`` when there is one, else
    ``path``.

    Args:
        path: the default input file.
        model: the item model (normally the robot's ``item``).
        sheet: the sheet's name (default: the first sheet).
        aliases: field name → more headers that mean that field.
        header_row: the header's row number (default: found).
        locale, column_locales, hidden_rows, stable_for_s: as for
            :func:`read_rows`.

    Returns:
        ``source(input_path) -> rows`` for ``Robot(source=...)``.

    Example:
        >>> from pydantic import BaseModel
        >>> class LabResult(BaseModel):
        ...     cpr: str
        ...     value: float
        >>> source = excel_source(
        ...     "inputs/lab_results.xlsx",
        ...     model=LabResult,
        ...     sheet="Resultater",
        ...     aliases={"cpr": ["CPR-nummer"], "value": ["Værdi"]},
        ... )
        >>> # Robot(name="lab_results", item=LabResult, source=source, ...)
    """
    default = Path(path)

    def source(input_path: Path | None) -> Iterator[Row | RowError]:
        return read_rows(
            input_path if input_path is not None else default,
            model=model,
            sheet=sheet,
            aliases=aliases,
            header_row=header_row,
            locale=locale,
            column_locales=column_locales,
            hidden_rows=hidden_rows,
            stable_for_s=stable_for_s,
        )

    return source


# Private API -------------------------------------------------------------------------


def _read(
    table: Table, fields: Fields, header_row: int | None, options: ReadOptions
) -> Iterator[Row | RowError]:
    """Yield the rows below the header, converted by ``options`` and validated."""
    header_number, header, rest = _find_header(table, fields, header_row)
    columns = fields.columns(
        header,
        label=table.label,
        error=lambda message, **where: table.error(message, row=header_number, **where),
    )
    validate, place = fields.model.model_validate, table.place
    rows: Iterable[tuple[int, Sequence[Any]]] = chain(rest, table.rows)
    locales = {
        c.index: options.column_locales.get(c.field, options.locale)
        for c in columns
        if is_date_type(fields.model.model_fields[c.field].annotation)
    }
    orders = {index: day_first(locale) for index, locale in locales.items()}
    evidence: dict[int, OtherOrder] = {}
    if locales:  # a date's order can be proven by any row of its column
        rows = list(rows)
        evidence = other_order_evidence(rows, orders)
    plan = [
        (
            c.index,
            c.key,
            order_checked(
                c.convert,
                evidence[c.index],
                day_first=orders[c.index],
                locale=locales[c.index],
            )
            if c.index in evidence
            else c.convert,
        )
        for c in columns
    ]
    header_width = len(header)
    good = bad = 0
    for number, cells in rows:
        width = len(cells)
        if width > header_width and not table.positional:
            bad += 1
            yield RowError(f"{place}, row {number}", _shifted(width, header_width))
            continue
        data: dict[str, Any] = {}
        problems: list[str] | None = None
        for index, key, convert in plan:
            if index >= width:
                continue
            raw = cells[index]
            if raw is None:
                continue
            try:
                value = convert(raw)
            except CellError as exc:
                problems = problems or []
                problems.append(_cell_problem(columns, index, raw, exc))
                continue
            if value is not None:
                data[key] = value
        if not data and problems is None and is_blank(cells):
            continue
        location = f"{place}, row {number}"
        if problems is not None:
            bad += 1
            yield RowError(location, "; ".join(problems))
            continue
        try:
            item = validate(data)
        except ValidationError as exc:
            bad += 1
            headers = {column.key: column.header for column in columns}
            read = {c.key: cells[c.index] for c in columns if c.index < width}
            yield RowError(location, explain(exc, headers, read))
            continue
        except Exception as exc:  # a robot's validator raised
            bad += 1
            labels = {c.key: c.header for c in columns}
            yield RowError(location, failed_check(fields.model, data, exc, labels))
            continue
        good += 1
        yield Row(item, location)
    log.info("input_read", file=table.file, sheet=table.sheet, rows=good, invalid=bad)


def _shifted(width: int, header_width: int) -> str:
    return (
        f"the line has {width} values and the header {header_width}: a value "
        "probably holds an unquoted delimiter (a decimal comma in a comma-separated "
        "file?), which shifts the values after it into the wrong columns"
    )


def _cell_problem(columns: list[Column], index: int, raw: Any, exc: CellError) -> str:
    header = next(c.header for c in columns if c.index == index)
    if exc.formula is not None:
        return f"formula error {exc.formula} in column {header!r}"
    if exc.about_value:
        return f"column {header!r}: {shown(raw)} {exc.reason}"
    return f"column {header!r}: {exc.reason} ({shown(raw)})"


def _find_header(
    table: Table, fields: Fields, header_row: int | None
) -> tuple[int, Sequence[Any], list[tuple[int, Sequence[Any]]]]:
    """Return the header row's number and cells, and the rows read past it."""
    seen: list[tuple[int, Sequence[Any]]] = []
    candidates: list[int] = []  # positions in seen of non-empty rows
    for number, cells in table.rows:
        seen.append((number, cells))
        if header_row is not None:
            if number == header_row:
                if is_blank(cells):
                    raise table.error(
                        "the header row is empty; give the row the headers are on",
                        row=number,
                    )
                return number, cells, []
            continue
        if is_blank(cells):
            continue
        candidates.append(len(seen) - 1)
        if fields.matches(cells)[0] or len(candidates) == HEADER_SEARCH_ROWS:
            break
    if not candidates:
        if header_row is not None and seen:
            raise table.error(
                f"there is no header row {header_row}: the sheet ends at row "
                f"{seen[-1][0]}"
            )
        raise table.error("the sheet is empty: there is no header row")
    best = max(candidates, key=lambda at: (fields.matches(seen[at][1]), -at))
    if fields.matches(seen[best][1])[1] == 0:
        best = candidates[0]
    number, cells = seen[best]
    return number, cells, seen[best + 1 :]
