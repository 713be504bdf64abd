"""Registers patients' PRO questionnaire answers from the PRO system's CSV export.

For each row: find the patient, open the questionnaire's form, choose the answer
(0-4) to each question, save, and read the answers back from the patient's page.
The export is Danish: ``;``-separated, UTF-8 with BOM, columns "CPR-nummer",
"Skema", "Besvarelsesdato", "Svar 1".."Svar 6".

Run it:  rpa run pro_questionnaires --input robots/inputs/pro_answers.csv
"""

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from robotlib import BusinessRuleError, Context, Cpr, Robot, TargetSystemError, step
from robotlib.fields import NotFuture
from robotlib.steps import browser
from robotlib.steps.excel import excel_source

from ._epj import EPJ, SYSTEM, check_test_patient, open_patient, saved_id

INPUT = Path(__file__).parent / "inputs" / "pro_answers.csv"
SOURCE = "the export"
FIX = f"check {SOURCE}"
CHOICE = "#questionnaire-choice"  # the list of questionnaires
Answer = Annotated[int | None, Field(ge=0, le=4)]


class ProAnswers(BaseModel):
    """One row of the export: one questionnaire a patient answered."""

    cpr: Cpr = Field(alias="CPR-nummer")
    questionnaire: str = Field(alias="Skema")
    answered_on: Annotated[date, NotFuture] = Field(alias="Besvarelsesdato")
    answer_1: Answer = Field(None, alias="Svar 1")
    answer_2: Answer = Field(None, alias="Svar 2")
    answer_3: Answer = Field(None, alias="Svar 3")
    answer_4: Answer = Field(None, alias="Svar 4")
    answer_5: Answer = Field(None, alias="Svar 5")
    answer_6: Answer = Field(None, alias="Svar 6")

    @property
    def answers(self) -> list[int | None]:
        """The answers to questions 1..N; blanks after the last answer dropped."""
        answers = [getattr(self, f"answer_{number}") for number in range(1, 7)]
        while answers and answers[-1] is None:
            answers.pop()
        return answers

    def shown(self) -> dict[str, str]:
        """The answers as the patient's page lists them."""
        answered = {"Answered on": self.answered_on.isoformat()}
        answers = {"Answers": json.dumps(self.answers)}
        return {"Questionnaire": self.questionnaire} | answers | answered


def register_answers(ctx: Context, item: ProAnswers) -> dict[str, Any]:
    """Find the patient, pick the questionnaire, answer its questions and save."""
    session = open_patient(ctx, item.cpr, fix=FIX)
    browser.click(session, "Register questionnaire")
    browser.expect_option(
        session, CHOICE, item.questionnaire, what="questionnaire", fix=FIX
    )
    questions = open_form(session, item.questionnaire)
    if len(item.answers) > questions:
        raise BusinessRuleError(
            f"{item.questionnaire} has {questions} questions, but the export answers "
            f"{len(item.answers)}: {FIX}",
            code="too_many_answers",
        )
    answer_questions(session, item.answers)
    browser.fill_form(session, {"Answered on": item.answered_on})
    browser.click(session, "Save answers")
    saved = saved_id(session, "the answers", "p.notice[role=status]")
    return {"registration_id": saved}


def open_form(session: browser.BrowserSession, questionnaire: str) -> int:
    """Open the questionnaire's form; return how many questions it has."""
    browser.select(session, "Questionnaire type", questionnaire)
    browser.click(session, "Open questionnaire")
    browser.wait_for(session, selector="#pro-form")
    return session.page.locator("#pro-form fieldset").count()


@step
def answer_questions(session: browser.BrowserSession, answers: list[Any]) -> None:
    """Choose the radio of each answer in its question's fieldset (#q1, #q2, ...)."""
    for number, answer in enumerate(answers, 1):
        if answer is not None:
            question = session.page.locator(f"#q{number}")
            question.get_by_role("radio", name=str(answer), exact=True).check()


def already_registered(ctx: Context, item: ProAnswers) -> dict[str, Any] | None:
    """Precheck: the registration id if the patient's page shows these answers."""
    session = open_patient(ctx, item.cpr, fix=FIX)
    row = browser.find_row(session, "#questionnaires", item.shown())
    return {"registration_id": int(row["Id"])} if row else None


def read_back(ctx: Context, item: ProAnswers, output: dict[str, Any]) -> None:
    """Verify: the patient's page shows the registration with the row's answers."""
    session = open_patient(ctx, item.cpr, fix=FIX)
    key = {"Id": str(output["registration_id"])}
    browser.expect_row(session, "#questionnaires", key, item.shown(), against=SOURCE)


def check_form(ctx: Context) -> None:
    """Preflight: the first questionnaire's form has what the robot uses (unsaved)."""
    session = browser.session(ctx)
    if not (offered := list(browser.options(session, CHOICE))):
        raise TargetSystemError("the questionnaire page offers no questionnaire")
    open_form(session, offered[0])
    radios = "#pro-form #q1 input[type=radio]"
    browser.expect_elements(
        session,
        f"the form of {offered[0]}",
        fields=["Answered on"],
        buttons=["Save answers"],
        selectors=[radios],
    )


robot = Robot(
    name="pro_questionnaires",
    item=ProAnswers,
    source=excel_source(INPUT, model=ProAnswers),
    reference=["cpr", "questionnaire", "answered_on"],
    browser=EPJ,
    login=SYSTEM,
    process=register_answers,
    precheck=already_registered,
    verify=read_back,
    preflight=[
        check_test_patient,
        browser.expect_columns(
            "#questionnaires",
            ["Id", "Answered on", "Questionnaire", "Answers"],
            where="the patient page",
        ),
        browser.expect_page(
            "the questionnaire page",
            click="Register questionnaire",
            fields=["Questionnaire type"],
            buttons=["Open questionnaire"],
        ),
        check_form,
    ],
    outputs=("registration_id",),
)
