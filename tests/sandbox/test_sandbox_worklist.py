"""The worklist: 50 a page, date and department filters, Excel and CSV exports."""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from sandbox.catalog import LAB_CODES
from sandbox.forms import local_now
from sandbox.routes.worklist import COLUMNS
from sandbox.testing import field_errors

PAGE_SIZE = 50


def _results(
    client: TestClient,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    department: str = "",
) -> list[dict[str, Any]]:
    """The lab results the filter should show, in worklist order, from the test API."""
    departments = {
        p["id"]: p["department"]
        for p in client.get("/api/patients", params={"limit": 10_000}).json()
    }
    results: list[dict[str, Any]] = [
        r
        for r in client.get("/api/lab-results").json()
        if (date_from is None or date_from.isoformat() <= r["sampled_at"][:10])
        and (date_to is None or r["sampled_at"][:10] <= date_to.isoformat())
        and (not department or departments[r["patient_id"]] == department)
    ]
    return sorted(results, key=lambda r: (r["sampled_at"], r["id"]))


def _rows(html: str) -> list[list[str]]:
    """The cells of each row of the worklist table."""
    start = html.index('<table id="worklist"')
    body = html[html.index("<tbody>", start) : html.index("</tbody>", start)]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[unescape(c) for c in re.findall(r"<td>(.*?)</td>", r)] for r in rows]


def _ids(html: str) -> list[int]:
    return [int(row[0]) for row in _rows(html)]


def _summary(html: str) -> str:
    match = re.search(r'<p id="worklist-summary">([^<]*)</p>', html)
    assert match is not None
    return match[1]


def _link(html: str, rel: str) -> str | None:
    match = re.search(rf'<a rel="{rel}" href="([^"]*)"', html)
    return unescape(match[1]) if match else None


def _window() -> tuple[date, date]:
    """A date range inside the seeded 60 days of history."""
    today = local_now().date()
    return today - timedelta(days=30), today - timedelta(days=20)


def test_first_page_has_50_rows(client: TestClient) -> None:
    """The first page shows the first 50 results and "Page 1 of N (total results)"."""
    expected = _results(client)
    response = client.get("/worklist")
    assert 200 == response.status_code
    pages = math.ceil(len(expected) / PAGE_SIZE)
    assert pages > 2
    assert f"Page 1 of {pages} ({len(expected)} results)" == _summary(response.text)
    assert [r["id"] for r in expected[:PAGE_SIZE]] == _ids(response.text)


def test_rows_show_every_column(client: TestClient) -> None:
    """Each row shows id, time, CPR, name, department, test, value and user."""
    first = _results(client)[0]
    patient = next(
        p
        for p in client.get("/api/patients", params={"limit": 10_000}).json()
        if p["id"] == first["patient_id"]
    )
    html = client.get("/worklist").text
    expected = [
        str(first["id"]),
        first["sampled_at"].replace("T", " "),
        patient["cpr"],
        f"{patient['first_name']} {patient['last_name']}",
        patient["department"],
        first["code"],
        LAB_CODES[first["code"]].name,
        f"{first['value']:g}".replace(".", ","),
        first["unit"],
        "lab-import",
    ]
    assert expected == _rows(html)[0]
    assert list(COLUMNS) == re.findall(r"<th>([^<]*)</th>", html)


def test_first_page_links_only_to_the_next(client: TestClient) -> None:
    """The first page has a Next link to page 2 and no Previous link."""
    html = client.get("/worklist").text
    assert "/worklist?date_from=&date_to=&department=&page=2" == _link(html, "next")
    assert _link(html, "prev") is None


def test_next_and_previous_links_walk_the_pages(client: TestClient) -> None:
    """Following Next shows the next 50 results; Previous goes back to page 1."""
    expected = _results(client)
    pages = math.ceil(len(expected) / PAGE_SIZE)
    first = client.get("/worklist").text
    next_url = _link(first, "next")
    assert next_url is not None
    second = client.get(next_url).text
    assert f"Page 2 of {pages} ({len(expected)} results)" == _summary(second)
    assert [r["id"] for r in expected[PAGE_SIZE : 2 * PAGE_SIZE]] == _ids(second)
    previous_url = _link(second, "prev")
    assert previous_url is not None
    assert _ids(first) == _ids(client.get(previous_url).text)


