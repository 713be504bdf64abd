"""The realism and fault switches: errors, expiry, latency, rendering and the API."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

import sandbox.app
from sandbox.config import Faults
from sandbox.forms import local_now

MakeClient = Callable[..., TestClient]
PAGES = ["/patients/search", "/patients/1", "/worklist", "/board/MED"]
UNFAULTED = ["/api/health", "/api/patients", "/api/faults", "/static/sandbox.css"]
NOTICE = '<h2 id="system-notice-title">System notice</h2>'


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the seconds the fault middleware sleeps, without sleeping."""
    recorded: list[float] = []

    async def record(seconds: float) -> None:
        recorded.append(seconds)

    # Only the middleware's view of asyncio changes; the event loop is untouched.
    monkeypatch.setattr(sandbox.app, "asyncio", SimpleNamespace(sleep=record))
    return recorded


def _lab_form() -> dict[str, str]:
    sampled = (local_now() - timedelta(days=1)).replace(hour=8, minute=7)
    return {
        "code": "NPU02319",
        "value": "7,5",
        "unit": "mmol/L",
        "sampled_at": sampled.strftime("%Y-%m-%dT%H:%M"),
        "comment": "",
    }


def _register(client: TestClient, form: dict[str, str]) -> httpx.Response:
    return client.post("/patients/1/lab-results", data=form, follow_redirects=False)


def _robot_results(client: TestClient) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = client.get(
        "/api/lab-results", params={"registered_by": "robot"}
    ).json()
    return results


def _put_faults(client: TestClient, **switches: Any) -> httpx.Response:
    return client.put("/api/faults", json=switches)


def _main_tag(html: str) -> str:
    match = re.search(r"<main[^>]*>", html)
    assert match is not None
    return match[0]


# Error rates ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/login"])
def test_error_rate_one_fails_every_page(make_client: MakeClient, path: str) -> None:
    """With error_rate=1 every page, even the login page, answers HTTP 500."""
    client = make_client(login=False, faults={"error_rate": 1})
    response = client.get(path, follow_redirects=False)
    assert 500 == response.status_code
    assert "Internal Server Error" in response.text


@pytest.mark.parametrize("path", UNFAULTED)
def test_error_rate_one_spares_the_api(make_client: MakeClient, path: str) -> None:
    """With error_rate=1 the test API and static files still answer 200."""
    client = make_client(login=False, faults={"error_rate": 1})
    assert 200 == client.get(path).status_code


def test_error_rate_one_stores_nothing(client: TestClient) -> None:
    """A 500 from error_rate comes before the request runs: nothing is saved."""
    _put_faults(client, error_rate=1)
    response = _register(client, _lab_form())
    assert 500 == response.status_code
    assert [] == _robot_results(client)


def test_fail_next_fails_the_planned_requests_then_none(client: TestClient) -> None:
    """Two planned failures of the patient page: its GET fails twice, then works;
    other pages and other methods are untouched."""
    _put_faults(client, fail_next={r"GET /patients/\d+": 2})
    statuses = [client.get("/patients/1").status_code for _ in range(3)]
    assert [500, 500, 200] == statuses
    assert 200 == client.get("/worklist").status_code
    _put_faults(client, fail_next={r"POST /patients/\d+/lab-results": 1})
    assert 500 == _register(client, _lab_form()).status_code
    assert [] == _robot_results(client), "failed before it ran: nothing saved"
    assert 303 == _register(client, _lab_form()).status_code


def test_error_rate_zero_fails_nothing(client: TestClient) -> None:
    """With every switch off, pages answer normally."""
    statuses = [client.get(path).status_code for path in PAGES]
    assert [200] * len(PAGES) == statuses


def test_error_after_rate_one_fails_but_stores(client: TestClient) -> None:
    """With error_after_rate=1 the registration answers 500 yet IS saved."""
    _put_faults(client, error_after_rate=1)
    form = _lab_form()
    response = _register(client, form)
    assert 500 == response.status_code
    assert "Internal Server Error" in response.text
    stored = _robot_results(client)
    assert [(7.5, form["sampled_at"])] == [
        (r["value"], r["sampled_at"]) for r in stored
    ]


