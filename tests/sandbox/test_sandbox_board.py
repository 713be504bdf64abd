"""The department board: beds, waiting patients, tasks done and beds assigned."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from sandbox.catalog import DEPARTMENTS

MakeClient = Callable[..., TestClient]
#: Few patients, so every department has free beds (the default seed fills them).
FEW_PATIENTS = 40


def _patients(client: TestClient) -> list[dict[str, Any]]:
    patients: list[dict[str, Any]] = client.get(
        "/api/patients", params={"limit": 10_000}
    ).json()
    return patients


def _patient(client: TestClient, patient_id: int) -> dict[str, Any]:
    return next(p for p in _patients(client) if p["id"] == patient_id)


def _changes(client: TestClient) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = client.get("/api/board-changes").json()
    return changes


def _table(html: str, table_id: str) -> str:
    start = html.index(f'<table id="{table_id}"')
    return unescape(html[start : html.index("</table>", start)])


def _alert(html: str) -> str:
    found = re.findall(r'class="form-error" role="alert">([^<]*)<', html)
    return unescape(found[0]) if found else ""


def _tasks(html: str) -> list[tuple[int, int]]:
    """Return (patient id, task id) of each open task on a board page."""
    pairs = []
    for row in re.findall(r'<tr data-patient-id="(\d+)">(.*?)</tr>', html, re.S):
        for task_id in re.findall(r'action="/board/tasks/(\d+)/done"', row[1]):
            pairs.append((int(row[0]), int(task_id)))
    return pairs


def _free_beds(html: str) -> dict[str, int]:
    """Return the free beds offered on a board page: label to bed id."""
    options = re.findall(r'<option value="(\d+)">([A-Z]+-\d+)</option>', html)
    return {label: int(bed_id) for bed_id, label in options}


def _assign(client: TestClient, patient_id: int, bed_id: str) -> httpx.Response:
    return client.post(
        f"/board/patients/{patient_id}/bed",
        data={"bed_id": bed_id},
        follow_redirects=False,
    )


def test_board_start_opens_the_first_department(client: TestClient) -> None:
    """The board without a department redirects to the first department's board."""
    response = client.get("/board", follow_redirects=False)
    assert 303 == response.status_code
    assert f"/board/{next(iter(DEPARTMENTS))}" == response.headers["location"]


@pytest.mark.parametrize("code", list(DEPARTMENTS))
def test_board_lists_the_department_beds(client: TestClient, code: str) -> None:
    """The beds table lists every bed of the department with its patient."""
    response = client.get(f"/board/{code}")
    assert 200 == response.status_code
    beds = _table(response.text, "board")
    labels = re.findall(rf"<td>({code}-\d\d)</td>", beds)
    expected = [f"{code}-{n:02d}" for n in range(1, DEPARTMENTS[code].beds + 1)]
    assert expected == labels
    bedded = sorted(
        p["cpr"]
        for p in _patients(client)
        if p["department"] == code and p["bed"] is not None
    )
    assert bedded == sorted(re.findall(r"<td>(\d{6}-\d{4})</td>", beds))


@pytest.mark.parametrize("code", list(DEPARTMENTS))
def test_board_lists_the_waiting_patients(client: TestClient, code: str) -> None:
    """The waiting table lists exactly the department's patients without a bed."""
    response = client.get(f"/board/{code}")
    waiting = _table(response.text, "waiting")
    expected = sorted(
        p["cpr"]
        for p in _patients(client)
        if p["department"] == code and p["bed"] is None
    )
    assert expected == sorted(re.findall(r"<td>(\d{6}-\d{4})</td>", waiting))


def test_board_shows_free_beds(make_client: MakeClient) -> None:
    """With few patients, empty beds are marked free and offered in the bed lists."""
    client = make_client(patients=FEW_PATIENTS)
    response = client.get("/board/MED")
    taken = {p["bed"] for p in _patients(client) if p["bed"] is not None}
    free = {f"MED-{n:02d}" for n in range(1, 25)} - taken
    shown = set(
        re.findall(
            r'<tr class="free"><td>(MED-\d\d)</td>', _table(response.text, "board")
        )
    )
    assert free == shown
    offered = {label for label in _free_beds(response.text) if label.startswith("MED")}
    assert free == offered


def test_unknown_department_is_a_404(client: TestClient) -> None:
    """An unknown department answers the 404 error page."""
    response = client.get("/board/XYZ")
    assert 404 == response.status_code
    assert "No such department." in response.text


def test_mark_task_done(client: TestClient) -> None:
    """Marking a task done redirects to the board, drops the task and records it."""
    patient_id, task_id = _tasks(client.get("/board/MED").text)[0]
    response = client.post(f"/board/tasks/{task_id}/done", follow_redirects=False)
    assert 303 == response.status_code
    assert "/board/MED?msg=task_done" == response.headers["location"]
    page = client.get(response.headers["location"])
    assert "The task is marked done." in page.text
    assert task_id not in [task for _, task in _tasks(page.text)]
    [change] = _changes(client)
    expected = {
        "kind": "task_done",
        "patient_id": patient_id,
        "task_id": task_id,
        "bed_id": None,
        "changed_by": "robot",
        "cpr": _patient(client, patient_id)["cpr"],
    }
    assert expected == {key: change[key] for key in expected}


def test_mark_task_done_twice_is_refused(client: TestClient) -> None:
    """Marking the same task done again answers 409 and records nothing more."""
    _, task_id = _tasks(client.get("/board/KIR").text)[0]
    client.post(f"/board/tasks/{task_id}/done", follow_redirects=False)
    again = client.post(f"/board/tasks/{task_id}/done", follow_redirects=False)
    assert 409 == again.status_code
    assert _alert(again.text).startswith("The task was already done at ")
    assert 1 == len(_changes(client))


