"""Rows of a later input that correct, repeat or contradict items already queued."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from robotlib import BusinessRuleError, Context, Robot
from robotlib.engine import Engine
from robotlib.queue import QueueBackend
from robotlib.queue.models import ItemState

ROBOT = "fake_lab"


class Result(BaseModel):
    """One lab result: the row's number and its value."""

    n: int
    value: float


class Epj:
    """A target system that refuses the value 99 and records what it registers."""

    def __init__(self) -> None:
        self.registered: list[tuple[int, float]] = []

    def register(self, result: Result) -> int:
        if result.value == 99:
            raise BusinessRuleError("EPJ refused value 99: outside the valid range")
        self.registered.append((result.n, result.value))
        return 1000 + result.n


def make_robot(epj: Epj) -> Robot:
    """A robot reading a JSON list of rows and registering each in ``epj``."""

    def source(input_path: Path | None) -> list[dict[str, Any]]:
        assert input_path is not None
        rows: list[dict[str, Any]] = json.loads(input_path.read_text())
        return rows

    def register(ctx: Context, result: Result) -> dict[str, int]:
        return {"registration_id": epj.register(result)}

    return Robot(
        name=ROBOT,
        item=Result,
        source=source,
        reference=["n"],
        process=register,
        outputs=("registration_id",),
    )


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(rows))
    return path


