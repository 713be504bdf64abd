"""`rpa scheduler`, `rpa schedules`: running and inspecting scheduled jobs."""

import logging
from datetime import UTC, datetime
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
    stop_on_signals,
)
from robotlib.cli._options import OptionsAnywhere, only_without_command

if TYPE_CHECKING:
    from robotlib.scheduler import JobStatus, Pause

__all__ = ["pause_job", "resume_job", "run_now", "scheduler", "schedules"]

schedules_app = typer.Typer(
    cls=OptionsAnywhere,
    name="schedules",
    help="List the jobs of schedules/*.toml with their next fire times (local "
    "time), whether a scheduler is active, and each job's last outcome; "
    "`rpa schedules run-now JOB` fires one now; `rpa schedules pause JOB --note "
    "TEXT` and `rpa schedules resume JOB` pause and resume one.",
    no_args_is_help=False,
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(schedules_app)


@app.command()
def scheduler(
    ctx: typer.Context,
    poll: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds between lock renewals, schedule file checks and, on "
            "standby, takeover attempts.",
        ),
    ] = 5.0,
    lock_ttl: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Seconds a SQLite scheduler lock lasts unrenewed: a standby takes "
            "over this long after the active scheduler died.",
        ),
    ] = 60.0,
    term_grace: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="At a run's maximum run time: seconds between SIGTERM (finish the "
            "current item) and the kill.",
        ),
    ] = 60.0,
) -> None:
    """Run the scheduler: fire the jobs of schedules/*.toml until stopped.

    One scheduler is active per database (a PostgreSQL advisory lock, or a lease
    in SQLite); start a second one, on this machine or another sharing the
    database, and it waits as standby and takes over when the first dies. Jobs
    are read at start and again whenever a schedule file changes. Each firing
    runs `rpa run` in a child process under the job's maximum run time and is
    recorded; see `rpa schedules`. Ctrl+C or SIGTERM stops it: running robots
    get SIGTERM and finish their current item. Its log is under
    logs/_scheduler/.
    """
    from robotlib.engine import new_run_id
    from robotlib.logs import run_log
    from robotlib.scheduler import Scheduler, SchedulerOptions

    options = SchedulerOptions(
        poll_s=poll, lock_ttl_s=lock_ttl, term_grace_s=term_grace
    )
    with open_project(ctx, console_level="INFO") as project:
        # APScheduler's own INFO lines repeat our firing_started / firing_finished.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        service = Scheduler(project, options=options)
        folder = project.settings.logs / "_scheduler" / new_run_id(datetime.now(UTC))
        try:
            with (
                run_log(folder / "events.jsonl"),
                stop_on_signals(
                    service.stop, "Stopping: running robots finish their current item."
                ),
            ):
                service.serve()
        finally:
            service.close()


