"""Excel workbooks written for people: formatted tables, charts, a summary sheet.

The writer behind the robots' :mod:`robotlib.steps.reports` and the engine's run
report (``report.xlsx``). Tables get a bold, filled header row, fitted column
widths, frozen panes, an autofilter, Danish number formats and conditional
highlighting; times are written as display-time-zone wall-clock time (Excel holds
no zone); text that looks like a formula stays text. openpyxl is imported only when
a workbook is made.
"""

from robotlib.workbooks._cells import local_time
from robotlib.workbooks._tables import (
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
    "local_time",
    "new_workbook",
    "save",
    "write_summary",
    "write_table",
]
