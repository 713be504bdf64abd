"""`rpa queue` and `rpa exceptions`: the morning review, retry and resolve."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from robotlib.queue import QueueBackend
from robotlib.queue.models import ItemState, WorkItem


@pytest.fixture
def items(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> dict[str, WorkItem]:
    """The items of a fake_lab run over input.json, by reference."""
    # exit 3: input.json has an item that fails for good
    assert 3 == rpa("run", "fake_lab", "--input", str(input_file)).exit_code
    return {item.reference: item for item in backend.items("fake_lab")}


def table_rows(output: str) -> list[list[str]]:
    """The cells of each body row of a table printed to a pipe (tab-separated)."""
    return [line.split("\t") for line in output.splitlines() if "\t" in line][1:]


def item_ids(items: dict[str, WorkItem], *references: str) -> list[str]:
    """The ids of the items with these references, as command arguments."""
    return [str(items[reference].id) for reference in references]


UNKNOWN_PATIENT = "240512-4123|NPU02319"
INVALID_ROW = "030390-3456|NPU03230"
IMPLAUSIBLE = "040490-4567|NPU19748"
OFFLINE = "050590-5678|OFFLINE"


# rpa queue ----------------------------------------------------------------------------


def test_queue_shows_counts_and_items_with_cpr_masked(
    rpa: Callable[..., Result],
    items: dict[str, WorkItem],
    full_cprs: Callable[[str], list[str]],
) -> None:
    """`rpa queue ROBOT` prints counts by state, then every item, CPR as DDMMYY-****."""
    result = rpa("queue", "fake_lab")

    assert 0 == result.exit_code
    lines = result.stdout.splitlines()
    assert (
        "new 0 · in_progress 0 · done 2 · business_exception 3 · failed 1 · resolved 0"
        == lines[0]
    )
    rows = table_rows(result.stdout)
    assert [
        ["010190-****|NPU02319", "done", "1"],
        ["240512-****|NPU02319", "business_exception", "1"],
        ["020290-****|NPU01370", "done", "1"],
        ["030390-****|NPU03230", "business_exception", "0"],
        ["040490-****|NPU19748", "business_exception", "1"],
        ["050590-****|OFFLINE", "failed", "2"],
    ] == [row[1:4] for row in rows]
    assert [str(item.id) for item in items.values()] == [row[0] for row in rows]
    implausible = rows[4][4]
    assert "value 99.0 [mmol/L] of NPU19748 is outside 0-50: check the sample" == (
        implausible
    )
    assert [] == full_cprs(result.output)


def test_queue_shows_cpr_in_clear_when_asked(
    rpa: Callable[..., Result], items: dict[str, WorkItem], references: list[str]
) -> None:
    """--show-cpr prints the references as stored."""
    result = rpa("queue", "fake_lab", "--show-cpr")

    assert references == [row[1] for row in table_rows(result.stdout)]


def test_queue_filters_by_state(
    rpa: Callable[..., Result], items: dict[str, WorkItem]
) -> None:
    """--state business_exception lists those items only; the counts stay whole."""
    one = rpa("queue", "fake_lab", "--state", "business_exception")
    two = rpa("queue", "fake_lab", "--state", "done", "--state", "failed")

    assert [
        ["240512-****|NPU02319", "business_exception"],
        ["030390-****|NPU03230", "business_exception"],
        ["040490-****|NPU19748", "business_exception"],
    ] == [row[1:3] for row in table_rows(one.stdout)]
    assert ["done", "done", "failed"] == [row[2] for row in table_rows(two.stdout)]
    assert one.stdout.splitlines()[0] == two.stdout.splitlines()[0]


def test_queue_refuses_an_unknown_state(
    rpa: Callable[..., Result], items: dict[str, WorkItem]
) -> None:
    """A state that does not exist exits 2 and lists the valid ones."""
    result = rpa("queue", "fake_lab", "--state", "broken")

    assert 2 == result.exit_code
    assert "business_exception" in result.stderr


def test_queue_json_has_counts_and_items(
    rpa: Callable[..., Result], items: dict[str, WorkItem]
) -> None:
    """--json gives the counts and the items (masked unless --show-cpr)."""
    masked = json.loads(rpa("queue", "fake_lab", "--json", "--last", "1").stdout)
    clear = json.loads(
        rpa("queue", "fake_lab", "--json", "--show-cpr", "--state", "failed").stdout
    )

    assert {
        "new": 0,
        "in_progress": 0,
        "done": 2,
        "business_exception": 3,
        "failed": 1,
        "resolved": 0,
    } == masked["counts"]
    [last] = masked["items"]
    assert ("050590-****|OFFLINE", "failed", 2, "ApplicationError") == (
        last["reference"],
        last["state"],
        last["attempts"],
        last["error_type"],
    )
    [failed] = clear["items"]
    assert (OFFLINE, items[OFFLINE].id) == (failed["reference"], failed["id"])
    assert 2 == len(failed["artifacts"])


# rpa exceptions -----------------------------------------------------------------------


def test_exceptions_lists_every_robots_exception_items(
    rpa: Callable[..., Result],
    add_robot: Callable[..., Path],
    input_file: Path,
    items: dict[str, WorkItem],
    full_cprs: Callable[[str], list[str]],
) -> None:
    """`rpa exceptions` lists business exceptions and failed items of all robots."""
    add_robot("lab_offline", always_down=True, stop_after=2)
    rpa("run", "lab_offline", "--input", str(input_file))

    result = rpa("exceptions")

    assert 0 == result.exit_code
    assert [
        ["240512-****|NPU02319", "business_exception"],
        ["030390-****|NPU03230", "business_exception"],
        ["040490-****|NPU19748", "business_exception"],
        ["050590-****|OFFLINE", "failed"],
        ["010190-****|NPU02319", "failed"],
        ["030390-****|NPU03230", "business_exception"],
    ] == [row[1:3] for row in table_rows(result.stdout)]
    assert "rpa exceptions retry ID... --note TEXT" in result.stdout
    assert [] == full_cprs(result.output)


def test_exceptions_of_one_robot(
    rpa: Callable[..., Result],
    add_robot: Callable[..., Path],
    input_file: Path,
    items: dict[str, WorkItem],
) -> None:
    """`rpa exceptions ROBOT` lists that robot's exception items only."""
    add_robot("lab_offline", always_down=True, stop_after=2)
    rpa("run", "lab_offline", "--input", str(input_file))

    result = rpa("exceptions", "fake_lab")

    assert 0 == result.exit_code
    assert item_ids(items, UNKNOWN_PATIENT, INVALID_ROW, IMPLAUSIBLE, OFFLINE) == [
        row[0] for row in table_rows(result.stdout)
    ]
    reasons = [row[4] for row in table_rows(result.stdout)]
    assert reasons[1].startswith("row 4: column 'value': Input should be a valid")
    assert "the lab system answered HTTP 503" == reasons[3]


