"""The worklist: lab results by sample date and department, 50 a page, with exports."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from openpyxl import Workbook

from sandbox import store
from sandbox.catalog import DEPARTMENTS, LAB_CODES
from sandbox.web import DB, User, render

router = APIRouter()

PAGE_SIZE = 50
COLUMNS = (
    "Registration id",
    "Sampled at",
    "CPR",
    "Name",
    "Department",
    "Test code",
    "Test",
    "Value",
    "Unit",
    "Registered by",
)


@router.get("/worklist")
def worklist_page(
    request: Request,
    db: DB,
    user: User,
    date_from: str = "",
    date_to: str = "",
    department: str = "",
    page: int = 1,
) -> Response:
    """Show one page of the filtered worklist."""
    where, errors = _filter(date_from, date_to, department)
    total, rows = store.worklist(
        db, where, limit=PAGE_SIZE, offset=(max(page, 1) - 1) * PAGE_SIZE
    )
    pages = max(1, -(-total // PAGE_SIZE))
    query = {"date_from": date_from, "date_to": date_to, "department": department}
    return render(
        request,
        "worklist.html",
        {
            "rows": [_display(row) for row in rows],
            "columns": COLUMNS,
            "total": total,
            "page": max(page, 1),
            "pages": pages,
            "query": query,
            "departments": DEPARTMENTS,
            "errors": errors,
        },
        user=user,
        status_code=422 if errors else 200,
    )


@router.get("/worklist/export.xlsx")
def export_xlsx(
    db: DB, user: User, date_from: str = "", date_to: str = "", department: str = ""
) -> Response:
    """Download the whole filtered worklist as an Excel workbook."""
    where, _ = _filter(date_from, date_to, department)
    _, rows = store.worklist(db, where)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Worklist")
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(_values(row))
    out = io.BytesIO()
    book.save(out)
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="worklist.xlsx"'},
    )


@router.get("/worklist/export.csv")
def export_csv(
    db: DB, user: User, date_from: str = "", date_to: str = "", department: str = ""
) -> Response:
    """Download the filtered worklist as a Danish CSV: ``;``, decimal comma, BOM."""
    where, _ = _filter(date_from, date_to, department)
    _, rows = store.worklist(db, where)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_display(row))
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="worklist.csv"'},
    )


def _filter(
    date_from: str, date_to: str, department: str
) -> tuple[store.WorklistFilter, dict[str, str]]:
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name, text in (("date_from", date_from), ("date_to", date_to)):
        try:
            days[name] = date.fromisoformat(text) if text else None
        except ValueError:
            days[name] = None
            errors[name] = "Enter the date as YYYY-MM-DD."
    if department and department not in DEPARTMENTS:
        errors["department"] = "Choose a department."
        department = ""
    where = store.WorklistFilter(
        date_from=days["date_from"], date_to=days["date_to"], department=department
    )
    return where, errors


def _values(row: store.Row) -> list[Any]:
    return [
        row["id"],
        row["sampled_at"].replace("T", " "),
        row["cpr"],
        f"{row['first_name']} {row['last_name']}",
        row["department"],
        row["code"],
        LAB_CODES[row["code"]].name,
        row["value"],
        row["unit"],
        row["registered_by"],
    ]


def _display(row: store.Row) -> list[str]:
    """The row as shown on the page and in the CSV: Danish decimal comma."""
    values = _values(row)
    values[7] = f"{row['value']:g}".replace(".", ",")
    return [str(value) for value in values]
