"""`rpa logs RUN`: a run's events for people, by level or item, never a full CPR."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from robotlib.queue import QueueBackend
from robotlib.queue.models import Run

#: The first line of an event: time, level, event name.
#: Each event's time is local, with its zone, as every command prints times.
EVENT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T (\w+) +(\w+)")


@pytest.fixture
def run(rpa: Callable[..., Result], input_file: Path, backend: QueueBackend) -> Run:
    """The run of fake_lab over input.json."""
    # exit 3: input.json has an item that fails for good
    assert 3 == rpa("run", "fake_lab", "--input", str(input_file)).exit_code
    [only] = backend.runs()
    return only


def events(output: str) -> list[tuple[str, str]]:
    """(level, event) of each event printed by `rpa logs`."""
    matches = [EVENT_LINE.match(line) for line in output.splitlines()]
    return [(m[1], m[2]) for m in matches if m]


def test_logs_print_every_event_of_the_run(
    rpa: Callable[..., Result], run: Run, full_cprs: Callable[[str], list[str]]
) -> None:
    """`rpa logs RUN` prints the run's events in order, from start to finish."""
    result = rpa("logs", run.id)

    assert 0 == result.exit_code
    printed = events(result.stdout)
    assert ("INFO", "run_started") == printed[0]
    assert ("INFO", "run_finished") == printed[-1]
    assert 6 == len([e for e in printed if e[1] == "item_started"])
    assert ("WARNING", "item_rejected") in printed
    assert 2 == printed.count(("WARNING", "item_business_exception"))
    assert 2 == printed.count(("ERROR", "item_system_exception"))
    assert [] == full_cprs(result.output)


def test_logs_at_level_error_show_only_errors(
    rpa: Callable[..., Result], run: Run
) -> None:
    """--level error keeps the error events (with their tracebacks) only."""
    result = rpa("logs", run.id, "--level", "error")

    assert 0 == result.exit_code
    assert [("ERROR", "item_system_exception")] * 2 == events(result.stdout)
    assert 2 == result.stdout.count(
        "robotlib.ApplicationError: the lab system answered HTTP 503"
    )


def test_logs_at_level_warning_include_business_exceptions(
    rpa: Callable[..., Result], run: Run
) -> None:
    """--level warning adds the warnings: rejected rows and business exceptions."""
    result = rpa("logs", run.id, "--level", "warning")

    assert {"WARNING", "ERROR"} == {level for level, _ in events(result.stdout)}
    assert 5 == len(events(result.stdout))


def test_logs_of_one_item_by_id(
    rpa: Callable[..., Result],
    run: Run,
    backend: QueueBackend,
    full_cprs: Callable[[str], list[str]],
) -> None:
    """--item ID keeps the events of that item only."""
    [item] = backend.items("fake_lab", reference="240512-4123|NPU02319")

    result = rpa("logs", run.id, "--item", str(item.id))

    assert 0 == result.exit_code
    assert [("INFO", "item_started"), ("WARNING", "item_business_exception")] == (
        events(result.stdout)
    )
    assert f"item_id={item.id}" in result.stdout
    assert "No patient with CPR cpr:" in result.stdout
    assert [] == full_cprs(result.output)


def test_logs_of_one_item_by_reference(
    rpa: Callable[..., Result], run: Run, full_cprs: Callable[[str], list[str]]
) -> None:
    """--item REFERENCE (with the CPR in clear) finds the item's hashed events."""
    result = rpa("logs", run.id, "--item", "050590-5678|OFFLINE")

    assert 0 == result.exit_code
    assert [
        ("INFO", "item_started"),
        ("ERROR", "item_system_exception"),
        ("INFO", "item_started"),
        ("ERROR", "item_system_exception"),
    ] == events(result.stdout)
    assert [] == full_cprs(result.output)


def test_logs_of_a_rejected_row_by_reference(
    rpa: Callable[..., Result], run: Run
) -> None:
    """A row rejected at loading is found by its reference."""
    result = rpa("logs", run.id, "--item", "030390-3456|NPU03230")

    assert [("WARNING", "item_rejected")] == events(result.stdout)


def test_logs_json_are_the_run_log_events(
    rpa: Callable[..., Result], run: Run, project: Path
) -> None:
    """--json prints each event as stored in events.jsonl."""
    result = rpa("logs", run.id, "--json", "--level", "error")

    decoder = json.JSONDecoder()
    text, printed = result.stdout.strip(), []
    while text:
        event, end = decoder.raw_decode(text)
        printed.append(event)
        text = text[end:].strip()
    stored = [
        json.loads(line)
        for line in (project / "logs" / "fake_lab" / run.id / "events.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    ]
    assert [e for e in stored if e["level"] == "error"] == printed


def test_logs_find_a_run_by_prefix_and_refuse_unknown_ones(
    rpa: Callable[..., Result], run: Run
) -> None:
    """A unique prefix is enough; an unknown run id exits 2."""
    by_prefix = rpa("logs", run.id[:-1], "--level", "error")
    unknown = rpa("logs", "nope")

    assert (0, 2) == (by_prefix.exit_code, unknown.exit_code)
    assert 2 == len(events(by_prefix.stdout))
    assert "no run 'nope'\n" == unknown.stderr


def test_logs_of_a_run_whose_folder_is_gone_exit_2(
    rpa: Callable[..., Result], run: Run, project: Path
) -> None:
    """A run whose events.jsonl was deleted exits 2 naming the missing file."""
    log = project / "logs" / "fake_lab" / run.id / "events.jsonl"
    log.unlink()

    result = rpa("logs", run.id)

    assert 2 == result.exit_code
    assert f"run {run.id} has no log at {log}\n" == result.stderr
