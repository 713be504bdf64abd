"""Excel reports: formatted tables, charts and a summary sheet.

Tables get a bold, filled header row, fitted column widths, frozen panes, an
autofilter, Danish number formats (``dd-mm-yyyy``, ``0.00``) and conditional
highlighting. Excel cannot hold timezone-aware datetimes: they are written as naive
Europe/Copenhagen wall-clock time. Text that looks like a formula is stored as
text, never evaluated. openpyxl is imported only when a workbook is made. The
writer is :mod:`robotlib.workbooks`, which the engine's run report uses too.

Example:
    >>> workbook = new_workbook()
    >>> sheet = write_table(workbook, "Results", [{"Patient": "A", "Value": 7.4}])
    >>> add_chart(sheet, kind="bar", title="Values", categories_column="Patient",
    ...           value_columns=["Value"])
    >>> save(workbook, Path("results.xlsx"))
"""

from robotlib.workbooks import (
    Column,
    Highlight,
    add_chart,
    add_counts_chart,
    add_facts_chart,
    new_workbook,
    save,
    write_summary,
    write_table,
)

__all__ = [
    "Column",
    "Highlight",
    "add_chart",
    "add_counts_chart",
    "add_facts_chart",
    "new_workbook",
    "save",
    "write_summary",
    "write_table",
]
