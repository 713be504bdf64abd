"""The morning review: `rpa runs`, `rpa logs`, `rpa queue`, `rpa exceptions`."""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from robotlib.cli._app import (
    app,
    cli_actor,
    console,
    fail,
    local,
    open_project,
    print_json,
    print_table,
    shown,
)
from robotlib.cli._options import OptionsAnywhere, only_without_command
from robotlib.queue.models import EXCEPTION_STATES, ItemState, Outcome, Run, WorkItem

if TYPE_CHECKING:
    from robotlib.project import Project

__all__ = ["exceptions_app", "runs_app"]

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class _Level(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


ShowCpr = Annotated[
    bool,
    typer.Option("--show-cpr", help="Show CPR numbers in clear (masked by default)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


# rpa runs -----------------------------------------------------------------------------

runs_app = typer.Typer(
    cls=OptionsAnywhere,
    help="List runs, newest first; `rpa runs show RUN` shows one.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(runs_app, name="runs")


@runs_app.callback()
def runs(
    ctx: typer.Context,
    robot: Annotated[str | None, typer.Option(help="Only this robot's runs.")] = None,
    last: Annotated[int, typer.Option(min=1, help="How many runs to list.")] = 20,
    as_json: AsJson = False,
) -> None:
    """List runs, newest first: status, times, counts by outcome."""
    only_without_command(ctx, "rpa runs")
    if ctx.invoked_subcommand is not None:
        return
    with open_project(ctx) as project:
        if robot is not None:
            project.check_robot_name(robot)
        found = project.backend.runs(robot, limit=last)
        if as_json:
            print_json(found)
            return
        print_table(
            "Runs",
            ["run", "robot", "status", "started", "finished", "done", "exceptions",
             "failed", "note"],
            [
                [
                    r.id, r.robot, r.status, local(r.started_at), local(r.finished_at),
                    r.counts.get(Outcome.DONE, 0),
                    r.counts.get(Outcome.BUSINESS_EXCEPTION, 0),
                    r.counts.get(Outcome.FAILED, 0), shown(r.note),
                ]
                for r in found
            ],
        )  # fmt: skip


@runs_app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run id (or a unique prefix).")],
    show_cpr: ShowCpr = False,
    as_json: AsJson = False,
) -> None:
    """Show one run: summary, where its files are, and its items by outcome."""
    with open_project(ctx) as project:
        run = _find_run(project, run_id)
        items = project.backend.items(run.robot, run_id=run.id)
        folder = project.run_dir(run)
        if as_json:
            print_json(
                {
                    "run": run,
                    "folder": folder,
                    "items": [_item(i, clear=show_cpr) for i in items],
                }
            )
            return
        console.print(f"Run {run.id} of {run.robot}: {run.status}", highlight=False)
        console.print(
            f"  started {local(run.started_at)}, finished {local(run.finished_at)} "
            f"on {run.host} (pid {run.pid})",
            highlight=False,
        )
        if run.note:
            console.print(
                f"  note: {shown(run.note, clear=show_cpr)}",
                highlight=False,
                markup=False,
            )
        console.print(f"  code: {_code(run)}", highlight=False)
        console.print(f"  counts: {run.counts}", highlight=False)
        console.print(f"  folder: {folder}", highlight=False, markup=False)
        _print_items(f"Items of run {run.id}", items, clear=show_cpr)


def _find_run(project: "Project", run_id: str) -> Any:
    try:
        return project.find_run(run_id)
    except KeyError as exc:
        fail(str(exc.args[0]))


# rpa logs -----------------------------------------------------------------------------


@app.command()
def logs(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run id (or a unique prefix).")],
    level: Annotated[
        _Level, typer.Option(help="Only events at this level or above.")
    ] = _Level.INFO,
    item: Annotated[
        str | None,
        typer.Option(help="Only events of this item: its id or its reference."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Print a run's events (events.jsonl) for people, filtered by level or item."""
    from robotlib.logs import read_events

    with open_project(ctx) as project:
        run = _find_run(project, run_id)
        path = project.run_dir(run) / "events.jsonl"
        if not path.exists():
            fail(f"run {run.id} has no log at {path}")
        minimum = _LEVELS[level.value]
        wanted_item = None
        if item is not None and not item.isdigit():
            wanted_item = project.redactor.redact(item)
        for event in read_events(path):
            if _LEVELS.get(str(event.get("level", "info")).lower(), 20) < minimum:
                continue
            if item is not None and not (
                str(event.get("item_id")) == item
                or (wanted_item is not None and event.get("item") == wanted_item)
            ):
                continue
            if as_json:
                print_json(event)
            else:
                console.print(_event_line(event), highlight=False, markup=False)


def _event_time(event: dict[str, Any]) -> str:
    """The event's time as the other commands show times: local, with its zone."""
    try:
        return local(datetime.fromisoformat(str(event.get("timestamp"))))
    except ValueError:
        return str(event.get("timestamp", ""))


def _event_line(event: dict[str, Any]) -> str:
    skip = {"timestamp", "level", "event", "robot", "run_id", "exception"}
    fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in skip)
    line = (
        f"{_event_time(event)} {str(event.get('level', '')).upper():7} "
        f"{event.get('event', '')} {fields}"
    )
    if "exception" in event:
        line += "\n" + str(event["exception"])
    return line


# rpa queue ----------------------------------------------------------------------------


@app.command()
def queue(
    ctx: typer.Context,
    robot: Annotated[str, typer.Argument(help="The robot's name.")],
    state: Annotated[
        list[ItemState] | None,
        typer.Option(help="Only items in this state (repeat for several)."),
    ] = None,
    last: Annotated[int, typer.Option(min=1, help="How many items to list.")] = 50,
    show_cpr: ShowCpr = False,
    as_json: AsJson = False,
) -> None:
    """Show a robot's queue: counts by state and the items."""
    with open_project(ctx) as project:
        project.check_robot_name(robot)
        counts = project.backend.counts(robot)
        items = project.backend.items(robot, states=state)[-last:]
        if as_json:
            print_json(
                {
                    "counts": {str(k): v for k, v in counts.items()},
                    "items": [_item(i, clear=show_cpr) for i in items],
                }
            )
            return
        console.print(
            " · ".join(f"{s.value} {n}" for s, n in counts.items()), highlight=False
        )
        _print_items(f"Queue of {robot}", items, clear=show_cpr)


# rpa exceptions -----------------------------------------------------------------------


class _RobotOrCommand(OptionsAnywhere):
    """`rpa exceptions ROBOT` lists that robot's; `retry` and `resolve` act."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().resolve_command(ctx, args)


exceptions_app = typer.Typer(
    cls=_RobotOrCommand,
    help="The exception queue: `rpa exceptions [ROBOT]` lists items waiting for a "
    "person; `retry` sends them back after the data is fixed; `resolve` closes them "
    "with a note.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(exceptions_app, name="exceptions")


@exceptions_app.callback()
def exceptions(
    ctx: typer.Context, show_cpr: ShowCpr = False, as_json: AsJson = False
) -> None:
    """Items in business_exception or failed state, waiting for an operator."""
    only_without_command(ctx, "rpa exceptions")
    if ctx.invoked_subcommand is None:
        _list_exceptions(ctx, None, clear=show_cpr, as_json=as_json)


@exceptions_app.command("list")
def list_exceptions(
    ctx: typer.Context,
    robot: Annotated[str | None, typer.Argument(help="Only this robot's.")] = None,
    show_cpr: ShowCpr = False,
    as_json: AsJson = False,
) -> None:
    """List items waiting for a person: id, reference, reason, age, attempts."""
    _list_exceptions(ctx, robot, clear=show_cpr, as_json=as_json)


def _list_exceptions(
    ctx: typer.Context, robot: str | None, *, clear: bool, as_json: bool
) -> None:
    with open_project(ctx) as project:
        if robot is not None:
            project.check_robot_name(robot)
        items = project.backend.items(robot, states=EXCEPTION_STATES)
        if as_json:
            print_json([_item(i, clear=clear) for i in items])
            return
        _print_items("Exception queue", items, clear=clear)
        if items:
            console.print(
                "Fix the data, then `rpa exceptions retry ID... --note TEXT`, or close "
                "with `rpa exceptions resolve ID... --note TEXT`."
            )


@exceptions_app.command("retry")
def retry_items(
    ctx: typer.Context,
    item_ids: Annotated[list[int], typer.Argument(help="Item ids.")],
    note: Annotated[str, typer.Option(help="Why; kept in the audit trail.")] = "",
) -> None:
    """Send items back to the queue (after the data is fixed); audited.

    The audit trail names you as cli:<your login name>.
    """
    with open_project(ctx) as project:
        done = project.backend.retry(item_ids, actor=cli_actor(), note=note)
        console.print(f"{len(done)} item(s) sent back to the queue.")


@exceptions_app.command("resolve")
def resolve_items(
    ctx: typer.Context,
    item_ids: Annotated[list[int], typer.Argument(help="Item ids.")],
    note: Annotated[
        str, typer.Option(help="What was done about it (required); audited.")
    ],
) -> None:
    """Close items as resolved, with a note saying what was done; audited.

    The audit trail names you as cli:<your login name>.
    """
    if not note.strip():
        fail("resolving needs a note that says what was done (--note TEXT)")
    with open_project(ctx) as project:
        done = project.backend.resolve(item_ids, actor=cli_actor(), note=note)
        console.print(f"{len(done)} item(s) resolved.")


# Shared -------------------------------------------------------------------------------


def _item(item: WorkItem, *, clear: bool = False) -> dict[str, Any]:
    return {
        "id": item.id,
        "robot": item.robot,
        "reference": shown(item.reference, clear=clear),
        "state": item.state.value,
        "attempts": item.attempts,
        "stages": list(item.finished_stages),
        "error_type": item.error_type,
        "error": shown(item.error_message, clear=clear),
        "output": item.output,
        "artifacts": list(item.artifacts),
        "created_at": item.created_at,
        "finished_at": item.finished_at,
        "run_id": item.run_id,
    }


def _print_items(title: str, items: list[WorkItem], *, clear: bool) -> None:
    print_table(
        title,
        ["id", "reference", "state", "attempts", "reason", "created", "run"],
        [
            [
                i.id, shown(i.reference, clear=clear), i.state.value, i.attempts,
                shown(i.error_message, clear=clear), local(i.created_at),
                i.run_id or "",
            ]
            for i in items
        ],
    )  # fmt: skip


def _code(run: Run) -> str:
    """The code a run ran, in one line (the JSON has every digit)."""
    if not run.robot_sha256:
        return "not recorded"
    commit = run.git_commit[:12] or "not in a git checkout"
    return (
        f"robotlib {run.robotlib_version}, robot file SHA-256 "
        f"{run.robot_sha256[:12]}, commit {commit}"
    )
