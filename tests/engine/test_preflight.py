"""Engine.preflight: setup, the robot's check and teardown, with the queue untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from robotlib import ApplicationError, Context, Robot
from robotlib.engine import Engine, PreflightResult
from robotlib.logs import Redactor
from robotlib.queue import InMemoryBackend
from robotlib.settings import Settings

SECRET = "Hemmelig-Kode-4711"
CPR = "240512-4123"


class Job(BaseModel):
    """One work item (preflights never see one)."""

    n: int


class FakeEpj:
    """A target system in memory that counts what is done to it."""

    name = "fake-epj"

    def __init__(self) -> None:
        self.pages: list[str] = []
        self.registrations = 0
        self.closed = 0

    def open_page(self, page: str) -> None:
        self.pages.append(page)

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(b"\x89PNG fake")
        return path

    def close(self) -> None:
        self.closed += 1


def make_robot(
    epj: FakeEpj, *, preflight: Callable[..., Any] | None, **overrides: Any
) -> Robot:
    """A robot that opens the fake EPJ in setup and registers items in it."""

    def setup(ctx: Context) -> None:
        ctx.state["epj"] = ctx.open_application(epj)
        epj.open_page("login")

    def register(ctx: Context, job: Job) -> None:
        epj.registrations += 1

    values: dict[str, Any] = {
        "name": "fake_robot",
        "item": Job,
        "source": lambda path: [{"n": 1}, {"n": 2}],
        "reference": ["n"],
        "setup": setup,
        "process": register,
        "preflight": preflight,
    }
    values.update(overrides)
    return Robot(**values)


def check_pages(ctx: Context) -> None:
    """A preflight that opens a page and changes nothing."""
    ctx.state["epj"].open_page("lab form")


def events(result: PreflightResult) -> list[dict[str, Any]]:
    """The preflight's events.jsonl, one dict per line."""
    text = (result.run_dir / "events.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def memory() -> InMemoryBackend:
    """An in-memory queue the tests can look into afterwards."""
    return InMemoryBackend()


@pytest.fixture
def engine_for(
    settings: Settings, redactor: Redactor, memory: InMemoryBackend
) -> Callable[[Robot], Engine]:
    """Return a factory of engines over the in-memory queue."""

    def make(robot: Robot) -> Engine:
        return Engine(robot, settings=settings, backend=memory, redactor=redactor)

    return make


def test_a_passing_preflight_is_ok_and_logged(
    engine_for: Callable[[Robot], Engine], settings: Settings
) -> None:
    """Setup and preflight run, teardown closes; events.jsonl has preflight_passed."""
    epj = FakeEpj()
    result = engine_for(make_robot(epj, preflight=check_pages)).preflight()

    assert (True, "", "setup and preflight") == (
        result.ok,
        result.message,
        result.checked,
    )
    assert ["login", "lab form"] == epj.pages
    assert (0, 1) == (epj.registrations, epj.closed)
    assert settings.logs / "fake_robot" == result.run_dir.parent
    assert result.run_dir.name.endswith("-preflight")
    assert 0o700 == result.run_dir.stat().st_mode & 0o777
    assert 0 <= result.duration_s
    names = [event["event"] for event in events(result)]
    assert "preflight_started" == names[0]
    assert "preflight_passed" == names[-1]
    assert "preflight_failed" not in names
    assert {result.run_dir.name} == {event["run_id"] for event in events(result)}
    assert [] == list(result.run_dir.glob("*.png"))


def test_a_failing_preflight_says_why_with_a_screenshot(
    engine_for: Callable[[Robot], Engine], redactor: Redactor
) -> None:
    """A raising preflight: not ok, redacted message, screenshot, teardown ran."""
    redactor.add_secret(SECRET)
    torn_down: list[bool] = []

    def check_pages(ctx: Context) -> None:
        raise ApplicationError(
            f"no 'Save result' button on the form of {CPR} (login {SECRET})"
        )

    epj = FakeEpj()
    robot = make_robot(
        epj, preflight=check_pages, teardown=lambda ctx: torn_down.append(True)
    )
    result = engine_for(robot).preflight()

    assert not result.ok
    assert result.message.startswith("no 'Save result' button on the form of cpr:")
    assert result.message.endswith("(login ***)")
    assert ([True], 1) == (torn_down, epj.closed)
    shots = [path.name for path in result.run_dir.glob("*.png")]
    assert ["preflight-fake-epj.png"] == shots
    [failed] = [e for e in events(result) if e["event"] == "preflight_failed"]
    assert ("ApplicationError", result.message) == (
        failed["error_type"],
        failed["error"],
    )
    log_text = (result.run_dir / "events.jsonl").read_text(encoding="utf-8")
    assert SECRET not in log_text
    assert CPR not in log_text
    assert "preflight_passed" not in log_text


def test_a_failing_setup_fails_the_preflight(
    engine_for: Callable[[Robot], Engine],
) -> None:
    """An exception in setup (a refused login, say) fails it; preflight is not run."""
    ran: list[str] = []

    def setup(ctx: Context) -> None:
        raise RuntimeError("login refused: wrong password")

    robot = make_robot(FakeEpj(), preflight=ran.append, setup=setup)
    result = engine_for(robot).preflight()

    assert (False, "login refused: wrong password") == (result.ok, result.message)
    assert [] == ran


def test_without_a_preflight_only_setup_runs(
    engine_for: Callable[[Robot], Engine],
) -> None:
    """A robot with no preflight gets setup and teardown, and the result says so."""
    epj = FakeEpj()
    result = engine_for(make_robot(epj, preflight=None)).preflight()

    assert (True, "setup only (the robot declares no preflight)") == (
        result.ok,
        result.checked,
    )
    assert (["login"], 1) == (epj.pages, epj.closed)


def test_the_queue_is_not_touched(
    engine_for: Callable[[Robot], Engine], memory: InMemoryBackend
) -> None:
    """Neither a passing nor a failing preflight loads items or records a run."""

    def broken(ctx: Context) -> None:
        raise ApplicationError("the lab form did not load")

    epj = FakeEpj()
    engine_for(make_robot(epj, preflight=check_pages)).preflight()
    engine_for(make_robot(epj, preflight=broken)).preflight()

    assert [] == memory.runs()
    assert [] == memory.items("fake_robot")
    assert 0 == epj.registrations


def test_ctrl_c_is_a_failed_preflight_and_closes_everything(
    engine_for: Callable[[Robot], Engine],
) -> None:
    """Ctrl+C during the preflight: not ok, "interrupted", teardown and run end ran."""
    ended: list[bool] = []

    def interrupted(ctx: Context) -> None:
        ctx.at_run_end(lambda: ended.append(True))
        raise KeyboardInterrupt

    epj = FakeEpj()
    result = engine_for(make_robot(epj, preflight=interrupted)).preflight()

    assert (False, "interrupted") == (result.ok, result.message)
    assert (1, [True]) == (epj.closed, ended)


def test_run_end_callbacks_run_after_a_pass(
    engine_for: Callable[[Robot], Engine],
) -> None:
    """What setup registered with ctx.at_run_end (a browser, say) is stopped."""
    ended: list[bool] = []

    def check(ctx: Context) -> None:
        ctx.at_run_end(lambda: ended.append(True))

    assert engine_for(make_robot(FakeEpj(), preflight=check)).preflight().ok
    assert [True] == ended


def test_a_preflight_taking_two_arguments_is_refused() -> None:
    """Robot(...) refuses a preflight that cannot be called as preflight(ctx)."""

    def check_pages(ctx: Context, extra: str) -> None:
        """Takes one argument too many."""

    with pytest.raises(
        ValueError, match=r"preflight function check_pages.*1 positional"
    ):
        make_robot(FakeEpj(), preflight=check_pages)