def test_last_page_has_the_rest_and_no_next(client: TestClient) -> None:
    """The last page shows the remaining results and has no Next link."""
    expected = _results(client)
    pages = math.ceil(len(expected) / PAGE_SIZE)
    html = client.get("/worklist", params={"page": pages}).text
    assert [r["id"] for r in expected[(pages - 1) * PAGE_SIZE :]] == _ids(html)
    assert _link(html, "next") is None
    assert _link(html, "prev") is not None


def test_every_result_is_on_exactly_one_page(client: TestClient) -> None:
    """Walking all pages shows every result once, in worklist order."""
    expected = [r["id"] for r in _results(client)]
    shown: list[int] = []
    url: str | None = "/worklist"
    while url is not None:
        html = client.get(url).text
        shown += _ids(html)
        url = _link(html, "next")
    assert expected == shown


def test_page_below_one_shows_page_one(client: TestClient) -> None:
    """A page number below 1 shows the first page."""
    html = client.get("/worklist", params={"page": 0}).text
    assert _summary(html).startswith("Page 1 of ")
    assert _ids(client.get("/worklist").text) == _ids(html)


def test_date_range_filters_the_results(client: TestClient) -> None:
    """A date range shows only results sampled on those days, both days included."""
    date_from, date_to = _window()
    expected = _results(client, date_from=date_from, date_to=date_to)
    everything = _results(client)
    assert 0 < len(expected) < len(everything)
    html = client.get(
        "/worklist",
        params={"date_from": date_from.isoformat(), "date_to": date_to.isoformat()},
    ).text
    pages = max(1, math.ceil(len(expected) / PAGE_SIZE))
    assert f"Page 1 of {pages} ({len(expected)} results)" == _summary(html)
    assert [r["id"] for r in expected[:PAGE_SIZE]] == _ids(html)


def test_single_day_includes_the_whole_day(client: TestClient) -> None:
    """From and to the same day shows every result sampled that day."""
    day = date.fromisoformat(_results(client)[-1]["sampled_at"][:10])
    expected = _results(client, date_from=day, date_to=day)
    html = client.get(
        "/worklist", params={"date_from": day.isoformat(), "date_to": day.isoformat()}
    ).text
    assert [r["id"] for r in expected] == _ids(html)


@pytest.mark.parametrize("department", ["MED", "KIR", "AKM", "KAR", "ORT"])
def test_department_filter_reduces_the_results(
    client: TestClient, department: str
) -> None:
    """A department shows only results of that department's patients."""
    expected = _results(client, department=department)
    assert 0 < len(expected) < len(_results(client))
    html = client.get("/worklist", params={"department": department}).text
    assert f"({len(expected)} results)" in _summary(html)
    assert [r["id"] for r in expected[:PAGE_SIZE]] == _ids(html)
    assert {department} == {row[4] for row in _rows(html)}


def test_date_and_department_filters_combine(client: TestClient) -> None:
    """Date range and department together show results meeting both."""
    date_from, date_to = _window()
    expected = _results(client, date_from=date_from, date_to=date_to, department="MED")
    html = client.get(
        "/worklist",
        params={
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "department": "MED",
        },
    ).text
    assert [r["id"] for r in expected[:PAGE_SIZE]] == _ids(html)


def test_filters_are_kept_in_the_page_links(client: TestClient) -> None:
    """The Next link and the export links carry the filters."""
    html = client.get("/worklist", params={"date_from": "2020-01-01"}).text
    expected = "/worklist?date_from=2020-01-01&date_to=&department=&page=2"
    assert expected == _link(html, "next")
    exports = "?date_from=2020-01-01&amp;date_to=&amp;department="
    assert f'href="/worklist/export.xlsx{exports}"' in html
    assert f'href="/worklist/export.csv{exports}"' in html