def test_retry_after_error_after_is_a_duplicate(client: TestClient) -> None:
    """A robot retrying after such a 500 meets the duplicate check: one row stays."""
    _put_faults(client, error_after_rate=1)
    form = _lab_form()
    _register(client, form)
    _put_faults(client, error_after_rate=0)
    [stored] = _robot_results(client)
    retry = _register(client, form)
    assert 409 == retry.status_code
    assert f"Already registered (id {stored['id']})." in retry.text
    assert [stored] == _robot_results(client)
    repeats = [{"kind": "lab_results", "by": "robot", "existing_id": stored["id"]}]
    assert repeats == client.get("/api/repeats").json()
    client.post("/api/reset")
    assert [] == client.get("/api/repeats").json()


@pytest.mark.parametrize("path", UNFAULTED)
def test_error_after_rate_one_spares_the_api(
    make_client: MakeClient, path: str
) -> None:
    """With error_after_rate=1 the test API and static files still answer 200."""
    client = make_client(login=False, faults={"error_after_rate": 1})
    assert 200 == client.get(path).status_code


# Session expiry ------------------------------------------------------------------


def test_expire_every_expires_the_nth_page_request(make_client: MakeClient) -> None:
    """With expire_every=3 the third logged-in page request goes to the login."""
    client = make_client(faults={"expire_every": 3})
    first = client.get("/patients/search", follow_redirects=False)
    second = client.get("/patients/1", follow_redirects=False)
    third = client.get("/worklist", follow_redirects=False)
    assert (200, 200, 303) == (
        first.status_code,
        second.status_code,
        third.status_code,
    )
    assert "/login?expired=1&next=%2Fworklist" == third.headers["location"]


def test_expired_session_is_gone(make_client: MakeClient) -> None:
    """After the expiring request the session stays gone until a new login."""
    client = make_client(faults={"expire_every": 2})
    client.get("/patients/search")
    client.get("/patients/search", follow_redirects=False)
    after = client.get("/patients/1", follow_redirects=False)
    assert 303 == after.status_code
    assert "/login?expired=1&next=%2Fpatients%2F1" == after.headers["location"]


def test_expire_every_counts_only_logged_in_pages(make_client: MakeClient) -> None:
    """API calls and anonymous pages do not count towards expire_every."""
    client = make_client(faults={"expire_every": 2})
    client.get("/patients/search")
    client.get("/api/patients")
    client.get("/api/health")
    client.get("/static/sandbox.css")
    client.get("/login")
    second = client.get("/patients/1", follow_redirects=False)
    assert 303 == second.status_code


def test_expire_every_keeps_counting_after_a_new_login(
    make_client: MakeClient, log_in: Callable[..., httpx.Response]
) -> None:
    """After logging in again, every Nth page request expires again."""
    client = make_client(faults={"expire_every": 2})
    statuses = []
    for _ in range(2):
        statuses.append(client.get("/patients/search").status_code)
        statuses.append(client.get("/worklist", follow_redirects=False).status_code)
        log_in(client)
    assert [200, 303, 200, 303] == statuses


def test_expiring_post_stores_nothing(make_client: MakeClient) -> None:
    """A form post that meets the expiry goes to the login and saves nothing."""
    client = make_client(faults={"expire_every": 1})
    response = _register(client, _lab_form())
    assert 303 == response.status_code
    assert "/login?expired=1" == response.headers["location"]
    assert [] == _robot_results(client)


def test_expire_every_zero_never_expires(client: TestClient) -> None:
    """With expire_every=0 (the default) sessions survive many requests."""
    statuses = {client.get("/patients/search").status_code for _ in range(30)}
    assert {200} == statuses


# Latency -------------------------------------------------------------------------


def test_latency_sleeps_before_each_page(
    make_client: MakeClient, sleeps: list[float]
) -> None:
    """With latency_ms=250 the middleware awaits asyncio.sleep(0.25) per page."""
    client = make_client(faults={"latency_ms": 250})
    sleeps.clear()
    for path in PAGES:
        client.get(path)
    assert [0.25] * len(PAGES) == sleeps


