"""Registers lab results from the laboratory's spreadsheet in the EPJ.

For each row: find the patient by CPR number, open the lab result form, fill it in,
save, and read the registration back from the patient's page. An unknown patient or
a value the EPJ refuses is a business exception carrying the EPJ's own message; a
result the EPJ already holds is done without a second registration.

Run it against the sandbox:  rpa run lab_results --input robots/inputs/lab_results.xlsx
Check before a batch that it can log in and find its pages:  rpa preflight lab_results
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from _epj import (
    check_patient_search,
    expect_columns,
    expect_elements,
    log_in,
    open_patient,
)
from pydantic import BaseModel, Field, field_validator

from robotlib import BusinessRuleError, Context, RetryPolicy, Robot, Stage
from robotlib.cpr import Cpr
from robotlib.steps import browser
from robotlib.steps.excel import excel_source

INPUT = Path(__file__).parent / "inputs" / "lab_results.xlsx"


class LabResult(BaseModel):
    """One row of the laboratory's spreadsheet."""

    cpr: Cpr = Field(alias="CPR-nummer")
    code: str = Field(alias="Analysekode", pattern=r"^NPU\d{5}$")
    value: float = Field(alias="Værdi")
    unit: str = Field(alias="Enhed")
    sampled_at: datetime = Field(alias="Prøvetidspunkt")
    comment: str = Field(default="", alias="Kommentar")

    model_config = {"populate_by_name": True}

    @field_validator("sampled_at")
    @classmethod
    def _not_in_future(cls, value: datetime) -> datetime:
        # An aware time (with its UTC offset) against an aware now, a naive one
        # against the local wall clock: comparing the two kinds would raise.
        now = datetime.now(value.tzinfo) if value.tzinfo else datetime.now()
        if value > now:
            raise ValueError("the sample time is in the future")
        return value.replace(second=0, microsecond=0)

    @property
    def value_text(self) -> str:
        """The value as the EPJ shows it: Danish decimal comma."""
        return f"{self.value:g}".replace(".", ",")


def open_epj(ctx: Context) -> None:
    """Open a browser on the EPJ and log in as the robot user."""
    log_in(ctx)


def register_result(ctx: Context, item: LabResult) -> dict[str, Any]:
    """Find the patient, fill in the lab result form and save it."""
    session: browser.BrowserSession = ctx.state["browser"]
    _open_patient(session, item.cpr)
    browser.click(session, "Register lab result")
    browser.fill_form(
        session,
        {
            "Test code": item.code,
            "Value": item.value_text,
            "Unit": item.unit,
            "Sampled at": item.sampled_at,
            "Comment": item.comment,
        },
    )
    browser.click(session, "Save result")
    page = session.page
    duplicate = page.get_by_role("alert").filter(has_text="Already registered")
    if duplicate.count():
        found = re.search(r"id (\d+)", duplicate.first.inner_text())
        return {"registration_id": int(found.group(1)) if found else None}
    errors = page.locator(".field-error")
    if errors.count():
        raise BusinessRuleError(
            "The EPJ refused the result: " + "; ".join(errors.all_inner_texts())
        )
    registration_id = page.locator("#registration-id").inner_text()
    return {"registration_id": int(registration_id)}


def already_registered(ctx: Context, item: LabResult) -> dict[str, Any] | None:
    """Precheck: the registration id if the patient's page shows this result."""
    session: browser.BrowserSession = ctx.state["browser"]
    _open_patient(session, item.cpr)
    for row in _lab_results(session):
        if row["Test code"] == item.code and row["Sampled at"] == _shown(item):
            return {"registration_id": int(row["Registration id"])}
    return None


def read_back(ctx: Context, item: LabResult, output: dict[str, Any]) -> None:
    """Verify: the patient's page shows the registration with the row's values."""
    session: browser.BrowserSession = ctx.state["browser"]
    _open_patient(session, item.cpr)
    rows = {row["Registration id"]: row for row in _lab_results(session)}
    row = rows.get(str(output["registration_id"]))
    if row is None:
        raise BusinessRuleError(
            f"Registration {output['registration_id']} is not on the patient's page"
        )
    shown = (row["Test code"], row["Value"], row["Unit"], row["Sampled at"])
    expected = (item.code, item.value_text, item.unit, _shown(item))
    if shown != expected:
        raise BusinessRuleError(
            f"The EPJ holds registration {output['registration_id']} with other "
            f"values {shown} than the spreadsheet {expected}: check which is right"
        )


def check_pages(ctx: Context) -> None:
    """Preflight: the search, the patient page and the lab form have what we use.

    Opens the test patient's lab result form and leaves it unsaved.
    """
    session: browser.BrowserSession = ctx.state["browser"]
    check_patient_search(session)
    expect_elements(session, "the patient page", links=["Register lab result"])
    expect_columns(
        session,
        "the patient page",
        "#lab-results",
        ["Registration id", "Sampled at", "Test code", "Value", "Unit"],
    )
    browser.click(session, "Register lab result")
    expect_elements(
        session,
        "the lab result form",
        fields=["Test code", "Value", "Unit", "Sampled at", "Comment"],
        buttons=["Save result"],
    )


def _open_patient(session: browser.BrowserSession, cpr: str) -> None:
    open_patient(session, cpr, fix="check the spreadsheet")


def _lab_results(session: browser.BrowserSession) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = browser.read_table(
        session, "#lab-results", next_page=None
    )
    return rows


def _shown(item: LabResult) -> str:
    return item.sampled_at.strftime("%Y-%m-%d %H:%M")


robot = Robot(
    name="lab_results",
    description="Registers lab results from the laboratory's spreadsheet in the EPJ.",
    item=LabResult,
    source=excel_source(INPUT, model=LabResult),
    reference=["cpr", "code", "sampled_at"],
    setup=open_epj,
    process=[Stage("register result", register_result)],
    precheck=already_registered,
    verify=read_back,
    preflight=check_pages,
    retry=RetryPolicy(attempts=3, backoff_s=(2, 10)),
    stop_after_system_errors=5,
    outputs=("registration_id",),
)
