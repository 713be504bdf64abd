"""`rpa run`, `rpa preflight`, `rpa check`, `rpa robots`: running, checking robots."""

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from robotlib.cli._app import (
    EXIT_INVALID,
    app,
    console,
    fail,
    open_project,
    print_json,
    print_table,
    shown,
    stop_on_signals,
)
from robotlib.cli._outcomes import (
    dry_run_record,
    progress_bar,
    report,
    summarise_preflight,
)
from robotlib.queue.models import ItemState

if TYPE_CHECKING:  # imported by the commands that use them: `rpa --help` is quick
    from robotlib.fleet import RemoteCrew
    from robotlib.project import Project
    from robotlib.workers import LocalWorkers

__all__ = ["check", "preflight", "robots", "run", "run_in_workers", "worker"]

#: `rpa preflight`'s exit code when the preflight failed.
_PREFLIGHT_FAILED = 1


class _Pause(StrEnum):
    PDB = "pdb"
    INSPECTOR = "inspector"


class _Trace(StrEnum):
    ALWAYS = "always"
    RETRIES = "retries"
    OFF = "off"


@app.command()
def run(
    ctx: typer.Context,
    robot: Annotated[str, typer.Argument(help="The robot's name (see `rpa robots`).")],
    input_file: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="The input file for the robot's source."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Process at most this many items.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Load and validate the input, show what would be enqueued and "
            "processed, and change nothing.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes, each with its own browser, claiming items from "
            "the same queue (one progress bar, one summary).",
        ),
    ] = 1,
    fleet: Annotated[
        bool,
        typer.Option(
            "--fleet",
            help="Share the items with the project's live agents (`rpa agent`): "
            "--workers N slots across them; with none live (or none taking within "
            "30 s) the workers run here. The scheduler sets it when agents are live.",
        ),
    ] = False,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id", hidden=True, help="The run's id (the scheduler sets it)."
        ),
    ] = None,
    item: Annotated[
        str | None,
        typer.Option(
            "--item",
            metavar="ID_OR_REFERENCE",
            help="Process this one item only (its id or its reference, as `rpa "
            "queue ROBOT` shows them), if it is due: to watch or debug it.",
        ),
    ] = None,
    headed: Annotated[
        bool,
        typer.Option(
            "--headed",
            help="Show the browser (it needs a display: on a server, xvfb-run "
            "rpa run ...; see docs/debugging.md).",
        ),
    ] = False,
    slowmo: Annotated[
        int,
        typer.Option(
            "--slowmo",
            min=0,
            max=60_000,
            metavar="MS",
            help="Wait this many milliseconds before every browser action.",
        ),
    ] = 0,
    trace: Annotated[
        _Trace | None,
        typer.Option(
            "--trace",
            help="Record a Playwright trace of every attempt ('always', and keep "
            "each one in the run folder: open it with `rpa show-trace FILE`), of "
            "retries only ('retries', the default) or none ('off').",
        ),
    ] = None,
    pause_on_failure: Annotated[
        _Pause | None,
        typer.Option(
            "--pause-on-failure",
            help="Stop at a system exception, before the screenshots and the "
            "restart: 'pdb' in the debugger where it was raised (a terminal is "
            "enough), 'inspector' in the Playwright Inspector on the page (it "
            "shows the browser: it needs a display).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the outcome as one JSON object, and nothing else on stdout "
            "(no progress bar; CPR numbers masked).",
        ),
    ] = False,
    stable_for: Annotated[
        float,
        typer.Option(
            "--stable-for",
            min=0,
            metavar="SECONDS",
            help="Read the input file only once its size and modification time "
            "have not changed for this many seconds (a file still being copied is "
            "not read half); refused if it still changes after ten times that, at "
            "least a minute. Scheduled runs pass the project's input_stable_s.",
        ),
    ] = 0.0,
) -> None:
    """Run a robot: load its input into the queue, then process the items.

    Every input row becomes a work item with a unique reference, so loading the
    same file twice adds nothing (a row repeating an earlier row's reference with
    other values is a business exception). With --workers N the input is loaded
    once and N worker processes share the items; each item is processed by
    exactly one, and a worker that dies is replaced (its item goes back to the
    queue). Ctrl+C stops after the current item (every worker's); a second Ctrl+C
    stops at once (the item goes back to the queue). Exit codes: 0 the run completed
    (business exceptions included), 1 it stopped (system exceptions, time limit,
    interrupted), 2 invalid robot, configuration or input, 3 it completed with
    more failed items than notify.failed_item_threshold. With --json, stdout is a
    JSON object (run id, status, counts by outcome, what was loaded, the log), also
    for --dry-run; messages and errors go to stderr.
    """
    parallel = workers > 1 or fleet
    if parallel and limit is not None:
        fail("--workers and --fleet cannot be combined with --limit.")
    debugging = {
        "--item": item is not None,
        "--headed": headed,
        "--slowmo": slowmo > 0,
        "--trace": trace is not None,
        "--pause-on-failure": pause_on_failure is not None,
    }
    if parallel and (used := [name for name, on in debugging.items() if on]):
        fail(f"{', '.join(used)} run one worker here: leave out --workers/--fleet.")
    given: dict[str, Any] = {"browser_slowmo_ms": slowmo} if slowmo else {}
    if pause_on_failure is not None:
        given["pause_on_failure"] = pause_on_failure.value
    if headed or pause_on_failure is _Pause.INSPECTOR:
        given["headless"] = False
    if trace is not None:
        given |= {"browser_trace": trace.value, "keep_traces": trace is _Trace.ALWAYS}
    level = "CRITICAL" if as_json else "WARNING"  # --json: the object alone
    with open_project(ctx, console_level=level, **given) as project:
        project.input_stable_s = stable_for
        if dry_run:
            report = project.engine(robot).dry_run(input_path=input_file)
            due = report.due_in_queue + len(report.new) + len(report.corrected)
            if as_json:
                print_json(dry_run_record(report, due))
                return
            console.print(
                f"{report.rows} rows read: {len(report.new)} would be enqueued, "
                f"{len(report.existing)} are in the queue already, "
                f"{len(report.corrected)} would be corrected, "
                f"{len(report.invalid)} are invalid."
            )
            for _reference, reason in report.invalid:
                console.print(
                    f"  invalid: {shown(reason)}", highlight=False, markup=False
                )
            console.print(f"{due} items would be processed. Nothing was changed.")
            return
        if parallel:
            run_in_workers(
                project,
                robot,
                workers=workers,
                input_path=input_file,
                run_id=run_id,
                as_json=as_json,
                fleet=fleet,
            )
            return
        only = _item_to_run(project, robot, item) if item is not None else None
        _run_here(
            project,
            robot,
            as_json=as_json,
            input_path=input_file,
            limit=limit,
            run_id=run_id,
            item_id=only,
        )


