"""Registration of lab results: success, every validation rule and duplicates."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from sandbox.forms import local_now
from sandbox.testing import field_errors

PATIENT = 1
URL = f"/patients/{PATIENT}/lab-results"


def _sample_time(days_ago: int = 1, hour: int = 8, minute: int = 7) -> str:
    """A sample time in hospital time; minute 7 never collides with seeded samples."""
    moment = (local_now() - timedelta(days=days_ago)).replace(hour=hour, minute=minute)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _form(**changes: str) -> dict[str, str]:
    form = {
        "code": "NPU02319",
        "value": "7.5",
        "unit": "mmol/L",
        "sampled_at": _sample_time(),
        "comment": "",
    }
    form.update(changes)
    return form


def _post(client: TestClient, form: dict[str, str]) -> httpx.Response:
    return client.post(URL, data=form, follow_redirects=False)


def _robot_results(client: TestClient) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = client.get(
        "/api/lab-results", params={"registered_by": "robot"}
    ).json()
    return results


def _registered_id(response: httpx.Response) -> int:
    match = re.fullmatch(rf"{URL}/(\d+)", response.headers["location"])
    assert match is not None
    return int(match[1])


def test_form_page_shows_every_field(client: TestClient) -> None:
    """The empty form has the code, value, unit, sampled-at and comment fields."""
    response = client.get(f"{URL}/new")
    assert 200 == response.status_code
    names = re.findall(r'\bname="(\w+)"', response.text)
    assert ["code", "value", "unit", "sampled_at", "comment"] == names


def test_registration_redirects_to_the_confirmation(client: TestClient) -> None:
    """A valid result answers 303 to a confirmation page showing its id."""
    response = _post(client, _form())
    assert 303 == response.status_code
    result_id = _registered_id(response)
    page = client.get(response.headers["location"])
    assert 200 == page.status_code
    assert f'<strong id="registration-id">{result_id}</strong>' in page.text
    assert "7,5 mmol/L" in page.text


def test_registration_is_stored(client: TestClient) -> None:
    """The registered result is in the test API with every field as entered."""
    form = _form(comment="  Taget fastende  ")
    result_id = _registered_id(_post(client, form))
    cpr = client.get("/api/patients", params={"limit": 1}).json()[0]["cpr"]
    [stored] = _robot_results(client)
    expected = {
        "id": result_id,
        "patient_id": PATIENT,
        "code": "NPU02319",
        "value": 7.5,
        "unit": "mmol/L",
        "sampled_at": form["sampled_at"],
        "comment": "Taget fastende",
        "registered_by": "robot",
        "cpr": cpr,
    }
    assert expected == {key: stored[key] for key in expected}


def test_registration_shows_on_the_patient_page(client: TestClient) -> None:
    """The registered result is listed on the patient page with its id."""
    result_id = _registered_id(_post(client, _form(comment="Kontrol")))
    page = client.get(f"/patients/{PATIENT}")
    assert f"<tr><td>{result_id}</td>" in page.text
    assert "<td>Kontrol</td>" in page.text


@pytest.mark.parametrize(
    ("entered", "stored"),
    [("7,5", 7.5), ("7.5", 7.5), (" 12 ", 12.0), ("1", 1.0), ("15", 15.0)],
)
def test_value_is_accepted(client: TestClient, entered: str, stored: float) -> None:
    """Decimal comma and point, padding and both range limits are accepted."""
    response = _post(client, _form(value=entered))
    assert 303 == response.status_code
    assert [stored] == [r["value"] for r in _robot_results(client)]


def test_sampled_at_with_seconds_is_truncated(client: TestClient) -> None:
    """A sample time with seconds is accepted and stored to the minute."""
    sampled_at = _sample_time()
    response = _post(client, _form(sampled_at=f"{sampled_at}:45"))
    assert 303 == response.status_code
    assert [sampled_at] == [r["sampled_at"] for r in _robot_results(client)]


def test_comment_of_500_characters_is_accepted(client: TestClient) -> None:
    """A comment of exactly 500 characters is accepted."""
    response = _post(client, _form(comment="x" * 500))
    assert 303 == response.status_code


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"code": ""}, {"code": "Choose a test code."}),
        ({"code": "NPU99999"}, {"code": "Choose a test code."}),
        ({"value": ""}, {"value": "Enter a value."}),
        ({"value": "   "}, {"value": "Enter a value."}),
        ({"value": "abc"}, {"value": "Enter a number, for example 7,5."}),
        ({"value": "7,5,1"}, {"value": "Enter a number, for example 7,5."}),
        ({"value": "1.234,5"}, {"value": "Enter a number, for example 7,5."}),
        (
            {"value": "0,99"},
            {
                "value": "0.99 is outside the plausible range for NPU02319"
                " (1 to 15 mmol/L)."
            },
        ),
        (
            {"value": "15,01"},
            {
                "value": "15.01 is outside the plausible range for NPU02319"
                " (1 to 15 mmol/L)."
            },
        ),
        (
            {"value": "-3"},
            {
                "value": "-3 is outside the plausible range for NPU02319"
                " (1 to 15 mmol/L)."
            },
        ),
        (
            {"value": "nan"},
            {
                "value": "nan is outside the plausible range for NPU02319"
                " (1 to 15 mmol/L)."
            },
        ),
        (
            {"code": "NPU03429", "unit": "mmol/L", "value": "201"},
            {
                "value": "201 is outside the plausible range for NPU03429"
                " (90 to 200 mmol/L)."
            },
        ),
        ({"unit": ""}, {"unit": "Enter the unit."}),
        ({"unit": "g/L"}, {"unit": "The unit of NPU02319 is mmol/L."}),
        ({"unit": "mmol/l"}, {"unit": "The unit of NPU02319 is mmol/L."}),
        ({"sampled_at": ""}, {"sampled_at": "Enter when the sample was taken."}),
        (
            {"sampled_at": "20-11-2026 08:30"},
            {"sampled_at": "Enter a date and time as YYYY-MM-DDTHH:MM."},
        ),
        (
            {"sampled_at": "2026-02-30T08:30"},
            {"sampled_at": "Enter a date and time as YYYY-MM-DDTHH:MM."},
        ),
        (
            {"sampled_at": "2026-11-20T25:00"},
            {"sampled_at": "Enter a date and time as YYYY-MM-DDTHH:MM."},
        ),
        (
            {"sampled_at": "2026-11-20T08:30+01:00"},
            {"sampled_at": "Enter the local time without a time zone."},
        ),
        (
            {"comment": "x" * 501},
            {"comment": "The comment can be at most 500 characters."},
        ),
    ],
)
def test_invalid_field_is_refused(
    client: TestClient, changes: dict[str, str], expected: dict[str, str]
) -> None:
    """An invalid field answers 422 with its message beside it and stores nothing."""
    response = _post(client, _form(**changes))
    assert 422 == response.status_code
    assert expected == field_errors(response.text)
    assert [] == _robot_results(client)


@pytest.mark.parametrize(
    "later", [timedelta(days=1), timedelta(minutes=5), timedelta(days=400)]
)
def test_future_sample_time_is_refused(client: TestClient, later: timedelta) -> None:
    """A sample time after now answers 422 with the future message, nothing stored."""
    future = (local_now() + later).strftime("%Y-%m-%dT%H:%M")
    response = _post(client, _form(sampled_at=future))
    assert 422 == response.status_code
    expected = {"sampled_at": "The sample time cannot be in the future."}
    assert expected == field_errors(response.text)
    assert [] == _robot_results(client)


@pytest.mark.parametrize("field", ["code", "value", "unit", "sampled_at"])
def test_missing_field_is_refused(client: TestClient, field: str) -> None:
    """Leaving out a required field altogether answers 422 with its error beside it."""
    form = _form()
    del form[field]
    response = _post(client, form)
    assert 422 == response.status_code
    assert [field] == list(field_errors(response.text))
    assert [] == _robot_results(client)


def test_refused_form_marks_the_field_and_keeps_the_input(client: TestClient) -> None:
    """A refused form marks the bad field invalid and keeps what was entered."""
    response = _post(client, _form(value="abc", comment="behold mig"))
    assert 'aria-invalid="true" aria-describedby="value-error"' in response.text
    assert 'value="abc"' in response.text
    assert ">behold mig</textarea>" in response.text
    assert "The result was not saved." in response.text


def test_every_error_is_shown_at_once(client: TestClient) -> None:
    """A form wrong in every field shows all five messages together."""
    form = {
        "code": "NPU99999",
        "value": "abc",
        "unit": "",
        "sampled_at": "soon",
        "comment": "x" * 501,
    }
    response = _post(client, form)
    assert 422 == response.status_code
    assert {"code", "value", "unit", "sampled_at", "comment"} == set(
        field_errors(response.text)
    )


def test_duplicate_is_refused_with_the_first_id(client: TestClient) -> None:
    """The same patient, code and sample time again answers 409 with the first id."""
    form = _form()
    first_id = _registered_id(_post(client, form))
    again = _post(client, {**form, "value": "8,1"})
    assert 409 == again.status_code
    assert f"Already registered (id {first_id})." in again.text
    assert [first_id] == [r["id"] for r in _robot_results(client)]
    assert [7.5] == [r["value"] for r in _robot_results(client)]


def test_duplicate_ignores_the_seconds(client: TestClient) -> None:
    """A sample time differing only in seconds is the same sample: a duplicate."""
    sampled_at = _sample_time()
    _post(client, _form(sampled_at=sampled_at))
    again = _post(client, _form(sampled_at=f"{sampled_at}:59"))
    assert 409 == again.status_code
    assert 1 == len(_robot_results(client))


def test_other_sample_time_is_not_a_duplicate(client: TestClient) -> None:
    """The same patient and code at another sample time is a new registration."""
    form = _form()
    first = _post(client, form)
    second = _post(client, {**form, "sampled_at": form["sampled_at"][:-2] + "08"})
    assert (303, 303) == (first.status_code, second.status_code)
    assert 2 == len(_robot_results(client))


def test_other_code_is_not_a_duplicate(client: TestClient) -> None:
    """Another code at the same sample time is a new registration."""
    form = _form()
    _post(client, form)
    other = _post(client, {**form, "code": "NPU03230", "value": "4,1"})
    assert 303 == other.status_code
    assert 2 == len(_robot_results(client))


def test_unknown_patient_is_a_404(client: TestClient) -> None:
    """Registering for an unknown patient answers 404 and stores nothing."""
    response = client.post(
        "/patients/999999/lab-results", data=_form(), follow_redirects=False
    )
    assert 404 == response.status_code
    assert "No such patient." in response.text
    assert [] == _robot_results(client)


def test_confirmation_of_another_patient_is_a_404(client: TestClient) -> None:
    """A result id under the wrong patient's address answers 404."""
    result_id = _registered_id(_post(client, _form()))
    response = client.get(f"/patients/{PATIENT + 1}/lab-results/{result_id}")
    assert 404 == response.status_code
    assert "No such lab result." in response.text