def test_exceptions_json_and_show_cpr(
    rpa: Callable[..., Result], items: dict[str, WorkItem]
) -> None:
    """`rpa exceptions ROBOT --json` is masked; with --show-cpr it is clear."""
    masked = json.loads(rpa("exceptions", "fake_lab", "--json").stdout)
    clear = json.loads(rpa("exceptions", "fake_lab", "--json", "--show-cpr").stdout)

    assert ["240512-****|NPU02319", "030390-****|NPU03230"] == [
        i["reference"] for i in masked[:2]
    ]
    assert [UNKNOWN_PATIENT, INVALID_ROW, IMPLAUSIBLE, OFFLINE] == [
        i["reference"] for i in clear
    ]


def test_exceptions_of_a_quiet_robot_are_empty(
    rpa: Callable[..., Result], add_robot: Callable[..., Path]
) -> None:
    """A robot without exception items lists none and gives no advice."""
    add_robot("other_lab")

    result = rpa("exceptions", "other_lab", "--json")

    assert (0, []) == (result.exit_code, json.loads(result.stdout))


def test_retry_sends_items_back_audited_and_the_next_run_processes_them(
    rpa: Callable[..., Result],
    project: Path,
    input_file: Path,
    backend: QueueBackend,
    items: dict[str, WorkItem],
    registrations: Callable[[], list[dict[str, Any]]],
) -> None:
    """Retried items are new with 0 attempts, audited, and done by the next run."""
    patients = project / "lab_system" / "patients.json"
    known = json.loads(patients.read_text(encoding="utf-8"))
    patients.write_text(json.dumps([*known, "240512-4123"]), encoding="utf-8")
    ids = item_ids(items, UNKNOWN_PATIENT, OFFLINE)

    result = rpa(
        "exceptions", "retry", *ids, "--note", "patient 240512-4123 created in EPJ"
    )

    assert 0 == result.exit_code
    assert "2 item(s) sent back to the queue.\n" == result.stdout
    for item_id in map(int, ids):
        item = backend.get(item_id)
        assert (ItemState.NEW, 0) == (item.state, item.attempts)
        [entry] = backend.audit_log(item_id=item_id)
        assert (
            "retry",
            f"cli:{getpass.getuser()}",
            "patient 240512-4123 created in EPJ",
        ) == (entry.action, entry.actor, entry.note)

    again = rpa("run", "fake_lab", "--input", str(input_file))

    assert 3 == again.exit_code  # the OFFLINE item failed again
    assert "Loaded: 0 new item(s), 6 already queued, 0 corrected." in again.stdout
    assert "done 1 · business exceptions 0 · failed 1 · retried 1" in again.stdout
    assert (ItemState.DONE, 1) == (
        backend.get(int(ids[0])).state,
        backend.get(int(ids[0])).attempts,
    )
    assert (ItemState.FAILED, 2) == (
        backend.get(int(ids[1])).state,
        backend.get(int(ids[1])).attempts,
    )
    assert "240512-4123" == registrations()[-1]["cpr"]


