"""Registers lab results from the laboratory's spreadsheet in the EPJ.

For each row: find the patient by CPR number, open the lab result form, fill it in,
save, and read the registration back from the patient's page. An unknown patient or
a value the EPJ refuses is a business exception carrying the EPJ's own message; a
result the EPJ already holds is done without a second registration.

Run it against the sandbox:  rpa run lab_results --input robots/inputs/lab_results.xlsx
Check before a batch that it can log in and find its pages:  rpa preflight lab_results
"""

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from robotlib import Context, Cpr, Robot
from robotlib.fields import NotFuture
from robotlib.steps import browser
from robotlib.steps.excel import excel_source

from ._epj import EPJ, SYSTEM, check_test_patient, open_patient, saved_id

INPUT = Path(__file__).parent / "inputs" / "lab_results.xlsx"
SHEET = "the spreadsheet"
COLUMNS = ["Registration id", "Sampled at", "Test code", "Value", "Unit"]


class LabResult(BaseModel):
    """One row of the laboratory's spreadsheet."""

    cpr: Cpr = Field(alias="CPR-nummer")
    code: str = Field(alias="Analysekode", pattern=r"^NPU\d{5}$")
    value: float = Field(alias="Værdi")
    unit: str = Field(alias="Enhed")
    sampled_at: Annotated[datetime, NotFuture] = Field(alias="Prøvetidspunkt")
    comment: str = Field(default="", alias="Kommentar")

    def shown(self) -> dict[str, str]:
        """The result as the patient's page lists it (Danish decimal comma)."""
        value = f"{self.value:g}".replace(".", ",")
        row = {"Test code": self.code, "Value": value, "Unit": self.unit}
        return row | {"Sampled at": f"{self.sampled_at:%Y-%m-%d %H:%M}"}


def register_result(ctx: Context, item: LabResult) -> dict[str, Any]:
    """Find the patient, fill in the lab result form and save it."""
    session = open_patient(ctx, item.cpr, fix="check the spreadsheet")
    browser.click(session, "Register lab result")
    fields = item.shown() | {"Sampled at": item.sampled_at, "Comment": item.comment}
    browser.fill_form(session, fields)
    browser.click(session, "Save result")
    return {"registration_id": saved_id(session, "the result", "#registration-id")}


def already_registered(ctx: Context, item: LabResult) -> dict[str, Any] | None:
    """Precheck: the registration id if the patient's page shows this result."""
    session = open_patient(ctx, item.cpr, fix="check the spreadsheet")
    key = {"Test code": item.code, "Sampled at": item.shown()["Sampled at"]}
    row = browser.find_row(session, "#lab-results", key)
    return {"registration_id": int(row["Registration id"])} if row else None


def read_back(ctx: Context, item: LabResult, output: dict[str, Any]) -> None:
    """Verify: the patient's page shows the registration with the row's values."""
    session = open_patient(ctx, item.cpr, fix="check the spreadsheet")
    key = {"Registration id": str(output["registration_id"])}
    browser.expect_row(session, "#lab-results", key, item.shown(), against=SHEET)


robot = Robot(
    name="lab_results",
    item=LabResult,
    source=excel_source(INPUT, model=LabResult),
    reference=["cpr", "code", "sampled_at"],
    browser=EPJ,
    login=SYSTEM,
    process=register_result,
    precheck=already_registered,
    verify=read_back,
    preflight=[
        check_test_patient,
        browser.expect_page("the patient page", links=["Register lab result"]),
        browser.expect_columns("#lab-results", COLUMNS, where="the patient page"),
        browser.expect_page(
            "the lab result form",
            click="Register lab result",
            fields=["Test code", "Value", "Unit", "Sampled at", "Comment"],
            buttons=["Save result"],
        ),
    ],
    outputs=("registration_id",),
)
