"""Registration of PRO questionnaire answers: picker, validation and duplicates."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from sandbox.catalog import QUESTIONNAIRES
from sandbox.forms import local_now
from sandbox.testing import field_errors

PATIENT = 1
URL = f"/patients/{PATIENT}/questionnaires"
ANSWER = "Answer with 0, 1, 2, 3 or 4."


def _yesterday() -> str:
    return (local_now().date() - timedelta(days=1)).isoformat()


def _form(questionnaire: str = "PRO-SMERTE", **changes: str) -> dict[str, str]:
    questions = QUESTIONNAIRES[questionnaire].questions
    form = {"questionnaire": questionnaire, "answered_on": _yesterday()}
    form.update({f"q{n}": str(n % 5) for n in range(1, len(questions) + 1)})
    form.update(changes)
    return form


def _post(client: TestClient, form: dict[str, str]) -> httpx.Response:
    return client.post(URL, data=form, follow_redirects=False)


def _stored(client: TestClient) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = client.get(
        "/api/questionnaires", params={"registered_by": "robot"}
    ).json()
    return answers


def test_picker_lists_every_questionnaire(client: TestClient) -> None:
    """The picker offers each questionnaire and shows no questions yet."""
    response = client.get(f"{URL}/new")
    assert 200 == response.status_code
    offered = re.findall(r'<option value="(PRO-[A-Z]+)"', response.text)
    assert list(QUESTIONNAIRES) == offered
    assert 'id="pro-form"' not in response.text


@pytest.mark.parametrize("code", list(QUESTIONNAIRES))
def test_picked_questionnaire_shows_its_questions(
    client: TestClient, code: str
) -> None:
    """Picking a questionnaire shows each of its questions with answers 0 to 4."""
    response = client.get(f"{URL}/new", params={"questionnaire": code})
    questionnaire = QUESTIONNAIRES[code]
    assert 'id="pro-form"' in response.text
    legends = re.findall(r"<legend>\d+\. ([^<]*)</legend>", unescape(response.text))
    assert list(questionnaire.questions) == legends
    radios = re.findall(r'type="radio" name="q1" value="(\d)"', response.text)
    assert ["0", "1", "2", "3", "4"] == radios


def test_picker_ignores_an_unknown_questionnaire(client: TestClient) -> None:
    """Asking for an unknown questionnaire shows the picker without questions."""
    response = client.get(f"{URL}/new", params={"questionnaire": "PRO-UKENDT"})
    assert 200 == response.status_code
    assert 'id="pro-form"' not in response.text


def test_registration_redirects_to_the_patient(client: TestClient) -> None:
    """Valid answers answer 303 to the patient page, which confirms the id."""
    response = _post(client, _form())
    assert 303 == response.status_code
    [stored] = _stored(client)
    expected = f"/patients/{PATIENT}?registered=questionnaire&id={stored['id']}"
    assert expected == response.headers["location"]
    page = client.get(response.headers["location"])
    assert f"Questionnaire registered (id {stored['id']})." in page.text


@pytest.mark.parametrize("code", list(QUESTIONNAIRES))
def test_registration_is_stored(client: TestClient, code: str) -> None:
    """The answers are stored in question order with the date and the user."""
    form = _form(code)
    _post(client, form)
    [stored] = _stored(client)
    count = len(QUESTIONNAIRES[code].questions)
    expected = {
        "patient_id": PATIENT,
        "questionnaire": code,
        "answered_on": form["answered_on"],
        "answers": [n % 5 for n in range(1, count + 1)],
        "registered_by": "robot",
    }
    actual = {key: stored[key] for key in expected if key != "answers"}
    actual["answers"] = json.loads(stored["answers"])
    assert expected == actual


def test_today_is_accepted(client: TestClient) -> None:
    """Answers dated today are accepted."""
    response = _post(client, _form(answered_on=local_now().date().isoformat()))
    assert 303 == response.status_code


@pytest.mark.parametrize("answer", ["5", "-1", "x", "", "1.0", "44"])
def test_answer_out_of_range_is_refused(client: TestClient, answer: str) -> None:
    """An answer that is not 0 to 4 answers 422 with the message beside it."""
    response = _post(client, _form(q3=answer))
    assert 422 == response.status_code
    assert {"q3": ANSWER} == field_errors(response.text)
    assert [] == _stored(client)


def test_missing_answer_is_refused(client: TestClient) -> None:
    """A question left unanswered answers 422 with the message beside it."""
    form = _form()
    del form["q5"]
    response = _post(client, form)
    assert 422 == response.status_code
    assert {"q5": ANSWER} == field_errors(response.text)
    assert 'aria-invalid="true" aria-describedby="q5-error"' in response.text
    assert [] == _stored(client)


def test_all_answers_missing_are_each_marked(client: TestClient) -> None:
    """With no answers at all, every question is marked."""
    form = {"questionnaire": "PRO-FUNKTION", "answered_on": _yesterday()}
    response = _post(client, form)
    expected = {f"q{n}": ANSWER for n in range(1, 7)}
    assert expected == field_errors(response.text)


def test_refused_form_keeps_the_answers(client: TestClient) -> None:
    """A refused form keeps the answers already given checked."""
    response = _post(client, _form(q1="4", q2="9"))
    assert 'name="q1" value="4" checked' in response.text


@pytest.mark.parametrize(
    ("answered_on", "message"),
    [
        ("", "Enter the answer date."),
        ("22-11-2026", "Enter the answer date as YYYY-MM-DD."),
        ("2026-02-30", "Enter the answer date as YYYY-MM-DD."),
    ],
)
def test_invalid_date_is_refused(
    client: TestClient, answered_on: str, message: str
) -> None:
    """A missing or malformed answer date answers 422 with its message."""
    response = _post(client, _form(answered_on=answered_on))
    assert 422 == response.status_code
    assert {"answered_on": message} == field_errors(response.text)
    assert [] == _stored(client)


def test_future_date_is_refused(client: TestClient) -> None:
    """An answer date after today answers 422 with the future message."""
    tomorrow = (local_now().date() + timedelta(days=1)).isoformat()
    response = _post(client, _form(answered_on=tomorrow))
    assert 422 == response.status_code
    expected = {"answered_on": "The answer date cannot be in the future."}
    assert expected == field_errors(response.text)
    assert [] == _stored(client)


@pytest.mark.parametrize("code", ["", "PRO-UKENDT"])
def test_unknown_questionnaire_is_refused(client: TestClient, code: str) -> None:
    """A missing or unknown questionnaire answers 422 and stores nothing."""
    form = _form()
    form["questionnaire"] = code
    response = _post(client, form)
    assert 422 == response.status_code
    assert {"questionnaire": "Choose a questionnaire."} == field_errors(response.text)
    assert [] == _stored(client)


def test_duplicate_is_refused_with_the_first_id(client: TestClient) -> None:
    """The same questionnaire for the patient on the same day again answers 409."""
    form = _form()
    _post(client, form)
    [first] = _stored(client)
    again = _post(client, {**form, "q1": "0"})
    assert 409 == again.status_code
    assert f"Already registered (id {first['id']})." in again.text
    assert [first] == _stored(client)


def test_other_day_is_not_a_duplicate(client: TestClient) -> None:
    """The same questionnaire on another day is a new registration."""
    _post(client, _form())
    two_days_ago = (local_now().date() - timedelta(days=2)).isoformat()
    response = _post(client, _form(answered_on=two_days_ago))
    assert 303 == response.status_code
    assert 2 == len(_stored(client))


def test_other_questionnaire_is_not_a_duplicate(client: TestClient) -> None:
    """Another questionnaire on the same day is a new registration."""
    _post(client, _form())
    response = _post(client, _form("PRO-TRIVSEL"))
    assert 303 == response.status_code
    assert 2 == len(_stored(client))


def test_unknown_patient_is_a_404(client: TestClient) -> None:
    """Answers for an unknown patient answer 404 and store nothing."""
    response = client.post(
        "/patients/999999/questionnaires", data=_form(), follow_redirects=False
    )
    assert 404 == response.status_code
    assert [] == _stored(client)
