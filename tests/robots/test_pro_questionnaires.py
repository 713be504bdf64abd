"""The pro_questionnaires robot registers exactly the right answers in the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from robotlib import ApplicationError, Context, RetryPolicy, Stage
from robotlib.pytest_plugin import Sandbox
from robotlib.testing import ItemState, load_robot

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).resolve().parents[2]
ROBOTS = PROJECT / "robots"
REGISTERED = {
    ("030933-1661", "PRO-SMERTE", "2026-11-19", (1, 2, 3, 0, 4)),
    ("131278-4545", "PRO-FUNKTION", "2026-11-20", (0, 1, 2, 2, 3, 4)),
    ("290616-9122", "PRO-SMERTE", "2026-11-18", (4, 4, 3, 2, 1)),
}
ALREADY_THERE = ("060561-4475", "PRO-TRIVSEL", "2026-11-20", (2, 2, 1, 3, 0))


def _register_by_hand(
    url: str, cpr: str, code: str, day: str, answers: tuple[int, ...]
) -> int:
    """A nurse registers a questionnaire through the sandbox's own form."""
    with httpx.Client(base_url=url) as nurse:
        nurse.post("/login", data={"username": "nurse", "password": "nurse-pass-1"})
        patient = nurse.post("/patients/search", data={"cpr": cpr}).headers["location"]
        form = {f"q{n}": str(a) for n, a in enumerate(answers, 1)}
        saved = nurse.post(
            f"{patient}/questionnaires",
            data={"questionnaire": code, "answered_on": day, **form},
        )
        assert 303 == saved.status_code
        return int(saved.headers["location"].rsplit("id=", 1)[1])


def _robot_registrations(
    run: Any, rpa_sandbox: Sandbox
) -> list[tuple[str, str, str, tuple[int, ...]]]:
    """The robot's registrations, sorted: one registered twice shows twice."""
    return sorted(
        (r["cpr"], r["questionnaire"], r["answered_on"], _answers(r))
        for r in rpa_sandbox.api("/questionnaires?registered_by=robot")
    )


def _answers(registration: dict[str, Any]) -> tuple[int, ...]:
    """The answers as the test API stores them: a JSON list."""
    return tuple(json.loads(registration["answers"]))


def test_registrations_exceptions_and_nothing_twice(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """Good rows are registered and verified once; bad ones carry the EPJ's message."""
    nurse_id = _register_by_hand(rpa_sandbox.url, *ALREADY_THERE)
    run = run_robot("pro_questionnaires")
    assert 0 == run.result.exit_code, run.result.note

    assert sorted(REGISTERED) == _robot_registrations(run, rpa_sandbox)
    same = rpa_sandbox.api(f"/questionnaires?cpr={ALREADY_THERE[0]}")
    assert [("nurse", nurse_id)] == [(r["registered_by"], r["id"]) for r in same]

    items = run.backend.items("pro_questionnaires")
    assert 9 == len(items)  # ten rows, one of them twice
    by_cpr = {item.reference.split("|")[0]: item for item in items}
    done = {c: i.output for c, i in by_cpr.items() if i.state is ItemState.DONE}
    assert {cpr for cpr, *_ in REGISTERED} | {ALREADY_THERE[0]} == set(done)
    assert nurse_id == done[ALREADY_THERE[0]]["registration_id"]
    reasons = {
        cpr: item.error_message or ""
        for cpr, item in by_cpr.items()
        if item.state is ItemState.BUSINESS_EXCEPTION
    }
    assert 5 == len(reasons)
    assert "No patient found with that CPR number." in reasons["010101-0000"]
    assert (
        "The EPJ refused the answers: 3. Smerter om natten: Answer with 0, 1, 2, "
        "3 or 4." == reasons["181130-0899"]
    )
    assert (
        "The EPJ has no questionnaire 'PRO-SOEVN' (it has PRO-SMERTE, PRO-FUNKTION, "
        "PRO-TRIVSEL): check the export" == reasons["240293-0360"]
    )
    assert (
        "PRO-TRIVSEL has 5 questions, but the export answers 6: check the export"
        == reasons["260477-0977"]
    )
    assert any("column 'Svar 2'" in reason for reason in reasons.values())


def test_second_run_registers_nothing_more(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """Loading the same export again adds no item and no registration."""
    first = run_robot("pro_questionnaires")
    registered = _robot_registrations(first, rpa_sandbox)
    second = run_robot("pro_questionnaires")
    assert 0 == second.result.loaded.added
    assert registered == _robot_registrations(second, rpa_sandbox)


def test_precheck_finds_answers_saved_before_a_system_exception(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """An item that failed after saving is found by the precheck, not saved again."""
    real = load_robot("pro_questionnaires", project_dir=PROJECT).process[0]
    target = "131278-4545"
    failed: list[int] = []

    def save_then_fail(ctx: Context, item: Any) -> Any:
        output = real.run(ctx, item)
        if item.cpr == target and not failed:
            failed.append(output["registration_id"])
            raise ApplicationError("the EPJ did not answer after saving")
        return output

    run = run_robot(
        "pro_questionnaires",
        process=(Stage(real.name, save_then_fail),),
        retry=RetryPolicy(attempts=3, backoff_s=(0,)),
    )
    assert 0 == run.result.exit_code, run.result.note

    expected = sorted(REGISTERED | {ALREADY_THERE})  # no nurse registered it here
    assert expected == _robot_registrations(run, rpa_sandbox)
    [item] = [
        i
        for i in run.backend.items("pro_questionnaires")
        if i.reference.startswith(target)
    ]
    assert (ItemState.DONE, 2) == (item.state, item.attempts)
    assert {"registration_id": failed[0]} == item.output
    notes = [entry.note for entry in run.backend.history(item.id)]
    assert "done already (precheck)" in notes