def test_latency_spares_the_api(make_client: MakeClient, sleeps: list[float]) -> None:
    """The test API and static files are never delayed."""
    client = make_client(login=False, faults={"latency_ms": 250})
    for path in UNFAULTED:
        client.get(path)
    assert [] == sleeps


def test_no_latency_never_sleeps(client: TestClient, sleeps: list[float]) -> None:
    """With latency off the middleware never sleeps."""
    for path in PAGES:
        client.get(path)
    assert [] == sleeps


def test_latency_jitter_is_bounded(
    make_client: MakeClient, sleeps: list[float]
) -> None:
    """With latency 100 ms and jitter 50 ms every delay is 0.10 to 0.15 seconds."""
    client = make_client(faults={"latency_ms": 100, "latency_jitter_ms": 50})
    client.app.state.sandbox.random = random.Random(1)  # type: ignore[attr-defined]
    sleeps.clear()
    for _ in range(40):
        client.get("/patients/search")
    assert 40 == len(sleeps)
    assert [] == [s for s in sleeps if not 0.1 <= s <= 0.15]
    assert len(set(sleeps)) > 1


def test_jitter_alone_is_bounded(make_client: MakeClient, sleeps: list[float]) -> None:
    """With only 30 ms jitter, each delay slept is above 0 and at most 0.03 s."""
    client = make_client(faults={"latency_jitter_ms": 30})
    client.app.state.sandbox.random = random.Random(2)  # type: ignore[attr-defined]
    sleeps.clear()
    for _ in range(40):
        client.get("/patients/search")
    assert sleeps
    assert [] == [s for s in sleeps if not 0 < s <= 0.03]


# Rendering: slow pages, notices, spinners -----------------------------------------


def test_slow_render_hides_the_page(make_client: MakeClient) -> None:
    """With slow_render_ms the main content is hidden with its render delay."""
    client = make_client(faults={"slow_render_ms": 700})
    html = client.get("/patients/search").text
    assert '<main id="content" hidden data-render-delay="700">' == _main_tag(html)
    assert 'role="progressbar" aria-label="Loading page"' in html


def test_no_slow_render_shows_the_page(client: TestClient) -> None:
    """Without slow_render_ms the main content is neither hidden nor delayed."""
    html = client.get("/patients/search").text
    assert "hidden" not in _main_tag(html)
    assert "data-render-delay" not in html


def test_notice_probability_one_shows_the_notice(make_client: MakeClient) -> None:
    """With notice_probability=1 every logged-in page opens the System notice."""
    client = make_client(notice_probability=1)
    for path in PAGES:
        html = client.get(path).text
        assert NOTICE in html
        assert 'role="dialog" aria-modal="true"' in html


def test_notice_needs_a_logged_in_user(make_client: MakeClient) -> None:
    """The System notice never shows on the login page."""
    client = make_client(login=False, notice_probability=1)
    assert NOTICE not in client.get("/login").text


def test_notice_probability_zero_shows_no_notice(make_client: MakeClient) -> None:
    """With notice_probability=0 no page opens the System notice."""
    client = make_client(notice_probability=0)
    pages = [client.get(path).text for path in PAGES]
    assert [] == [html for html in pages if "System notice" in html]


def test_spinner_time_is_in_the_lab_form(make_client: MakeClient) -> None:
    """The configured spinner time is on the lab form's spinner; the form is hidden."""
    client = make_client(spinner_ms=450)
    html = client.get("/patients/1/lab-results/new").text
    assert 'id="form-spinner"' in html
    assert 'data-spinner-ms="450"' in html
    assert 'id="lab-form" hidden' in html


# The faults API ------------------------------------------------------------------


def test_get_faults_returns_the_configured_switches(make_client: MakeClient) -> None:
    """GET /api/faults returns the switches the sandbox was configured with."""
    client = make_client(login=False, faults={"latency_ms": 5, "expire_every": 9})
    expected = Faults(latency_ms=5, expire_every=9).model_dump()
    assert expected == client.get("/api/faults").json()


