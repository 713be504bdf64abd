"""`rpa audit` and who the audit trail names for an action from the command line."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from robotlib.queue import QueueBackend, open_backend
from robotlib.queue.models import AuditEntry, WorkItem
from robotlib.settings import load_settings
from robotlib.testing import FakeClock

CLI_ACTOR = f"cli:{getpass.getuser()}"

UNKNOWN_PATIENT = "240512-4123|NPU02319"
INVALID_ROW = "030390-3456|NPU03230"


def table_rows(output: str) -> list[list[str]]:
    """The cells of each body row of a table printed to a pipe (tab-separated)."""
    return [line.split("\t") for line in output.splitlines() if "\t" in line][1:]


@pytest.fixture
def items(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> dict[str, WorkItem]:
    """The items of a fake_lab run over input.json, by reference."""
    assert 3 == rpa("run", "fake_lab", "--input", str(input_file)).exit_code
    return {item.reference: item for item in backend.items("fake_lab")}


@pytest.fixture
def at(project: Path) -> Iterator[Callable[..., AuditEntry]]:
    """Return a function that writes an audit entry as if at a given moment."""
    settings = load_settings(project)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    clock = FakeClock()
    queue = open_backend(settings.database, clock=clock)

    def record(moment: datetime, **entry: Any) -> AuditEntry:
        clock.now = moment
        return queue.record_audit(**{"note": "", **entry})

    yield record
    queue.close()


# Who acts from the command line -------------------------------------------------------


def test_retry_and_resolve_are_recorded_as_the_login_name(
    rpa: Callable[..., Result], backend: QueueBackend, items: dict[str, WorkItem]
) -> None:
    """The audit trail names a CLI action cli:<OS login name>."""
    retried = items[UNKNOWN_PATIENT].id
    resolved = items[INVALID_ROW].id

    retry = rpa("exceptions", "retry", str(retried), "--note", "patient created")
    resolve = rpa("exceptions", "resolve", str(resolved), "--note", "done by hand")

    assert (0, 0) == (retry.exit_code, resolve.exit_code)
    [retry_entry] = backend.audit_log(item_id=retried)
    [resolve_entry] = backend.audit_log(item_id=resolved)
    assert ("retry", CLI_ACTOR) == (retry_entry.action, retry_entry.actor)
    assert ("resolve", CLI_ACTOR) == (resolve_entry.action, resolve_entry.actor)


@pytest.mark.parametrize("command", ["retry", "resolve"])
def test_actor_cannot_be_given_on_the_command_line(
    rpa: Callable[..., Result],
    backend: QueueBackend,
    items: dict[str, WorkItem],
    command: str,
) -> None:
    """--actor is an unknown option: a shell user cannot act as a console user."""
    item_id = str(items[UNKNOWN_PATIENT].id)

    result = rpa("exceptions", command, item_id, "--note", "x", "--actor", "anna")

    assert 2 == result.exit_code
    assert "No such option: --actor" in result.stderr
    assert [] == backend.audit_log(item_id=int(item_id))


# rpa audit ----------------------------------------------------------------------------

NOV_1 = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 08:00 CET


@pytest.fixture
def trail(at: Callable[..., AuditEntry]) -> list[AuditEntry]:
    """Five entries a day apart from 1 November 2026, oldest first."""
    return [
        at(NOV_1, actor="anna", action="login", note="from 10.0.0.7"),
        at(NOV_1 + timedelta(days=1), actor="anna", action="retry", item_id=7),
        at(NOV_1 + timedelta(days=2), actor="cli:bo", action="resolve", item_id=7,
           note="registered by hand"),
        at(NOV_1 + timedelta(days=3), actor="anna", action="reveal_cpr", item_id=8,
           note="CPR number shown in the console to anna"),
        at(NOV_1 + timedelta(days=4), actor="cli:bo", action="user_add",
           note="carl (viewer)"),
    ]  # fmt: skip


def ids(result: Result) -> list[int]:
    """The entry ids of `rpa audit --json`, in order."""
    assert 0 == result.exit_code, result.stderr
    return [entry["id"] for entry in json.loads(result.stdout)]


def test_audit_lists_entries_newest_first_in_copenhagen_time(
    rpa: Callable[..., Result], trail: list[AuditEntry]
) -> None:
    """The table shows each entry with its time in Copenhagen and the zone."""
    result = rpa("audit")

    assert 0 == result.exit_code
    rows = table_rows(result.stdout)
    assert [str(e.id) for e in reversed(trail)] == [row[0] for row in rows]
    assert ["1", "2026-11-01 08:00:00 CET", "anna", "login", "", "from 10.0.0.7"] == (
        rows[-1]
    )
    assert ["cli:bo", "resolve", "7", "registered by hand"] == rows[2][2:]
    assert "older entries" not in result.stdout


def test_audit_filters_by_actor_action_and_item(
    rpa: Callable[..., Result], trail: list[AuditEntry]
) -> None:
    """--actor, --action and --item each keep the matching entries; together, all."""
    assert [5, 3] == ids(rpa("audit", "--actor", "cli:bo", "--json"))
    assert [2] == ids(rpa("audit", "--action", "retry", "--json"))
    assert [3, 2] == ids(rpa("audit", "--item", "7", "--json"))
    assert [2] == ids(rpa("audit", "--item", "7", "--actor", "anna", "--json"))
    assert [] == ids(rpa("audit", "--actor", "nobody", "--json"))


def test_audit_json_is_an_array_of_entries_in_utc(
    rpa: Callable[..., Result], trail: list[AuditEntry]
) -> None:
    """--json prints a JSON array; times are ISO in UTC."""
    result = rpa("audit", "--action", "resolve", "--json")

    assert 0 == result.exit_code
    assert [
        {
            "id": 3,
            "at": "2026-11-03T07:00:00+00:00",
            "actor": "cli:bo",
            "action": "resolve",
            "item_id": 7,
            "note": "registered by hand",
        }
    ] == json.loads(result.stdout)


def test_audit_since_takes_a_copenhagen_date_or_time(
    rpa: Callable[..., Result], trail: list[AuditEntry]
) -> None:
    """A date is its midnight in Copenhagen, a time without offset is Copenhagen
    time, a time with an offset is that moment."""
    assert [5, 4] == ids(rpa("audit", "--since", "2026-11-04", "--json"))
    # 2 November 08:00 CET is 07:00 UTC: the entry at that moment is kept
    assert [5, 4, 3, 2] == ids(rpa("audit", "--since", "2026-11-02T08:00", "--json"))
    assert [5, 4, 3] == ids(rpa("audit", "--since", "2026-11-02T08:01", "--json"))
    assert [5, 4, 3, 2] == ids(
        rpa("audit", "--since", "2026-11-02T07:00+00:00", "--json")
    )


def test_audit_since_takes_an_age(
    rpa: Callable[..., Result], at: Callable[..., AuditEntry]
) -> None:
    """--since 7d keeps the last seven days; 36h the last day and a half."""
    now = datetime.now(UTC)
    at(now - timedelta(days=10), actor="anna", action="login")
    at(now - timedelta(days=2), actor="anna", action="retry")
    at(now - timedelta(hours=1), actor="anna", action="logout")

    assert [3, 2] == ids(rpa("audit", "--since", "7d", "--json"))
    assert [3] == ids(rpa("audit", "--since", "36h", "--json"))
    assert [3, 2, 1] == ids(rpa("audit", "--since", "2w", "--json"))


@pytest.mark.parametrize("since", ["yesterday", "7x", "2026-13-01", "1.5d", ""])
def test_audit_refuses_a_bad_since(
    rpa: Callable[..., Result], trail: list[AuditEntry], since: str
) -> None:
    """A --since that is neither an age nor a date or time exits 2 and says what
    it takes."""
    result = rpa("audit", "--since", since)

    assert 2 == result.exit_code
    assert (
        "--since takes an age such as 7d, 36h or 2w, or a date or time in "
        f"Copenhagen time such as 2026-12-01 or 2026-12-01T08:30 (got {since!r})\n"
    ) == result.stderr
    assert "" == result.stdout


def test_audit_refuses_a_zero_age(
    rpa: Callable[..., Result], trail: list[AuditEntry]
) -> None:
    """--since 0d is no age: exit 2 naming --since."""
    result = rpa("audit", "--since", "0d")

    assert 2 == result.exit_code
    assert "--since takes a number and d, w or h" in result.stderr


def test_audit_limit_shows_the_newest_and_says_there_are_more(
    rpa: Callable[..., Result], trail: list[AuditEntry]
) -> None:
    """--limit N shows the newest N; the table says older entries match too."""
    limited = rpa("audit", "--limit", "2")
    exact = rpa("audit", "--limit", "5")

    assert ["5", "4"] == [row[0] for row in table_rows(limited.stdout)]
    assert "Showing the newest 2; older entries match too" in limited.stdout
    assert "older entries" not in exact.stdout
    assert [5, 4] == ids(rpa("audit", "--limit", "2", "--json"))
    assert 2 == rpa("audit", "--limit", "0").exit_code


def test_audit_limit_defaults_to_50(
    rpa: Callable[..., Result], at: Callable[..., AuditEntry]
) -> None:
    """Without --limit, the newest 50 entries."""
    for n in range(55):
        at(NOV_1 + timedelta(minutes=n), actor="anna", action="login")

    assert list(range(55, 5, -1)) == ids(rpa("audit", "--json"))


def test_audit_masks_cpr_numbers_in_notes_and_actors(
    rpa: Callable[..., Result],
    at: Callable[..., AuditEntry],
    full_cprs: Callable[[str], list[str]],
) -> None:
    """A CPR number typed into a note, or as a login name, shows masked."""
    at(NOV_1, actor="240512-4123", action="login_failed", note="from 10.0.0.7")
    at(NOV_1, actor=CLI_ACTOR, action="retry", item_id=1,
       note="patient 2405124123 and 010190-1234 created in EPJ")  # fmt: skip

    table = rpa("audit")
    as_json = rpa("audit", "--json")

    assert [] == full_cprs(table.stdout + as_json.stdout)
    assert "240512-****" in table.stdout
    [retry, failed] = json.loads(as_json.stdout)
    assert "240512-****" == failed["actor"]
    assert "010190-****" in retry["note"]


def test_audit_shows_the_cli_actions_of_this_session(
    rpa: Callable[..., Result], items: dict[str, WorkItem]
) -> None:
    """A retry from the command line shows in `rpa audit` under cli:<login name>."""
    item_id = items[UNKNOWN_PATIENT].id
    rpa("exceptions", "retry", str(item_id), "--note", "patient created")

    [entry] = json.loads(rpa("audit", "--actor", CLI_ACTOR, "--json").stdout)

    assert (item_id, "retry", "patient created") == (
        entry["item_id"],
        entry["action"],
        entry["note"],
    )