def test_resolve_closes_items_with_an_audited_note(
    rpa: Callable[..., Result], backend: QueueBackend, items: dict[str, WorkItem]
) -> None:
    """Resolved items leave the exception queue; the note and actor are audited."""
    ids = item_ids(items, INVALID_ROW, IMPLAUSIBLE)

    result = rpa("exceptions", "resolve", *ids, "--note", "registered by hand in EPJ")

    assert 0 == result.exit_code
    assert "2 item(s) resolved.\n" == result.stdout
    for item_id in map(int, ids):
        assert ItemState.RESOLVED == backend.get(item_id).state
        [entry] = backend.audit_log(item_id=item_id)
        assert ("resolve", f"cli:{getpass.getuser()}", "registered by hand in EPJ") == (
            entry.action,
            entry.actor,
            entry.note,
        )
    left = json.loads(rpa("exceptions", "fake_lab", "--json").stdout)
    assert item_ids(items, UNKNOWN_PATIENT, OFFLINE) == [str(i["id"]) for i in left]


def test_resolve_needs_a_note(
    rpa: Callable[..., Result], backend: QueueBackend, items: dict[str, WorkItem]
) -> None:
    """Resolving without --note, or with a blank one, exits 2 and changes nothing."""
    [item_id] = item_ids(items, IMPLAUSIBLE)

    missing = rpa("exceptions", "resolve", item_id)
    blank = rpa("exceptions", "resolve", item_id, "--note", "   ")

    assert 2 == missing.exit_code
    assert "Missing option '--note'" in missing.stderr
    assert (2, "resolving needs a note that says what was done (--note TEXT)\n") == (
        blank.exit_code,
        blank.stderr,
    )
    assert ItemState.BUSINESS_EXCEPTION == backend.get(int(item_id)).state
    assert [] == backend.audit_log()


def test_retry_of_a_done_item_exits_2_and_changes_nothing(
    rpa: Callable[..., Result], backend: QueueBackend, items: dict[str, WorkItem]
) -> None:
    """Retrying a done item exits 2 with a clear message; the batch is untouched."""
    done = items["010190-1234|NPU02319"]
    unknown = items[UNKNOWN_PATIENT]

    result = rpa(
        "exceptions", "retry", str(unknown.id), str(done.id), "--note", "try again"
    )

    assert 2 == result.exit_code
    assert f"work item {done.id} is done: cannot retry it\n" == result.stderr
    assert "Traceback" not in result.output
    assert (ItemState.DONE, ItemState.BUSINESS_EXCEPTION) == (
        backend.get(done.id).state,
        backend.get(unknown.id).state,
    )
    assert [] == backend.audit_log()


def test_retry_of_an_unknown_item_exits_2(
    rpa: Callable[..., Result], items: dict[str, WorkItem]
) -> None:
    """An id no item has exits 2 naming it."""
    result = rpa("exceptions", "retry", "999", "--note", "x")

    assert (2, "no work item with id 999\n") == (result.exit_code, result.stderr)


def test_retry_needs_item_ids(rpa: Callable[..., Result]) -> None:
    """`rpa exceptions retry` without ids is a usage error, exit 2."""
    result = rpa("exceptions", "retry", "--note", "x")

    assert 2 == result.exit_code
    assert "Missing argument" in result.stderr