def test_a_corrected_row_is_registered_once_with_its_new_value(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    """Yesterday's business exception (99) is corrected by today's row (9.9):
    registered once with 9.9, the correction in its history and the audit log."""
    epj = Epj()
    engine = make_engine(make_robot(epj))
    engine.run(input_path=write(tmp_path / "yesterday.json", [{"n": 1, "value": 99}]))
    [item] = backend.items(ROBOT)
    assert ItemState.BUSINESS_EXCEPTION == item.state

    today = write(tmp_path / "today.json", [{"n": 1, "value": 9.9}])
    result = engine.run(input_path=today)

    assert result.loaded is not None
    assert (0, 0, 1) == (
        result.loaded.added,
        result.loaded.existing,
        result.loaded.corrected,
    )
    assert [(1, 9.9)] == epj.registered
    done = backend.get(item.id)
    assert (ItemState.DONE, {"n": 1, "value": 9.9}, None) == (
        done.state,
        done.payload,
        done.error_message,
    )
    note = "corrected by input today.json (row 1): value 99.0 → 9.9"
    correction = [e for e in backend.history(item.id) if e.note == note]
    assert [(ItemState.BUSINESS_EXCEPTION, ItemState.NEW, result.run_id)] == [
        (e.from_state, e.to_state, e.run_id) for e in correction
    ]
    [entry] = backend.audit_log(action="correct")
    assert ("input:today.json", item.id, note) == (
        entry.actor,
        entry.item_id,
        entry.note,
    )
    log = (result.run_dir / "events.jsonl").read_text()
    [event] = [
        json.loads(line) for line in log.splitlines() if "item_corrected" in line
    ]
    assert (item.id, ["value"]) == (event["item_id"], event["fields"])
    assert "9.9" not in json.dumps(event)

    again = engine.run(input_path=today)
    assert again.loaded is not None
    assert (0, 1, 0) == (
        again.loaded.added,
        again.loaded.existing,
        again.loaded.corrected,
    )
    assert [(1, 9.9)] == epj.registered


def test_another_value_for_a_done_item_is_a_business_exception(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    """A changed row for a done item is not processed: it becomes a business
    exception of its own, once, however often the file is loaded."""
    epj = Epj()
    engine = make_engine(make_robot(epj))
    engine.run(input_path=write(tmp_path / "yesterday.json", [{"n": 2, "value": 141}]))
    changed = write(tmp_path / "today.json", [{"n": 2, "value": 143}])

    result = engine.run(input_path=changed)
    engine.run(input_path=changed)

    assert [(2, 141.0)] == epj.registered
    assert result.loaded is not None
    assert (1, 0, 0) == (
        result.loaded.added,
        result.loaded.existing,
        result.loaded.corrected,
    )
    done, rejected = backend.items(ROBOT)
    assert (ItemState.DONE, {"n": 2, "value": 141.0}) == (done.state, done.payload)
    assert (ItemState.BUSINESS_EXCEPTION, "InvalidInput") == (
        rejected.state,
        rejected.error_type,
    )
    assert (
        "today.json, row 1: already registered as done (registration_id 1002) with "
        "other values (value 143.0 here, 141.0 there): the target system already "
        "holds it; correct it there by hand"
    ) == rejected.error_message
    assert rejected.reference.startswith("2 #")


def test_an_identical_row_stays_already_queued(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    """The same row again, for an exception item, is neither corrected nor new."""
    epj = Epj()
    engine = make_engine(make_robot(epj))
    path = write(tmp_path / "input.json", [{"n": 1, "value": 99}])
    engine.run(input_path=path)

    result = engine.run(input_path=path)

    assert result.loaded is not None
    assert (0, 1, 0) == (
        result.loaded.added,
        result.loaded.existing,
        result.loaded.corrected,
    )
    [item] = backend.items(ROBOT)
    assert ItemState.BUSINESS_EXCEPTION == item.state
    assert [] == backend.audit_log(action="correct")


def test_a_row_rejected_at_load_is_corrected_by_a_valid_one(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    """An invalid row yesterday, the same reference valid today: corrected, done."""
    epj = Epj()
    engine = make_engine(make_robot(epj))
    engine.run(input_path=write(tmp_path / "old.json", [{"n": 3, "value": "9,9x"}]))
    [item] = backend.items(ROBOT)
    assert (ItemState.BUSINESS_EXCEPTION, "3") == (item.state, item.reference)

    result = engine.run(
        input_path=write(tmp_path / "new.json", [{"n": 3, "value": 9.9}])
    )

    assert result.loaded is not None and 1 == result.loaded.corrected
    assert [(3, 9.9)] == epj.registered
    [entry] = backend.audit_log(action="correct")
    assert entry.note.startswith(
        "corrected by input new.json (row 1): rejected at load"
    )
    assert '"value": "9,9x"' in entry.note


class Located(BaseModel):
    """A row that knows the folder it was read from."""

    n: int
    folder: str = ""


def test_a_row_differing_only_in_a_not_compared_field_is_already_queued(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    """document_filing's case: the same index read from another folder is the
    same row, not a conflict with the done item."""

    def source(input_path: Path | None) -> list[dict[str, Any]]:
        assert input_path is not None
        return [{"n": 1, "folder": str(input_path.parent)}]

    def register(ctx: Context, row: Located) -> dict[str, int]:
        return {"registration_id": 1}

    robot = Robot(
        name=ROBOT,
        item=Located,
        source=source,
        reference=["n"],
        process=register,
        outputs=("registration_id",),
        not_compared=("folder",),
    )
    engine = make_engine(robot)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    engine.run(input_path=write(tmp_path / "a" / "index.json", []))
    result = engine.run(input_path=write(tmp_path / "b" / "index.json", []))
    assert result.loaded is not None
    assert (0, 1, 0) == (
        result.loaded.added,
        result.loaded.existing,
        result.loaded.corrected,
    )
    assert [ItemState.DONE] == [item.state for item in backend.items(ROBOT)]


def test_not_compared_names_fields_of_the_item() -> None:
    with pytest.raises(ValueError, match=r"not_compared fields \['nosuch'\]"):
        Robot(
            name="x",
            item=Located,
            reference=["n"],
            process=lambda ctx, row: None,
            not_compared=("nosuch",),
        )


def test_a_dry_run_tells_the_correction_and_the_done_conflict_and_changes_nothing(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    epj = Epj()
    engine = make_engine(make_robot(epj))
    yesterday = [{"n": 1, "value": 99}, {"n": 2, "value": 141}]
    engine.run(input_path=write(tmp_path / "yesterday.json", yesterday))
    before = [(i.state, i.payload) for i in backend.items(ROBOT)]

    today = [{"n": 1, "value": 9.9}, {"n": 2, "value": 143}]
    report = engine.dry_run(input_path=write(tmp_path / "today.json", today))

    assert (["1"], [], 2) == (report.corrected, report.existing, report.rows)
    [(reference, reason)] = report.invalid
    assert reference.startswith("2 #")
    assert "already registered as done (registration_id 1002)" in reason
    assert before == [(i.state, i.payload) for i in backend.items(ROBOT)]
