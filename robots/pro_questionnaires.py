"""Registers patients' PRO questionnaire answers from the PRO system's CSV export.

For each row: find the patient by CPR number, open the questionnaire form, pick the
questionnaire, choose the answer (0-4) to each question, save, and read the answers
back from the patient's page. An unknown patient, a question left unanswered or a
questionnaire the EPJ does not have is a business exception carrying the EPJ's own
message; answers the EPJ already holds are done without a second registration.

The export is Danish: ``;`` separated, UTF-8 with BOM, dates as dd-mm-yyyy, columns
"CPR-nummer", "Skema", "Besvarelsesdato" and "Svar 1".."Svar 6" (blank beyond the
questionnaire's last question).

Run it against the sandbox:

    rpa run pro_questionnaires --input robots/inputs/pro_answers.csv

Check that it can still log in and find its pages:  rpa preflight pro_questionnaires
"""

from __future__ import annotations

import json
import re
from datetime import date
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

from robotlib import (
    BusinessRuleError,
    Context,
    RetryPolicy,
    Robot,
    Stage,
    TargetSystemError,
    step,
)
from robotlib.cpr import Cpr
from robotlib.steps import browser
from robotlib.steps.excel import excel_source

INPUT = Path(__file__).parent / "inputs" / "pro_answers.csv"


