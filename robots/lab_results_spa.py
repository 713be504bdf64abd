"""Registers lab results from the laboratory's spreadsheet in the EPJ's web client.

The same spreadsheet, rules and checks as lab_results, through the EPJ as a
single-page application (the sandbox's /spa): the search's hits and the saved id
come from the server's answers, not from a list that may still show the previous
search; the form is filled once the client has rendered it with its defaults, and
every field is read back before the save; the client's dialogs are the EPJ's own
words.

Run it:  rpa run lab_results_spa --input robots/inputs/lab_results.xlsx
"""

from typing import Any

from robotlib import BusinessRuleError, Context, Robot, TargetSystemError
from robotlib.steps import browser
from robotlib.steps.excel import excel_source

from ._epj import SYSTEM, TEST_PATIENT
from .lab_results import COLUMNS, INPUT, SHEET, LabResult

FIX = "check the spreadsheet"
CLIENT = browser.BrowserOptions(
    name="the EPJ",
    application=True,
    busy="#busy",
    dialogs=browser.AppDialogs(),
    login_path="/spa",
    mask=("#cpr", "#patient-cpr", "#hits"),
)


def open_patient(ctx: Context, cpr: str) -> browser.BrowserSession:
    """Search the patient by CPR number and open their lab results."""
    session = browser.session(ctx)
    browser.goto(session, "/spa")
    browser.fill_form(session, {"CPR number": cpr})
    found = browser.click_for_response(session, "Search", url="/spa/api/patients")
    browser.check_dialogs(session)
    if found.status != 200:
        raise TargetSystemError(f"the EPJ answered the search with HTTP {found.status}")
    if not found.json["hits"]:
        raise BusinessRuleError(
            f"No patient with CPR number {cpr} in the EPJ: {FIX}",
            code="unknown_patient",
        )
    patient = found.json["patients"][0]["id"]
    browser.click(session, f"#hits a[href='#/patients/{patient}']")
    return session


def register_result(ctx: Context, item: LabResult) -> dict[str, Any]:
    """Open the patient's form, fill it in once it has settled, save it."""
    session = open_patient(ctx, item.cpr)
    browser.click(session, "Register lab result")
    if not (codes := browser.options(session, "#code").values()):
        raise TargetSystemError("the lab form's Test code list is empty (not loaded)")
    if (
        code := next((c for c in codes if c.startswith(f"{item.code} ")), None)
    ) is None:
        raise BusinessRuleError(f"The EPJ offers no test code {item.code}: {FIX}")
    fields = item.shown() | {"Test code": code, "Sampled at": item.sampled_at}
    browser.fill_form(session, fields | {"Comment": item.comment})
    saved = browser.click_for_response(
        session, "Save result", url="/lab-results", method="POST"
    )
    if saved.status == 409:  # the EPJ holds it already: that registration is ours
        browser.click(session, "OK")
        return {"registration_id": saved.json["duplicate_id"]}
    browser.check_dialogs(session)  # a refusal in the EPJ's words, or its error
    if saved.status != 201:
        raise TargetSystemError(f"the EPJ answered the save with HTTP {saved.status}")
    return {"registration_id": saved.json["id"]}


def already_registered(ctx: Context, item: LabResult) -> dict[str, Any] | None:
    """Precheck: the registration id if the patient's results list this result."""
    session = open_patient(ctx, item.cpr)
    key = {"Test code": item.code, "Sampled at": item.shown()["Sampled at"]}
    row = browser.find_row(session, "#lab-results", key)
    return {"registration_id": int(row["Registration id"])} if row else None


def read_back(ctx: Context, item: LabResult, output: dict[str, Any]) -> None:
    """Verify: the patient's results show the registration with the row's values."""
    session = open_patient(ctx, item.cpr)
    key = {"Registration id": str(output["registration_id"])}
    browser.expect_row(session, "#lab-results", key, item.shown(), against=SHEET)


def check_client(ctx: Context) -> None:
    """Preflight: the test patient opens, with the results and form the robot uses."""
    open_patient(ctx, TEST_PATIENT)
    browser.expect_columns("#lab-results", COLUMNS, where="the patient's results")(ctx)
    browser.expect_page(
        "the lab result form",
        click="Register lab result",
        fields=["Test code", "Value", "Unit", "Sampled at", "Comment"],
        buttons=["Save result"],
    )(ctx)


robot = Robot(
    name="lab_results_spa",
    item=LabResult,
    source=excel_source(INPUT, model=LabResult),
    reference=["cpr", "code", "sampled_at"],
    browser=CLIENT,
    login=SYSTEM,
    process=register_result,
    precheck=already_registered,
    verify=read_back,
    preflight=[check_client],
    outputs=("registration_id",),
)
