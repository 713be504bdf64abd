"""Items whose deadline is at risk are told once, by robot, without their data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from robotlib.db import database_engine
from robotlib.notify import Notification
from robotlib.queue import NewItem, SqlAlchemyBackend
from robotlib.scheduler._risks import DeadlineWatch
from robotlib.settings import load_settings
from robotlib.testing import FakeClock

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.told: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.told.append(notification)


@pytest.fixture
def watch_parts(tmp_path: Path) -> tuple[SqlAlchemyBackend, DeadlineWatch, Recorder]:
    (tmp_path / "rpa.toml").write_text(
        'console_url = "https://rpa.region.dk"\n'
        "[notify]\ndeadline_warning_minutes = 60\n",
        "utf-8",
    )
    settings = load_settings(tmp_path)
    clock = FakeClock(NOW)
    backend = SqlAlchemyBackend(f"sqlite:///{tmp_path / 'q.db'}", clock=clock)
    recorder = Recorder()
    engine = database_engine(f"sqlite:///{tmp_path / 'q.db'}")
    watch = DeadlineWatch(settings, backend, engine, [recorder], clock)
    return backend, watch, recorder


def test_items_not_done_near_their_deadline_are_told_once(
    watch_parts: tuple[SqlAlchemyBackend, DeadlineWatch, Recorder],
) -> None:
    """Of lab's items, the one due in 30 min and the one past due are told; one
    due in 3 h, one done and one without a deadline are not. The next look tells
    nothing again; an item that comes into the hour later is told then."""
    backend, watch, recorder = watch_parts
    soon = NewItem("0101901234|soon", {"v": 1}, deadline=NOW + timedelta(minutes=30))
    past = NewItem("0202902345|past", {"v": 2}, deadline=NOW - timedelta(minutes=5))
    later = NewItem("later", {"v": 3}, deadline=NOW + timedelta(hours=3))
    done = NewItem("done", {"v": 4}, deadline=NOW + timedelta(minutes=10))
    backend.enqueue("lab", [soon, past, later, done, NewItem("none", {"v": 5})])
    [done_item] = backend.items("lab", reference="done")
    lease = timedelta(minutes=5)
    claimed = backend.claim_next("lab", owner="w", lease=lease, item_id=done_item.id)
    assert claimed is not None
    backend.complete(claimed.id, owner="w", output={})

    told = watch.check()

    assert sorted(i.reference for i in told) == ["0101901234|soon", "0202902345|past"]
    [note] = recorder.told
    assert (note.kind, note.robot, note.count) == ("deadline_at_risk", "lab", 2)
    assert note.subject == "robotlib: 2 item(s) of lab may miss their deadline"
    assert "(past)" in note.body and "0101901234" not in note.body
    assert note.link == "https://rpa.region.dk/exceptions?robot=lab"

    assert watch.check() == [], "told once"
    watch.clock.advance(timedelta(hours=2, minutes=30))  # type: ignore[attr-defined]
    assert [i.reference for i in watch.check()] == ["later"]
    assert len(recorder.told) == 2
    backend.close()
