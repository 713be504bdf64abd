"""The lab_results robot registers exactly the right results in the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from robotlib.pytest_plugin import Sandbox
from robotlib.testing import ItemState

pytestmark = pytest.mark.browser

REGISTERED = {
    ("170551-4514", "NPU02319", 8.4, "2026-11-20T08:00"),
    ("220209-4002", "NPU03429", 141.0, "2026-11-20T08:15"),
    ("211217-9215", "NPU19748", 12.5, "2026-11-20T09:30"),
}
ALREADY_THERE = ("090505-9525", "NPU02192", "5,6", "2026-11-19T07:45")


def _register_by_hand(url: str, cpr: str, code: str, value: str, at: str) -> None:
    """A nurse registers a result through the sandbox's own form."""
    with httpx.Client(base_url=url) as nurse:
        nurse.post("/login", data={"username": "nurse", "password": "nurse-pass-1"})
        patient = nurse.post("/patients/search", data={"cpr": cpr}).headers["location"]
        saved = nurse.post(
            f"{patient}/lab-results",
            data={"code": code, "value": value, "unit": "mmol/L", "sampled_at": at},
        )
        assert 303 == saved.status_code


def test_registrations_exceptions_and_nothing_twice(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """Good rows are registered and verified once; bad ones carry the EPJ's message."""
    _register_by_hand(rpa_sandbox.url, *ALREADY_THERE)
    run = run_robot("lab_results")
    assert 0 == run.result.exit_code, run.result.note

    robot_rows = rpa_sandbox.api("/lab-results?registered_by=robot")
    assert REGISTERED == {
        (r["cpr"], r["code"], r["value"], r["sampled_at"]) for r in robot_rows
    }
    same = [
        r
        for r in rpa_sandbox.api(f"/lab-results?cpr={ALREADY_THERE[0]}")
        if (r["code"], r["sampled_at"]) == (ALREADY_THERE[1], ALREADY_THERE[3])
    ]
    assert ["nurse"] == [r["registered_by"] for r in same]

    items = run.backend.items("lab_results")
    assert 8 == len(items)  # nine rows, one of them twice
    by_cpr = {item.reference.split("|")[0]: item for item in items}
    done = {cpr for cpr, item in by_cpr.items() if item.state is ItemState.DONE}
    assert {"170551-4514", "220209-4002", "211217-9215", "090505-9525"} == done
    assert all(isinstance(by_cpr[c].output["registration_id"], int) for c in done)
    reasons = {
        cpr: item.error_message or ""
        for cpr, item in by_cpr.items()
        if item.state is ItemState.BUSINESS_EXCEPTION
    }
    assert 4 == len(reasons)
    assert "No patient with CPR number 010101-**** " in reasons["010101-0000"]
    assert "outside the plausible range" in reasons["290191-0570"]
    assert "The unit of NPU03230 is mmol/L" in reasons["070396-4472"]
    assert any("column 'CPR-nummer'" in reason for reason in reasons.values())


def test_second_run_registers_nothing_more(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """Loading the same spreadsheet again adds no item and no registration."""
    run_robot("lab_results")
    count = len(rpa_sandbox.api("/lab-results?registered_by=robot"))
    second = run_robot("lab_results")
    assert 0 == second.result.loaded.added
    assert count == len(rpa_sandbox.api("/lab-results?registered_by=robot"))


def test_corrections_across_days(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """The EPJ refuses yesterday's 99; today's corrected 9,9 is registered once.
    Today's 143 for a result registered as 141 is a business exception of its own;
    the unchanged row is already queued."""
    corpus = Path(__file__).resolve().parents[1] / "data" / "real_world"
    yesterday = run_robot("lab_results", input=corpus / "corrections_yesterday.csv")
    [refused] = yesterday.backend.items(
        "lab_results", states=[ItemState.BUSINESS_EXCEPTION]
    )
    cpr = refused.reference.split("|")[0]

    today = run_robot("lab_results", input=corpus / "corrections_today.csv")

    loaded = today.result.loaded
    assert (1, 1, 1) == (loaded.added, loaded.existing, loaded.corrected)
    registered = [
        (r["code"], r["value"])
        for r in rpa_sandbox.api(f"/lab-results?cpr={cpr}")
        if r["registered_by"] == "robot"
    ]
    assert [("NPU02319", 9.9)] == registered
    corrected = today.backend.get(refused.id)
    assert (ItemState.DONE, 9.9) == (corrected.state, corrected.payload["value"])
    [entry] = today.backend.audit_log(action="correct")
    assert "corrected by input corrections_today.csv" in entry.note
    assert "value 99.0 → 9.9" in entry.note
    [conflict] = today.backend.items(
        "lab_results", states=[ItemState.BUSINESS_EXCEPTION]
    )
    assert "already registered as done (registration_id " in (
        conflict.error_message or ""
    )
    assert "value 143.0 here, 141.0 there" in (conflict.error_message or "")
    assert 3 == len(rpa_sandbox.api("/lab-results?registered_by=robot"))