def _item_to_run(project: "Project", robot: str, wanted: str) -> int:
    """The id of the item ``--item`` names: by id, by reference, or as shown masked.

    Exits 2 when no item, or more than one, matches, or when it is not waiting.
    """
    name = project.robot(robot).robot.name
    items = project.backend.items(name)
    found = [i for i in items if str(i.id) == wanted or i.reference == wanted]
    found = found or [i for i in items if shown(i.reference) == wanted]
    if len(found) != 1:
        many = f"{len(found)} items match" if found else "no item matches"
        fail(
            f"--item {wanted}: {many} in the queue of {name}; `rpa queue {name}` "
            "lists its items with their ids"
        )
    [chosen] = found
    if chosen.state is not ItemState.NEW:
        fail(
            f"item {chosen.id} is {chosen.state.value}, not waiting to run: send it "
            f"back first (`rpa exceptions retry {chosen.id} --note ...`)"
        )
    return chosen.id


@app.command()
def worker(
    ctx: typer.Context,
    robot: Annotated[str, typer.Argument(help="The robot's name (see `rpa robots`).")],
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Worker processes to start on this machine."),
    ] = 1,
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", hidden=True, help="The run's id (rpa run sets it)."),
    ] = None,
    stop_with_parent: Annotated[
        bool,
        typer.Option(
            "--stop-with-parent",
            hidden=True,
            help="Stop after the current item when the process that started this "
            "one ends (rpa run --workers sets it).",
        ),
    ] = False,
) -> None:
    """Process a robot's queue without loading any input: add workers to a run.

    Start it on another machine whose RPA_DATABASE_URL names the same PostgreSQL
    database as the machine that ran `rpa run ROBOT` (which loads the input), or
    on the same machine. Each worker claims items until the queue is empty; every
    item is processed by exactly one worker. Ctrl+C stops after the current item;
    a second stops at once. Exit codes as for `rpa run`.
    """
    if workers > 1 and run_id is not None:
        fail("--workers cannot be combined with --run-id.")
    with open_project(ctx) as project:
        if workers > 1:
            run_in_workers(project, robot, workers=workers, load=False)
            return
        _run_here(
            project, robot, run_id=run_id, load=False, stop_with_parent=stop_with_parent
        )