def test_put_faults_changes_the_switches(client: TestClient) -> None:
    """PUT /api/faults replaces the switches; GET returns the new ones."""
    switches = {
        "latency_ms": 10,
        "latency_jitter_ms": 5,
        "error_rate": 0.25,
        "error_after_rate": 0.5,
        "expire_every": 7,
        "slow_render_ms": 300,
        "fail_next": {"GET /worklist": 1},
    }
    response = _put_faults(client, **switches)
    assert 200 == response.status_code
    assert switches == response.json()
    assert switches == client.get("/api/faults").json()


def test_put_faults_resets_omitted_switches(make_client: MakeClient) -> None:
    """Switches left out of the PUT body are switched off."""
    client = make_client(login=False, faults={"latency_ms": 5, "slow_render_ms": 9})
    _put_faults(client, error_rate=0.5)
    expected = Faults(error_rate=0.5).model_dump()
    assert expected == client.get("/api/faults").json()


def test_put_faults_takes_effect_at_once(client: TestClient) -> None:
    """Switching error_rate on and off through the API changes the next page."""
    _put_faults(client, error_rate=1)
    failing = client.get("/patients/search").status_code
    _put_faults(client, slow_render_ms=400)
    slow = client.get("/patients/search")
    assert (500, 200) == (failing, slow.status_code)
    assert 'data-render-delay="400"' in _main_tag(slow.text)


@pytest.mark.parametrize(
    "switches",
    [
        {"error_rate": 2},
        {"error_rate": -0.1},
        {"error_after_rate": 1.5},
        {"latency_ms": -1},
        {"latency_jitter_ms": -5},
        {"expire_every": -1},
        {"slow_render_ms": -1},
        {"latency_ms": "slow"},
        {"no_such_switch": 1},
    ],
)
def test_put_invalid_faults_is_refused(
    make_client: MakeClient, switches: dict[str, Any]
) -> None:
    """An out-of-range, mistyped or unknown switch answers 422 and changes nothing."""
    client = make_client(login=False, faults={"latency_ms": 5})
    before = client.get("/api/faults").json()
    response = _put_faults(client, **switches)
    assert 422 == response.status_code
    assert before == client.get("/api/faults").json()


# Reset ---------------------------------------------------------------------------


def test_reset_restores_seed_data_and_configured_faults(
    make_client: MakeClient, log_in: Callable[..., httpx.Response]
) -> None:
    """POST /api/reset drops registrations and restores the configured faults."""
    client = make_client(faults={"slow_render_ms": 300})
    configured = client.get("/api/faults").json()
    counts = client.get("/api/counts").json()
    patients = client.get("/api/patients", params={"limit": 1000}).json()
    _register(client, _lab_form())
    client.post(
        "/patients/2/documents",
        data={
            "doc_type": "Andet",
            "doc_date": (local_now().date() - timedelta(days=1)).isoformat(),
            "title": "Brev",
        },
        files={"file": ("brev.pdf", b"%PDF-1.4 brev", "application/pdf")},
    )
    board = client.get("/board/MED").text
    task_id = re.findall(r'action="/board/tasks/(\d+)/done"', board)[0]
    client.post(f"/board/tasks/{task_id}/done")
    _put_faults(client, error_rate=1, latency_ms=50)
    changed = {
        kind: n - counts[kind] for kind, n in client.get("/api/counts").json().items()
    }
    assert {
        "lab_results": 1,
        "questionnaires": 0,
        "documents": 1,
        "board_changes": 1,
    } == changed
    response = client.post("/api/reset")
    assert {"status": "reset"} == response.json()
    assert configured == client.get("/api/faults").json()
    assert counts == client.get("/api/counts").json()
    assert [] == _robot_results(client)
    assert patients == client.get("/api/patients", params={"limit": 1000}).json()
    log_in(client)
    assert 200 == client.get("/patients/search").status_code