def test_unknown_task_is_a_404(client: TestClient) -> None:
    """Marking an unknown task done answers 404 and records nothing."""
    response = client.post("/board/tasks/999999/done", follow_redirects=False)
    assert 404 == response.status_code
    assert [] == _changes(client)


def test_assign_free_bed_in_the_same_department(make_client: MakeClient) -> None:
    """A waiting patient assigned a free bed of their department is in that bed."""
    client = make_client(patients=FEW_PATIENTS)
    patient = next(p for p in _patients(client) if p["bed"] is None)
    department = patient["department"]
    label, bed_id = next(
        (label, bed_id)
        for label, bed_id in _free_beds(client.get(f"/board/{department}").text).items()
        if label.startswith(department)
    )
    response = _assign(client, patient["id"], str(bed_id))
    assert 303 == response.status_code
    assert f"/board/{department}?msg=bed_assigned" == response.headers["location"]
    moved = _patient(client, patient["id"])
    assert (label, department) == (moved["bed"], moved["department"])
    page = client.get(response.headers["location"])
    assert "The patient is assigned the bed." in page.text
    assert patient["cpr"] in _table(page.text, "board")
    assert patient["cpr"] not in _table(page.text, "waiting")


def test_assign_bed_in_another_department_moves_the_patient(
    make_client: MakeClient,
) -> None:
    """A bed in another department moves the patient there and records the change."""
    client = make_client(patients=FEW_PATIENTS)
    patient = next(p for p in _patients(client) if p["bed"] is None)
    old = patient["department"]
    new = next(code for code in DEPARTMENTS if code != old)
    label, bed_id = next(
        (label, bed_id)
        for label, bed_id in _free_beds(client.get(f"/board/{old}").text).items()
        if label.startswith(new)
    )
    response = _assign(client, patient["id"], str(bed_id))
    assert 303 == response.status_code
    assert f"/board/{new}?msg=bed_assigned" == response.headers["location"]
    moved = _patient(client, patient["id"])
    assert (label, new) == (moved["bed"], moved["department"])
    assert patient["cpr"] in _table(client.get(f"/board/{new}").text, "board")
    old_board = client.get(f"/board/{old}").text
    assert patient["cpr"] not in old_board
    [change] = _changes(client)
    expected = {
        "kind": "bed_assigned",
        "patient_id": patient["id"],
        "task_id": None,
        "bed_id": bed_id,
        "bed": label,
        "changed_by": "robot",
        "cpr": patient["cpr"],
    }
    assert expected == {key: change[key] for key in expected}


def test_moving_a_patient_frees_their_old_bed(make_client: MakeClient) -> None:
    """A patient moved from one bed to another leaves the old bed free."""
    client = make_client(patients=FEW_PATIENTS)
    patient = next(p for p in _patients(client) if p["bed"] is not None)
    bed_id = next(iter(_free_beds(client.get("/board/MED").text).values()))
    _assign(client, patient["id"], str(bed_id))
    assert patient["bed"] in _free_beds(client.get("/board/MED").text)


def test_occupied_bed_is_refused(client: TestClient) -> None:
    """A bed occupied by another patient answers 409 with a message; nothing moves."""
    patients = _patients(client)
    waiting = next(p for p in patients if p["bed"] is None)
    occupant = next(p for p in patients if p["bed"] is not None)
    response = _assign(client, waiting["id"], str(occupant["bed_id"]))
    assert 409 == response.status_code
    expected = f"Bed {occupant['bed']} is occupied by another patient."
    assert expected == _alert(response.text)
    assert patients == _patients(client)
    assert [] == _changes(client)


def test_own_bed_is_refused(client: TestClient) -> None:
    """Assigning a patient the bed they lie in answers 409 saying so."""
    patient = next(p for p in _patients(client) if p["bed"] is not None)
    response = _assign(client, patient["id"], str(patient["bed_id"]))
    assert 409 == response.status_code
    assert f"The patient is already in bed {patient['bed']}." == _alert(response.text)
    assert [] == _changes(client)


@pytest.mark.parametrize(
    "bed_id",
    ["", "   ", "999999", "0", "-1", "abc", "1.5", "\u00b2", "9" * 30],
    ids=[
        "blank",
        "spaces",
        "unknown",
        "zero",
        "negative",
        "text",
        "decimal",
        "superscript",
        "huge",
    ],
)
def test_unknown_or_blank_bed_is_refused(make_client: MakeClient, bed_id: str) -> None:
    """A blank, unknown or non-numeric bed answers with "Choose a bed."; no change."""
    client = make_client(patients=FEW_PATIENTS)
    patients = _patients(client)
    patient = next(p for p in patients if p["bed"] is None)
    response = _assign(client, patient["id"], bed_id)
    assert 409 == response.status_code
    assert "Choose a bed." == _alert(response.text)
    assert patients == _patients(client)
    assert [] == _changes(client)


def test_refusal_shows_the_patients_board(client: TestClient) -> None:
    """A refused bed assignment re-shows the board of the patient's department."""
    patient = next(p for p in _patients(client) if p["department"] == "KAR")
    response = _assign(client, patient["id"], "")
    assert f"<h2>{DEPARTMENTS['KAR'].name}</h2>" in unescape(response.text)


def test_unknown_patient_bed_is_a_404(client: TestClient) -> None:
    """Assigning a bed to an unknown patient answers 404."""
    response = _assign(client, 999999, "1")
    assert 404 == response.status_code
    assert [] == _changes(client)