def _run_here(
    project: "Project",
    robot: str,
    *,
    stop_with_parent: bool = False,
    as_json: bool = False,
    **run: Any,
) -> None:
    """One engine run in this process: a progress bar, Ctrl+C handling, a summary.

    ``run`` goes to :meth:`Engine.run` (input_path, limit, run_id, load).
    """
    from robotlib.engine import EXIT_OK

    stop = threading.Event()
    engine = project.engine(robot, stop=stop)
    if stop_with_parent:
        _stop_when_orphaned(stop)
    message = "Stopping after the current item (Ctrl+C again stops at once)."
    with progress_bar(visible=not as_json) as observer, stop_on_signals(stop, message):
        engine.observer = observer
        result = engine.run(**run)
    report(result, project.settings.logs, as_json=as_json)
    if result.exit_code != EXIT_OK:
        raise typer.Exit(result.exit_code)


def _stop_when_orphaned(stop: threading.Event) -> None:
    """Set ``stop`` once this process's parent has gone (it is then re-parented)."""
    import structlog

    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent:
                log = structlog.get_logger("robotlib.cli")
                log.warning("coordinator_gone", parent_pid=parent)
                stop.set()

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


def run_in_workers(
    project: "Project",
    robot: str,
    *,
    workers: int,
    input_path: Path | None = None,
    load: bool = True,
    run_id: str | None = None,
    as_json: bool = False,
    fleet: bool = False,
) -> None:
    """``rpa run --workers N`` and ``rpa worker --workers N``: one bar, one summary."""
    from robotlib.engine import EXIT_OK
    from robotlib.workers import run_workers

    stop, stop_now = threading.Event(), threading.Event()
    message = "Stopping every worker after its current item (Ctrl+C again: at once)."
    progress = progress_bar(visible=not as_json)
    with progress as observer, stop_on_signals(stop, message, again=stop_now):
        result = run_workers(
            project,
            robot,
            workers=workers,
            input_path=input_path,
            load=load,
            run_id=run_id,
            stop=stop,
            stop_now=stop_now,
            on_loaded=observer.loaded,
            on_progress=observer.show,
            elsewhere=_agents_of(project, robot) if fleet else None,
        )
    report(result, project.settings.logs, as_json=as_json)
    if result.exit_code != EXIT_OK:
        raise typer.Exit(result.exit_code)


def _agents_of(
    project: "Project", robot: str
) -> Callable[["LocalWorkers", str], "RemoteCrew"]:
    """The fleet's agents as the workers elsewhere of a run of ``robot``."""
    from robotlib.fleet import RemoteCrew
    from robotlib.notify import build_notifiers
    from robotlib.workers import MAX_RESTARTS

    notifiers = tuple(build_notifiers(project.settings, project.credentials))

    def make(local: "LocalWorkers", run_id: str) -> "RemoteCrew":
        return RemoteCrew(project, robot, run_id, local, MAX_RESTARTS, notifiers)

    return make


