"""Patient search by CPR number, the patient page and the seeded patients."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from robotlib.cpr import birth_date, is_well_formed
from sandbox.catalog import DEPARTMENTS, LAB_CODES
from sandbox.forms import local_now
from sandbox.testing import field_errors

MakeClient = Callable[..., TestClient]
NOT_FOUND = "No patient found with that CPR number."
BAD_FORMAT = "Enter a CPR number as DDMMYY-SSSS."


def _patients(client: TestClient) -> list[dict[str, Any]]:
    patients: list[dict[str, Any]] = client.get(
        "/api/patients", params={"limit": 10_000}
    ).json()
    return patients


def _search(client: TestClient, cpr: str) -> Any:
    return client.post("/patients/search", data={"cpr": cpr}, follow_redirects=False)


def test_search_page_shows_the_form(client: TestClient) -> None:
    """The search page has the CPR field."""
    response = client.get("/patients/search")
    assert 200 == response.status_code
    assert 'name="cpr"' in response.text


@pytest.mark.parametrize(
    "shape",
    [
        lambda cpr: cpr,
        lambda cpr: cpr.replace("-", ""),
        lambda cpr: f"  {cpr}  ",
    ],
    ids=["with-dash", "without-dash", "padded"],
)
def test_search_finds_the_patient(
    client: TestClient, shape: Callable[[str], str]
) -> None:
    """A seeded CPR number, with or without the dash, redirects to its patient."""
    patient = _patients(client)[7]
    response = _search(client, shape(patient["cpr"]))
    assert 303 == response.status_code
    assert f"/patients/{patient['id']}" == response.headers["location"]


def test_unknown_cpr_is_not_found(client: TestClient) -> None:
    """A well-formed CPR number nobody has answers 404 with the not-found message."""
    taken = {patient["cpr"] for patient in _patients(client)}
    assert "010101-0000" not in taken
    response = _search(client, "010101-0000")
    assert 404 == response.status_code
    assert {"cpr": NOT_FOUND} == field_errors(response.text)


@pytest.mark.parametrize(
    "cpr",
    ["", "   ", "abc", "12345-6789", "0101011234x", "010101 1234", "010101--1234"],
)
def test_malformed_cpr_gets_the_format_message(client: TestClient, cpr: str) -> None:
    """A CPR number not shaped DDMMYY-SSSS gets the format message beside the field."""
    response = _search(client, cpr)
    assert 404 == response.status_code
    assert {"cpr": BAD_FORMAT} == field_errors(response.text)
    assert 'aria-invalid="true"' in response.text


def test_patient_page_shows_name_cpr_and_lab_results(client: TestClient) -> None:
    """The patient page shows the name, CPR number, department and each lab result."""
    results = client.get("/api/lab-results").json()
    patient_id = results[0]["patient_id"]
    patient = next(p for p in _patients(client) if p["id"] == patient_id)
    own = [r for r in results if r["patient_id"] == patient_id]
    response = client.get(f"/patients/{patient_id}")
    assert 200 == response.status_code
    text = unescape(response.text)
    assert f"<h1>{patient['first_name']} {patient['last_name']}</h1>" in text
    assert f'<dd id="patient-cpr">{patient["cpr"]}</dd>' in text
    department = DEPARTMENTS[patient["department"]].name
    assert f'<dd id="patient-department">{department}</dd>' in text
    assert f'<dd id="patient-bed">{patient["bed"] or "No bed"}</dd>' in text
    for result in own:
        value = f"{result['value']:g}".replace(".", ",")
        row = (
            f"<tr><td>{result['id']}</td>"
            f"<td>{result['sampled_at'].replace('T', ' ')}</td>"
            f"<td>{result['code']}</td><td>{LAB_CODES[result['code']].name}</td>"
            f"<td>{value}</td><td>{result['unit']}</td>"
        )
        assert row in text


def test_patient_page_without_lab_results_says_so(
    make_client: MakeClient,
) -> None:
    """A patient without lab results has the "No lab results." row."""
    client = make_client(history_results=0)
    response = client.get("/patients/1")
    assert "No lab results." in response.text


def test_unknown_patient_is_a_404_page(client: TestClient) -> None:
    """An unknown patient id answers the HTML error page with status 404."""
    response = client.get("/patients/999999")
    assert 404 == response.status_code
    assert "text/html" in response.headers["content-type"]
    assert "No such patient." in response.text


def test_seed_has_at_least_200_patients(client: TestClient) -> None:
    """The default seed creates at least 200 patients."""
    assert len(_patients(client)) >= 200


def test_seeded_cprs_are_well_formed(client: TestClient) -> None:
    """Every seeded CPR number is well-formed: DDMMYY-SSSS with a real date."""
    malformed = [
        p["cpr"]
        for p in _patients(client)
        if not is_well_formed(p["cpr"]) or not re.fullmatch(r"\d{6}-\d{4}", p["cpr"])
    ]
    assert [] == malformed


def test_seeded_cprs_are_born_in_the_past(client: TestClient) -> None:
    """The century the serial digit gives puts every birth date in the past."""
    today = local_now().date()
    unborn = [p["cpr"] for p in _patients(client) if birth_date(p["cpr"]) >= today]
    assert [] == unborn


def test_seeded_cprs_match_the_birth_date_digits(client: TestClient) -> None:
    """The birth date's day, month and two-digit year are the CPR's first six digits."""
    mismatched = [
        p["cpr"]
        for p in _patients(client)
        if f"{birth_date(p['cpr']):%d%m%y}" != p["cpr"][:6]
    ]
    assert [] == mismatched


def test_seeded_cprs_are_unique(client: TestClient) -> None:
    """No two seeded patients share a CPR number."""
    cprs = [p["cpr"] for p in _patients(client)]
    assert len(cprs) == len(set(cprs))


def test_seeded_patients_have_names_and_departments(client: TestClient) -> None:
    """Every seeded patient has a first and last name and a known department."""
    incomplete = [
        p
        for p in _patients(client)
        if not p["first_name"]
        or not p["last_name"]
        or p["department"] not in DEPARTMENTS
    ]
    assert [] == incomplete


def test_same_seed_gives_the_same_patients(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Two sandboxes built from the same seed list exactly the same patients."""
    first = make_client(login=False, seed=7, db_path=tmp_path / "first.db")
    second = make_client(login=False, seed=7, db_path=tmp_path / "second.db")
    assert _patients(first) == _patients(second)


def test_other_seed_gives_other_patients(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Two sandboxes built from different seeds list different patients."""
    first = make_client(login=False, seed=7, db_path=tmp_path / "first.db")
    second = make_client(login=False, seed=8, db_path=tmp_path / "second.db")
    assert _patients(first) != _patients(second)


def test_patient_count_follows_the_config(make_client: MakeClient) -> None:
    """The number of seeded patients is the configured number."""
    client = make_client(login=False, patients=37)
    assert 37 == len(_patients(client))


def test_id_too_large_for_the_database_is_not_found(client: TestClient) -> None:
    """A patient id beyond SQLite's integers answers 404, not a server error."""
    response = client.get("/patients/99999999999999999999")
    assert 404 == response.status_code
    assert "No such record." in response.text
