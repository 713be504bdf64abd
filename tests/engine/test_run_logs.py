"""Run logs: one JSON line per event with context, and nothing private in clear."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from robotlib import (
    ApplicationError,
    BusinessRuleError,
    Context,
    RetryPolicy,
    Robot,
    step,
)
from robotlib.engine import Engine
from robotlib.logs import Redactor
from robotlib.queue import QueueBackend
from robotlib.settings import Settings

SECRET = "Hemmelig-Kode-4711"
CPRS = ("240512-4123", "0101901234", "311299-9876")


class Registration(BaseModel):
    """A lab result for a patient, as the fake robot registers it."""

    cpr: str
    value: float


@step
def log_in_to_epj(*, username: str, password: str) -> None:
    """A step whose arguments carry a password."""


@step
def find_patient(*, cpr: str) -> None:
    """A step whose arguments carry a CPR number."""
    if cpr == CPRS[1]:
        raise BusinessRuleError(f"No patient with CPR {cpr} in EPJ")
    if cpr == CPRS[2]:
        raise ApplicationError(f"EPJ timed out looking up {cpr} (login {SECRET})")


def _robot() -> Robot:
    def setup(ctx: Context) -> None:
        log_in_to_epj(username="robot", password=SECRET)

    def register(ctx: Context, item: Registration) -> dict[str, Any]:
        ctx.log.info("registering", cpr=item.cpr, note=f"password was {SECRET}")
        find_patient(cpr=item.cpr)
        return {"patient": item.cpr}

    return Robot(
        name="private_robot",
        item=Registration,
        source=lambda path: [{"cpr": cpr, "value": 7.5} for cpr in CPRS],
        reference=["cpr"],
        setup=setup,
        process=register,
        retry=RetryPolicy(attempts=2, backoff_s=(0,)),
    )


def _run(make_engine: Callable[..., Engine], redactor: Redactor) -> Path:
    """Run the robot once; return its run folder."""
    redactor.add_secret(SECRET)
    return make_engine(_robot()).run().run_dir


def test_every_line_is_json_with_run_and_item_context(
    make_engine: Callable[..., Engine], redactor: Redactor
) -> None:
    """Each events.jsonl line is JSON with run id and robot; item events the item."""
    run_dir = _run(make_engine, redactor)
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert 10 < len(events)
    assert {run_dir.name} == {event["run_id"] for event in events}
    assert {"private_robot"} == {event["robot"] for event in events}
    item_events = [e for e in events if e["event"].startswith("item_")]
    assert item_events and all("item" in e and "item_id" in e for e in item_events)
    steps = [e for e in events if e["event"].startswith("step_")]
    assert {"log_in_to_epj", "find_patient"} == {e["step"] for e in steps}
    assert all("duration_ms" in e for e in steps if e["event"] != "step_started")


def test_no_secret_or_cpr_in_clear_anywhere(
    make_engine: Callable[..., Engine],
    redactor: Redactor,
    backend: QueueBackend,
    settings: Settings,
) -> None:
    """Logs, file names and stored errors hold no secret and no full CPR number."""
    _run(make_engine, redactor)
    texts = [
        path.read_text(encoding="utf-8", errors="replace") + path.name
        for path in settings.logs.rglob("*")
        if path.is_file()
    ]
    texts += [str(path) for path in settings.logs.rglob("*")]
    for item in backend.items("private_robot"):
        texts += [item.error_message or "", item.error_type or ""]
        texts += [entry.note for entry in backend.history(item.id)]
    for run in backend.runs():
        texts.append(run.note)
    database = settings.project_dir / "queue.db"
    if database.exists():
        with sqlite3.connect(database) as db:
            for (message,) in db.execute(
                "SELECT error_message FROM work_items WHERE error_message IS NOT NULL"
            ):
                texts.append(message)
    joined = "\n".join(texts)
    assert SECRET not in joined
    for cpr in CPRS:
        assert cpr not in joined
        assert cpr.replace("-", "") not in joined
    assert "cpr:" in joined  # hashed, so one patient can still be followed
    assert "No patient with CPR cpr:" in joined


def test_the_same_patient_has_the_same_token_in_the_log(
    make_engine: Callable[..., Engine], redactor: Redactor
) -> None:
    """A CPR number is replaced by the same keyed hash wherever it appears."""
    run_dir = _run(make_engine, redactor)
    token = redactor.redact(CPRS[0])
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    tagged = [e for e in events if e.get("item") == token]
    assert {"item_started", "registering", "item_done"} <= {e["event"] for e in tagged}