@app.command()
def preflight(
    ctx: typer.Context,
    robot: Annotated[str, typer.Argument(help="The robot's name (see `rpa robots`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check that a robot can log in and find its pages, changing nothing.

    Runs the robot's setup (log in), its preflight (open the pages it needs, check
    their fields and buttons) and teardown; the queue is not touched. Schedules run
    it before a batch. With --json the output is the JSON object alone (the events
    are in its log). Ctrl+C or SIGTERM ends it as failed, after teardown. Exit
    codes: 0 passed, 1 failed (the message says why; the log and screenshots are
    in the printed folder), 2 unknown robot or invalid configuration.
    """
    # --json: the object alone, even when stderr is merged into stdout
    level = "CRITICAL" if as_json else "WARNING"
    with open_project(ctx, console_level=level) as project:
        engine = project.engine(robot)
        with _interrupt_on_sigterm():
            result = engine.preflight()
    if as_json:
        print_json(
            {
                "robot": result.robot,
                "ok": result.ok,
                "message": result.message,
                "log": str(result.run_dir / "events.jsonl"),
                "duration_s": result.duration_s,
                "checked": result.checked,
            }
        )
    else:
        summarise_preflight(result)
    if not result.ok:
        raise typer.Exit(_PREFLIGHT_FAILED)


@app.command()
def check(
    ctx: typer.Context,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the robots, jobs and problems as one JSON object.",
        ),
    ] = False,
) -> None:
    """Validate every robot and schedule without running them.

    Each problem is reported with file and line: robots/*.py and schedules/*.toml
    (cron, time zone, calendar, robot name). Exits 2 when a robot has a problem or
    a schedule has one. With --json, stdout is one object: ``ok``, ``robots`` and
    ``jobs`` (name, file) and ``problems`` (file, line, message), with the same
    exit code.
    """
    from robotlib.schedule import check_schedules, load_schedules

    with open_project(ctx) as project:
        robots, problems = project.robots()
        jobs, schedule_problems = load_schedules(
            project.settings.project_dir / "schedules"
        )
        problems += schedule_problems + check_schedules(jobs, robots)
        if as_json:
            print_json(
                {
                    "ok": not problems,
                    "robots": [
                        {"name": name, "file": str(loaded.file)}
                        for name, loaded in sorted(robots.items())
                    ],
                    "jobs": [
                        {"name": job.name, "robot": job.robot, "file": str(job.file)}
                        for job in jobs
                        if job.robot in robots
                    ],
                    "problems": [
                        {"file": str(p.file), "line": p.line, "message": p.message}
                        for p in problems
                    ],
                }
            )
            if problems:
                raise typer.Exit(EXIT_INVALID)
            return
        for name, loaded in sorted(robots.items()):
            console.print(f"ok  {name}  ({loaded.file})", highlight=False, markup=False)
        for job in jobs:
            if job.robot in robots:
                console.print(
                    f"ok  job {job.name}  ({job.file})", highlight=False, markup=False
                )
        for problem in problems:
            console.print(f"[red]error[/red]  {escape(str(problem))}", highlight=False)
        if problems:
            fail(f"{len(problems)} problem(s) found.")
        jobs_checked = f" and {len(jobs)} scheduled job(s)" if jobs else ""
        console.print(f"{len(robots)} robot(s){jobs_checked} checked, no problems.")


@app.command()
def robots(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the project's robots with their queue counts."""
    with open_project(ctx) as project:
        found, problems = project.robots()
        rows: list[dict[str, Any]] = []
        for name, loaded in sorted(found.items()):
            counts = project.backend.counts(name)
            rows.append(
                {
                    "name": name,
                    "description": loaded.robot.description,
                    "file": str(loaded.file),
                    "counts": {str(state): n for state, n in counts.items()},
                }
            )
        if as_json:
            print_json(rows)
        else:
            print_table(
                "Robots",
                ["robot", "description", "new", "done", "exceptions", "failed"],
                [
                    [
                        r["name"],
                        r["description"],
                        r["counts"]["new"],
                        r["counts"]["done"],
                        r["counts"]["business_exception"],
                        r["counts"]["failed"],
                    ]
                    for r in rows
                ],
            )
        for problem in problems:
            console.print(f"[red]problem[/red] {escape(str(problem))}", highlight=False)


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM (the scheduler's time limit) interrupts a preflight as Ctrl+C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
