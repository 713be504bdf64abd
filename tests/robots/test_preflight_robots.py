"""The example robots' preflights pass against the sandbox and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from robotlib.pytest_plugin import Sandbox
from robotlib.steps import browser
from robotlib.testing import load_robot

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).resolve().parents[2]
#: The robots with a preflight of their own.
ROBOTS = [
    "lab_results",
    "lab_results_spa",
    "daily_report",
    "pro_questionnaires",
    "document_filing",
    "bed_board",
]


def counts(sandbox: Sandbox) -> dict[str, Any]:
    """The sandbox's registrations of each kind (lab results, documents, ...)."""
    response = httpx.get(f"{sandbox.url}/api/counts")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


@pytest.mark.parametrize("name", ROBOTS)
def test_preflight_passes_and_registers_nothing(
    preflight_robot: Callable[..., Any],
    rpa_sandbox: Sandbox,
    name: str,
) -> None:
    """The robot logs in, finds its pages and fields; the EPJ gets no new record."""
    before = counts(rpa_sandbox)
    result = preflight_robot(name)

    assert (True, "", "setup and preflight") == (
        result.ok,
        result.message,
        result.checked,
    )
    assert before == counts(rpa_sandbox)
    assert [] == list(result.run_dir.glob("*.png"))


def test_lab_results_preflight_leaves_no_lab_result(
    preflight_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """The lab form is opened and left: the robot user has registered nothing."""
    result = preflight_robot("lab_results")

    assert result.ok, result.message
    robot_rows = httpx.get(f"{rpa_sandbox.url}/api/lab-results?registered_by=robot")
    assert [] == robot_rows.json()
    events = (result.run_dir / "events.jsonl").read_text(encoding="utf-8")
    assert '"event": "preflight_passed"' in events


def test_wrong_password_fails_with_the_login_message(
    preflight_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """A refused login fails the preflight with the EPJ's words and a screenshot."""
    wrong = rpa_sandbox.credentials | {"password": "not-the-password"}
    result = preflight_robot("lab_results", credentials={"sandbox": wrong})

    assert not result.ok
    assert result.message.startswith("login to 'sandbox' as 'robot' was refused: ")
    assert "not-the-password" not in result.message
    assert ["preflight-browser.png"] == [p.name for p in result.run_dir.glob("*.png")]


def test_a_changed_page_fails_naming_what_is_missing(
    preflight_robot: Callable[..., Any],
) -> None:
    """A button the EPJ no longer has fails the preflight by name, with a screenshot."""
    checks = load_robot("lab_results", project_dir=PROJECT).preflight
    renamed = browser.expect_page(
        "the lab result form",
        fields=["Test code"],
        buttons=["Save and sign"],
        timeout_s=0.5,
    )

    result = preflight_robot("lab_results", preflight=(*checks, renamed))

    assert not result.ok
    assert result.message.startswith("the lab result form (http")
    assert "has no button 'Save and sign': has the system changed?" in result.message
    assert "field 'Test code'" not in result.message
    assert ["preflight-browser.png"] == [p.name for p in result.run_dir.glob("*.png")]