def test_empty_result_says_so(client: TestClient) -> None:
    """A range without results shows "No results." and "Page 1 of 1"."""
    html = client.get(
        "/worklist", params={"date_from": "2000-01-01", "date_to": "2000-01-31"}
    ).text
    assert "Page 1 of 1 (0 results)" == _summary(html)
    assert "No results." in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"date_from": "22-11-2026"}, {"date_from": "Enter the date as YYYY-MM-DD."}),
        ({"date_to": "2026-02-30"}, {"date_to": "Enter the date as YYYY-MM-DD."}),
        (
            {"date_from": "x", "date_to": "y"},
            {
                "date_from": "Enter the date as YYYY-MM-DD.",
                "date_to": "Enter the date as YYYY-MM-DD.",
            },
        ),
        ({"department": "XYZ"}, {"department": "Choose a department."}),
    ],
)
def test_invalid_filter_is_refused(
    client: TestClient, params: dict[str, str], expected: dict[str, str]
) -> None:
    """An invalid date or department answers 422 with the message beside it."""
    response = client.get("/worklist", params=params)
    assert 422 == response.status_code
    assert expected == field_errors(response.text)


def test_xlsx_export_has_header_and_all_filtered_rows(client: TestClient) -> None:
    """The Excel export opens and has the header and every filtered result."""
    date_from, date_to = _window()
    expected = _results(client, date_from=date_from, date_to=date_to, department="MED")
    response = client.get(
        "/worklist/export.xlsx",
        params={
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "department": "MED",
        },
    )
    assert 200 == response.status_code
    assert "attachment" in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert tuple(COLUMNS) == rows[0]
    assert [r["id"] for r in expected] == [row[0] for row in rows[1:]]
    assert [r["value"] for r in expected] == [row[7] for row in rows[1:]]
    assert {"MED"} == {row[4] for row in rows[1:]}


def test_xlsx_export_without_filter_has_every_result(client: TestClient) -> None:
    """The unfiltered Excel export has every result, not just one page."""
    expected = _results(client)
    response = client.get("/worklist/export.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert len(expected) + 1 == sheet.max_row


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def test_csv_export_is_danish(client: TestClient) -> None:
    """The CSV starts with a UTF-8 BOM, uses ";" and writes values with a comma."""
    response = client.get("/worklist/export.csv")
    assert 200 == response.status_code
    assert "text/csv; charset=utf-8" == response.headers["content-type"]
    assert b"\xef\xbb\xbf" == response.content[:3]
    first_line = response.content[3:].split(b"\r\n")[0].decode()
    assert ";".join(COLUMNS) == first_line
    values = [row[7] for row in _csv_rows(response.content)[1:]]
    assert [] == [value for value in values if "." in value]
    assert any("," in value for value in values)


def test_csv_export_has_all_filtered_rows(client: TestClient) -> None:
    """The CSV has the header and one row per filtered result, values intact."""
    date_from, date_to = _window()
    expected = _results(client, date_from=date_from, date_to=date_to, department="KIR")
    response = client.get(
        "/worklist/export.csv",
        params={
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "department": "KIR",
        },
    )
    rows = _csv_rows(response.content)
    assert list(COLUMNS) == rows[0]
    assert [str(r["id"]) for r in expected] == [row[0] for row in rows[1:]]
    assert [r["value"] for r in expected] == [
        float(row[7].replace(",", ".")) for row in rows[1:]
    ]


def test_registered_result_shows_with_a_decimal_comma(client: TestClient) -> None:
    """A newly registered 7.5 appears in the worklist and CSV as 7,5."""
    sampled = (local_now() - timedelta(days=1)).replace(hour=8, minute=7)
    client.post(
        "/patients/1/lab-results",
        data={
            "code": "NPU02319",
            "value": "7.5",
            "unit": "mmol/L",
            "sampled_at": sampled.strftime("%Y-%m-%dT%H:%M"),
        },
        follow_redirects=False,
    )
    day = sampled.date().isoformat()
    page = client.get("/worklist", params={"date_from": day, "date_to": day}).text
    on_page = [row[7] for row in _rows(page) if row[9] == "robot"]
    exported = client.get("/worklist/export.csv").content
    in_csv = [row[7] for row in _csv_rows(exported)[1:] if row[9] == "robot"]
    assert (["7,5"], ["7,5"]) == (on_page, in_csv)