@schedules_app.callback()
def schedules(
    ctx: typer.Context,
    count: Annotated[
        int, typer.Option(min=1, max=50, help="How many next fire times to show.")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the scheduled jobs: next fire times (local time) and last outcome.

    A paused job shows who paused it, when and why.
    """
    from robotlib.scheduler import ScheduleService

    only_without_command(ctx, "rpa schedules")
    if ctx.invoked_subcommand is not None:
        return
    with open_project(ctx) as project:
        service = ScheduleService(project)
        try:
            found, problems = service.status(count=count)
            active = service.active_scheduler()
        finally:
            service.close()
        rows: list[dict[str, Any]] = []
        for status in found:
            last = status.last
            rows.append(
                {
                    "job": status.job.name,
                    "robot": status.job.robot,
                    "schedule": status.job.cron
                    or f"every {status.job.interval_minutes:g} min",
                    "enabled": status.job.enabled,
                    "paused": status.paused,
                    "pause": _pause(status.pause),
                    "next_runs": [moment.isoformat() for moment in status.next_runs],
                    "last": None
                    if last is None
                    else {
                        "status": last.status,
                        "started_at": last.started_at,
                        "run_id": last.run_id,
                        "attention": last.attention,
                        "note": last.note,
                    },
                }
            )
        if as_json:
            print_json(
                {
                    "active_scheduler": str(active) if active else None,
                    "jobs": rows,
                    "problems": [str(p) for p in problems],
                }
            )
        else:
            print_table(
                "Scheduled jobs",
                ["job", "robot", "schedule", "next run (local)", "last outcome"],
                [
                    [
                        status.job.name,
                        status.job.robot,
                        row["schedule"],
                        _next_runs(status),
                        _outcome(status.last),
                    ]
                    for status, row in zip(found, rows, strict=True)
                ],
            )
            console.print(
                f"Active scheduler: {active}" if active else "No scheduler is active.",
                highlight=False,
                markup=False,
            )
        for problem in problems:
            console.print(f"problem  {problem}", highlight=False, markup=False)


@schedules_app.command("run-now")
def run_now(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="The job's name (see `rpa schedules`).")],
) -> None:
    """Fire a scheduled job now, in this process, as the scheduler would.

    The robot runs in a child process under the job's maximum run time, the firing
    is recorded and, when it needs attention, sent to the notifiers. A paused job
    runs too (firing it by hand is an explicit action) and stays paused. Exits 0
    when the run completed, 3 when it completed with more failed items than
    notify.failed_item_threshold, 1 otherwise.
    """
    from robotlib.engine import EXIT_FAILED_ITEMS
    from robotlib.scheduler import FiringStatus, Scheduler

    with open_project(ctx, console_level="INFO") as project:
        service = Scheduler(project)
        try:
            with stop_on_signals(
                service.stop, "Stopping: running robots finish their current item."
            ):
                firings = service.run_now(job)
        finally:
            service.close()
    for firing in firings:
        console.print(
            f"Job {firing.job}: {_outcome(firing)}"
            + (
                f"; log: {project.settings.logs / firing.robot / firing.run_id}"
                if firing.run_id
                else ""
            ),
            highlight=False,
            markup=False,
        )
    if any(f.status != FiringStatus.COMPLETED for f in firings):
        raise typer.Exit(1)
    if any(f.exit_code == EXIT_FAILED_ITEMS for f in firings):
        raise typer.Exit(EXIT_FAILED_ITEMS)


@schedules_app.command("pause")
def pause_job(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="The job's name (see `rpa schedules`).")],
    note: Annotated[
        str,
        typer.Option(
            help="Why (required): shown with the skipped firings, so the morning "
            "shift knows why a night run did not happen; audited.",
        ),
    ],
) -> None:
    """Pause a scheduled job until `rpa schedules resume JOB`; audited.

    Takes effect at the job's next firing, without restarting the scheduler: its
    firings are recorded as skipped with who paused it, when and why, and its
    preflights and deadline checks do not start. A run in progress is not stopped,
    `rpa schedules run-now` still runs the job, and the schedule file is not
    changed. Pausing a paused job keeps the first pause.
    """
    from robotlib.scheduler import ScheduleService

    actor = cli_actor()
    with open_project(ctx) as project:
        service = ScheduleService(project)
        try:
            pause, paused = service.pause(job, actor=actor, note=note)
        except ValueError as exc:
            fail(str(exc))
        finally:
            service.close()
    if paused:
        text = (
            f"Paused job {job}: its firings are skipped until "
            f"`rpa schedules resume {job}`."
        )
    else:
        text = f"Job {job} was paused already, {_paused_text(pause)}; nothing changed."
    console.print(text, highlight=False, markup=False)


@schedules_app.command("resume")
def resume_job(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="The job's name (see `rpa schedules`).")],
) -> None:
    """Resume a paused job; audited.

    Its next regular firing runs; the firings skipped while it was paused are not
    made up for (use `rpa schedules run-now JOB` for that). A job disabled in its
    schedule file (enabled = false) stays disabled.
    """
    from robotlib.scheduler import ScheduleService

    actor = cli_actor()
    with open_project(ctx) as project:
        service = ScheduleService(project)
        try:
            pause = service.resume(job, actor=actor)
        finally:
            service.close()
    if pause is None:
        text = f"Job {job} was not paused; nothing changed."
    else:
        text = f"Resumed job {job} ({_paused_text(pause)}): its next firing runs."
    console.print(text, highlight=False, markup=False)


def _pause(pause: "Pause | None") -> dict[str, Any] | None:
    if pause is None:
        return None
    return {
        "paused_by": pause.paused_by,
        "paused_at": pause.paused_at,
        "note": pause.note,
    }


def _paused_text(pause: "Pause") -> str:
    return (
        f"paused by {pause.paused_by} at {local(pause.paused_at)}: {shown(pause.note)}"
    )


def _next_runs(status: "JobStatus") -> str:
    if status.pause is not None:
        return _paused_text(status.pause)
    if status.paused:
        return "paused"
    if not status.next_runs:
        return "none"
    return "\n".join(local(moment) for moment in status.next_runs)


def _outcome(firing: Any) -> str:
    if firing is None:
        return "never fired"
    text = f"{firing.status} {local(firing.started_at)}"
    if firing.run_id:
        text += f" run {firing.run_id}"
    if firing.attention:
        text += f" - needs attention: {shown(firing.attention)}"
    elif firing.note:
        text += f" - {shown(firing.note)}"
    return text
