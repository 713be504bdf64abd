"""The bed_board robot makes exactly the board changes its transfer list asks for."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from robotlib.pytest_plugin import Sandbox
from robotlib.testing import ItemState
from sandbox.database import connect

pytestmark = pytest.mark.browser

HEADERS = ["CPR-nummer", "Til afdeling", "Seng", "Opgaver afsluttet"]


def _changes(run: Any, rpa_sandbox: Sandbox) -> list[tuple[str, str, str]]:
    """The robot's board changes as (kind, CPR number, bed or task), sorted."""
    with closing(connect(rpa_sandbox.server.config.db_path)) as db:
        tasks = dict(db.execute("SELECT id, description FROM tasks").fetchall())
    return sorted(
        (c["kind"], c["cpr"], c["bed"] if c["bed"] else tasks[c["task_id"]])
        for c in rpa_sandbox.api("/board-changes?registered_by=robot")
    )


def _discharge(rpa_sandbox: Sandbox, *cprs: str) -> None:
    """A ward clerk discharges patients from their beds (the board has no button)."""
    with closing(connect(rpa_sandbox.server.config.db_path)) as db:
        for cpr in cprs:
            db.execute("UPDATE patients SET bed_id = NULL WHERE cpr = ?", (cpr,))


def _outcomes(run: Any) -> tuple[set[str], dict[str, str]]:
    """The CPR numbers of done items, and business exception messages by CPR."""
    items = run.backend.items("bed_board")
    done = {i.reference.split("|")[0] for i in items if i.state is ItemState.DONE}
    reasons = {
        i.reference.split("|")[0]: i.error_message or ""
        for i in items
        if i.state is ItemState.BUSINESS_EXCEPTION
    }
    return done, reasons


def test_example_transfers_on_the_default_seed(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """Tasks of patients in their beds are closed; every other row is an exception."""
    run = run_robot("bed_board")
    assert 0 == run.result.exit_code, run.result.note

    assert [
        ("task_done", "181211-9731", "Ernæringsscreening"),
        ("task_done", "181211-9731", "Mobilisering"),
        ("task_done", "271082-4009", "Sårpleje"),
    ] == _changes(run, rpa_sandbox)
    assert 8 == len(run.backend.items("bed_board"))  # nine rows, one twice
    done, reasons = _outcomes(run)
    assert {"181211-9731", "271082-4009"} == done
    by_cpr = {i.reference.split("|")[0]: i for i in run.backend.items("bed_board")}
    assert {"bed": "ORT-08", "bed_assigned": False} == {
        key: by_cpr["181211-9731"].output[key] for key in ("bed", "bed_assigned")
    }
    assert 6 == len(reasons)
    assert "Bed KAR-15 is occupied by another patient" in reasons["150217-9523"]
    assert "Unknown bed ORT-25" in reasons["290386-9597"]
    assert "No patient with CPR number 150320-**** " in reasons["150320-4321"]
    assert "No patient found with that CPR number." in reasons["150320-4321"]
    assert "Sårpleje: not an open task" in reasons["190913-4157"]
    assert "No free bed in Kirurgisk afdeling" in reasons["290616-9122"]
    assert any("bed KIR-05 is not a bed of ORT" in r for r in reasons.values())


def test_second_run_changes_nothing_more(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """Loading the same transfer list again adds no item and no board change."""
    first = run_robot("bed_board")
    changes = _changes(first, rpa_sandbox)
    second = run_robot("bed_board")
    assert 0 == second.result.loaded.added
    assert changes == _changes(second, rpa_sandbox)


def test_moves_into_free_beds_and_transfers(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Free beds are assigned, across departments too; a bed taken before is refused."""
    _discharge(rpa_sandbox, "150801-4200", "070492-9361")  # frees KIR-19 and MED-17
    book = Workbook()
    book.active.append(HEADERS)
    for row in (
        ["290616-9122", "KIR", "KIR-19", "Mobilisering"],  # ORT → KIR
        ["060235-0527", "MED", None, "Udskrivningssamtale"],  # any free MED bed
        ["110167-9689", "KIR", "KIR-19", ""],  # taken by the first row
    ):
        book.active.append(row)
    book.save(tmp_path / "transfers.xlsx")

    run = run_robot("bed_board", input=tmp_path / "transfers.xlsx")
    assert 0 == run.result.exit_code, run.result.note

    assert [
        ("bed_assigned", "060235-0527", "MED-17"),
        ("bed_assigned", "290616-9122", "KIR-19"),
        ("task_done", "060235-0527", "Udskrivningssamtale"),
        ("task_done", "290616-9122", "Mobilisering"),
    ] == _changes(run, rpa_sandbox)
    patients = {p["cpr"]: p for p in rpa_sandbox.api("/patients?limit=1000")}
    assert ("KIR", "KIR-19") == (
        patients["290616-9122"]["department"],
        patients["290616-9122"]["bed"],
    )
    done, reasons = _outcomes(run)
    assert {"290616-9122", "060235-0527"} == done
    assert ["110167-9689"] == list(reasons)
    assert "Bed KIR-19 is occupied by another patient" in reasons["110167-9689"]
