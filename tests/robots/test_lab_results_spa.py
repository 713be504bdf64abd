"""lab_results_spa registers through the single-page EPJ what lab_results does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from robotlib.pytest_plugin import Sandbox

pytestmark = pytest.mark.browser

FIELDS = ("cpr", "code", "value", "unit", "sampled_at", "comment")


def _registered(sandbox: Sandbox) -> set[tuple[Any, ...]]:
    rows = sandbox.api("/lab-results?registered_by=robot")
    return {tuple(row[name] for name in FIELDS) for row in rows}


def _outcomes(run: Any) -> dict[str, tuple[str, str]]:
    """Each item's state and the start of its reason (CPR masked), by reference."""
    return {
        item.reference: (item.state.value, (item.error_message or "")[:40])
        for item in run.items
    }


def test_both_uis_register_the_same_results(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """The same spreadsheet through the pages and through the SPA: the same
    registrations, the same outcomes; a second SPA run registers nothing more."""
    pages = run_robot("lab_results")
    through_pages = _registered(rpa_sandbox)
    rpa_sandbox.reset()

    spa = run_robot("lab_results_spa")
    through_spa = _registered(rpa_sandbox)
    again = run_robot("lab_results_spa")

    assert 0 == spa.result.exit_code, spa.result.note
    assert through_pages and through_pages == through_spa
    assert {r: s for r, (s, _) in _outcomes(pages).items()} == {
        r: s for r, (s, _) in _outcomes(spa).items()
    }
    assert through_spa == _registered(rpa_sandbox)
    assert 0 == again.result.exit_code
    assert [] == rpa_sandbox.api("/repeats")