class ProAnswers(BaseModel):
    """One row of the export: one questionnaire a patient answered."""

    cpr: Cpr = Field(alias="CPR-nummer")
    questionnaire: str = Field(alias="Skema")
    answered_on: date = Field(alias="Besvarelsesdato")
    answer_1: int | None = Field(default=None, alias="Svar 1", ge=0, le=4)
    answer_2: int | None = Field(default=None, alias="Svar 2", ge=0, le=4)
    answer_3: int | None = Field(default=None, alias="Svar 3", ge=0, le=4)
    answer_4: int | None = Field(default=None, alias="Svar 4", ge=0, le=4)
    answer_5: int | None = Field(default=None, alias="Svar 5", ge=0, le=4)
    answer_6: int | None = Field(default=None, alias="Svar 6", ge=0, le=4)

    model_config = {"populate_by_name": True}

    @field_validator("answered_on")
    @classmethod
    def _not_in_future(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("the answer date is in the future")
        return value

    @property
    def answers(self) -> list[int | None]:
        """The answers to questions 1..N; blanks after the last answer dropped."""
        answers = [self.answer_1, self.answer_2, self.answer_3]
        answers += [self.answer_4, self.answer_5, self.answer_6]
        while answers and answers[-1] is None:
            answers.pop()
        return answers


def open_epj(ctx: Context) -> None:
    """Open a browser on the EPJ and log in as the robot user."""
    log_in(ctx)


def register_answers(ctx: Context, item: ProAnswers) -> dict[str, Any]:
    """Find the patient, pick the questionnaire, answer its questions and save."""
    session: browser.BrowserSession = ctx.state["browser"]
    page = session.page
    _open_patient(session, item.cpr)
    browser.click(session, "Register questionnaire")
    offered: list[str] = page.locator("#questionnaire-choice option").evaluate_all(
        "options => options.map(o => o.value).filter(Boolean)"
    )
    if item.questionnaire not in offered:
        raise BusinessRuleError(
            f"The EPJ has no questionnaire {item.questionnaire} (it has "
            f"{', '.join(offered)}): check the export",
            code="unknown_questionnaire",
        )
    browser.select(session, "Questionnaire type", item.questionnaire)
    browser.click(session, "Open questionnaire")
    browser.wait_for(session, selector="#pro-form")
    count = page.locator("#pro-form fieldset").count()
    if len(item.answers) > count:
        raise BusinessRuleError(
            f"{item.questionnaire} has {count} questions, but the export answers "
            f"{len(item.answers)}: check the export",
            code="too_many_answers",
        )
    answer_questions(session, item.answers)
    browser.fill_form(session, {"Answered on": item.answered_on})
    browser.click(session, "Save answers")
    duplicate = page.get_by_role("alert").filter(has_text="Already registered")
    if duplicate.count():
        return {"registration_id": _id_in(duplicate.first.inner_text())}
    errors: list[str] = page.locator(".field-error").evaluate_all(
        """errors => errors.map(e => {
             const legend = e.closest('fieldset')?.querySelector('legend');
             return (legend ? legend.innerText + ': ' : '') + e.innerText;
           })"""
    )
    if errors:
        raise BusinessRuleError("The EPJ refused the answers: " + "; ".join(errors))
    return {"registration_id": _id_in(browser.expect_text(session, "registered (id"))}


@step
def answer_questions(
    session: browser.BrowserSession, answers: list[int | None]
) -> None:
    """Choose the radio of each answer in its question's fieldset (#q1, #q2, ...)."""
    for number, answer in enumerate(answers, 1):
        if answer is not None:
            fieldset = session.page.locator(f"#q{number}")
            fieldset.get_by_role("radio", name=str(answer), exact=True).check()


def already_registered(ctx: Context, item: ProAnswers) -> dict[str, Any] | None:
    """Precheck: the registration id if the patient's page shows these answers."""
    session: browser.BrowserSession = ctx.state["browser"]
    _open_patient(session, item.cpr)
    for row in _questionnaires(session):
        if _shown(row) == _expected(item):
            return {"registration_id": int(row["Id"])}
    return None


def read_back(ctx: Context, item: ProAnswers, output: dict[str, Any]) -> None:
    """Verify: the patient's page shows the registration with the row's answers."""
    session: browser.BrowserSession = ctx.state["browser"]
    _open_patient(session, item.cpr)
    registration_id = output["registration_id"]
    rows = {row["Id"]: row for row in _questionnaires(session)}
    row = rows.get(str(registration_id))
    if row is None:
        raise BusinessRuleError(
            f"Questionnaire {registration_id} is not on the patient's page"
        )
    if _shown(row) != _expected(item):
        raise BusinessRuleError(
            f"The EPJ holds questionnaire {registration_id} with other answers "
            f"{_shown(row)} than the export {_expected(item)}: check which is right"
        )


def check_pages(ctx: Context) -> None:
    """Preflight: the search, the patient page and the questionnaire form are as used.

    Opens the test patient's form of the first questionnaire and leaves it unsaved.
    """
    session: browser.BrowserSession = ctx.state["browser"]
    check_patient_search(session)
    expect_elements(session, "the patient page", links=["Register questionnaire"])
    expect_columns(
        session,
        "the patient page",
        "#questionnaires",
        ["Id", "Answered on", "Questionnaire", "Answers"],
    )
    browser.click(session, "Register questionnaire")
    expect_elements(
        session,
        "the questionnaire page",
        fields=["Questionnaire type"],
        buttons=["Open questionnaire"],
    )
    offered: list[str] = session.page.locator(
        "#questionnaire-choice option"
    ).evaluate_all("options => options.map(o => o.value).filter(Boolean)")
    if not offered:
        raise TargetSystemError("the questionnaire page offers no questionnaire")
    browser.select(session, "Questionnaire type", offered[0])
    browser.click(session, "Open questionnaire")
    expect_elements(
        session,
        f"the form of {offered[0]}",
        fields=["Answered on"],
        buttons=["Save answers"],
        selectors=["#pro-form #q1 input[type=radio]"],
    )


def _open_patient(session: browser.BrowserSession, cpr: str) -> None:
    open_patient(session, cpr, fix="check the export")


def _questionnaires(session: browser.BrowserSession) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = browser.read_table(
        session, "#questionnaires", next_page=None
    )
    return rows


def _shown(row: dict[str, str]) -> tuple[str, str, list[int | None]]:
    return row["Questionnaire"], row["Answered on"], json.loads(row["Answers"])


def _expected(item: ProAnswers) -> tuple[str, str, list[int | None]]:
    return item.questionnaire, item.answered_on.isoformat(), item.answers


def _id_in(text: str) -> int:
    return int(re.findall(r"\(id (\d+)\)", text)[0])  # "... (id 12)."


robot = Robot(
    name="pro_questionnaires",
    description="Registers PRO questionnaire answers from the PRO export in the EPJ.",
    item=ProAnswers,
    source=excel_source(INPUT, model=ProAnswers),
    reference=["cpr", "questionnaire", "answered_on"],
    setup=open_epj,
    process=[Stage("register answers", register_answers)],
    precheck=already_registered,
    verify=read_back,
    preflight=check_pages,
    retry=RetryPolicy(attempts=3, backoff_s=(2, 10)),
    stop_after_system_errors=5,
    outputs=("registration_id",),
)
