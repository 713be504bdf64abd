"""`rpa audit`: who did what to which item, and when, read from the audit trail."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from robotlib.cli._app import (
    app,
    console,
    fail,
    local,
    open_project,
    parse_age,
    print_json,
    print_table,
    shown,
)
from robotlib.queue.models import AuditEntry

__all__ = ["audit"]

#: An age for --since: a whole number of days, hours or weeks.
_AGE = re.compile(r"\d+[dhw]", re.IGNORECASE)
_SINCE_HELP = (
    "Only entries from this moment on: an age (7d, 36h, 2w) or a date or time "
    "in Copenhagen time (2026-12-01, 2026-12-01T08:30; an offset such as +00:00 "
    "is honoured)."
)


@app.command()
def audit(
    ctx: typer.Context,
    actor: Annotated[
        str | None,
        typer.Option(
            help="Only this actor's entries: a console user (anna) or a shell user "
            "(cli:anna)."
        ),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(help="Only this action: retry, resolve, login, download_trace..."),
    ] = None,
    item: Annotated[
        int | None, typer.Option(help="Only the entries of this item (its id).")
    ] = None,
    since: Annotated[str | None, typer.Option(help=_SINCE_HELP)] = None,
    limit: Annotated[
        int, typer.Option(min=1, help="How many entries to show, newest first.")
    ] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array (times in UTC).")
    ] = False,
) -> None:
    """Show the audit trail, newest first: retries, resolutions, corrections, logins,
    CPR reveals, trace downloads, user changes and schedule pauses.

    An action from the command line is recorded as cli:<login name>. CPR numbers in
    notes are masked; times are Copenhagen time in the table, UTC in JSON.
    """
    start = _since(since) if since is not None else None
    with open_project(ctx) as project:
        # one more than asked for: whether to say that older entries exist
        found = project.backend.audit_log(
            item_id=item, actor=actor, action=action, since=start, limit=limit + 1
        )
    entries, more = found[:limit], len(found) > limit
    if as_json:
        print_json([_entry(e) for e in entries])
        return
    print_table(
        "Audit trail",
        ["id", "at", "actor", "action", "item", "note"],
        [
            [
                e.id, local(e.at), shown(e.actor), e.action,
                "" if e.item_id is None else e.item_id, shown(e.note),
            ]
            for e in entries
        ],
    )  # fmt: skip
    if more:
        console.print(
            f"Showing the newest {limit}; older entries match too (--limit N, "
            "--since AGE).",
            highlight=False,
            markup=False,
        )


def _since(text: str) -> datetime:
    """The moment --since names; anything else exits 2 saying what it takes."""
    value = text.strip()
    if _AGE.fullmatch(value):
        return datetime.now(UTC) - parse_age(value, "--since")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(
            "--since takes an age such as 7d, 36h or 2w, or a date or time in "
            f"Copenhagen time such as 2026-12-01 or 2026-12-01T08:30 (got {text!r})"
        )
    if moment.tzinfo is None:  # Copenhagen time; a date alone: from its midnight
        from robotlib.settings import DISPLAY_TZ

        moment = moment.replace(tzinfo=DISPLAY_TZ)
    return moment.astimezone(UTC)


def _entry(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.astimezone(UTC),
        "actor": shown(entry.actor),
        "action": entry.action,
        "item_id": entry.item_id,
        "note": shown(entry.note),
    }
