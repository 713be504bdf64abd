"""`rpa run ROBOT --item ID_OR_REFERENCE` processes exactly that item."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import Result

from robotlib.queue import QueueBackend
from robotlib.queue.models import ItemState


def _states(backend: QueueBackend) -> list[ItemState]:
    return [item.state for item in backend.items("fake_lab")]


def test_only_the_named_item_is_processed(
    rpa: Callable[..., Result],
    input_file: Path,
    backend: QueueBackend,
    references: list[str],
    registrations: Callable[[], list[dict[str, Any]]],
) -> None:
    """By reference, by masked reference and by id: one item each, the rest wait."""
    first = rpa("run", "fake_lab", "--input", str(input_file), "--limit", "1")
    assert 0 == first.exit_code, first.stdout
    new, refused = ItemState.NEW, ItemState.BUSINESS_EXCEPTION  # the invalid row
    assert [ItemState.DONE, new, new, refused, new, new] == _states(backend)

    third = rpa("run", "fake_lab", "--item", references[2])
    assert 0 == third.exit_code, third.stdout + third.stderr
    assert [ItemState.DONE, new, ItemState.DONE, refused, new, new] == _states(backend)
    assert ["010190-1234", "020290-2345"] == [r["cpr"] for r in registrations()]

    masked = rpa("queue", "fake_lab").stdout  # as an operator copies it from there
    second_shown = references[1].split("|")[0][:7] + "****"
    assert second_shown in masked
    by_shown = rpa(
        "run", "fake_lab", "--item", second_shown + "|" + references[1].split("|")[1]
    )
    assert 0 == by_shown.exit_code, by_shown.stdout + by_shown.stderr
    assert refused == _states(backend)[1]
    assert [new, new] == _states(backend)[4:]

    [fifth] = [i for i in backend.items("fake_lab") if i.reference == references[4]]
    by_id = rpa("run", "fake_lab", "--item", str(fifth.id))
    assert 0 == by_id.exit_code
    assert [refused, new] == _states(backend)[4:]
    last = max(backend.runs(), key=lambda run: run.started_at)
    assert {"business_exception": 1} == last.counts


def test_an_unknown_or_finished_item_exits_2_saying_what_to_do(
    rpa: Callable[..., Result], input_file: Path, references: list[str]
) -> None:
    """Nothing runs for an item that is not in the queue, or not waiting to run."""
    rpa("run", "fake_lab", "--input", str(input_file), "--limit", "1")

    unknown = rpa("run", "fake_lab", "--item", "nosuch|NPU00000")
    assert 2 == unknown.exit_code
    assert "no item matches in the queue of fake_lab" in unknown.stderr
    assert "`rpa queue fake_lab` lists its items" in unknown.stderr

    done = rpa("run", "fake_lab", "--item", references[0])
    assert 2 == done.exit_code
    assert "is done, not waiting to run" in done.stderr
    assert "rpa exceptions retry" in done.stderr

    workers = rpa("run", "fake_lab", "--item", references[1], "--workers", "2")
    assert 2 == workers.exit_code
    assert "--item run one worker" in workers.stderr
