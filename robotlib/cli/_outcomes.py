"""How a run's outcome is shown: its progress bar, the summary people read, and
the ``--json`` record programs read (``rpa run``, ``rpa worker``, ``rpa
preflight``)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from robotlib.cli._app import console, print_json, shown
from robotlib.queue.models import EnqueueResult, Outcome, RunStatus

if TYPE_CHECKING:
    from robotlib.engine import DryRunReport, PreflightResult, RunResult
    from robotlib.workers import ParallelResult
    from robotlib.workers import Progress as WorkersProgress

__all__ = [
    "OUTCOMES",
    "ProgressObserver",
    "dry_run_record",
    "progress_bar",
    "report",
    "run_record",
    "summarise_preflight",
]

#: The outcomes a run counts, in the order the summary names them.
OUTCOMES = (Outcome.DONE, Outcome.BUSINESS_EXCEPTION, Outcome.RETRIED, Outcome.FAILED)


def dry_run_record(report: "DryRunReport", due: int) -> dict[str, Any]:
    """``rpa run --dry-run --json``: what a run would enqueue and process."""
    return {
        "rows": report.rows,
        "new": len(report.new),
        "existing": len(report.existing),
        "corrected": len(report.corrected),
        "invalid": [
            {"reference": shown(reference), "reason": shown(reason)}
            for reference, reason in report.invalid
        ],
        "due": due,
        "changed": False,
    }


def run_record(result: "RunResult | ParallelResult", logs: Path) -> dict[str, Any]:
    """``rpa run --json``: how the run ended, as :func:`_summarise` prints it."""
    from robotlib.workers import ParallelResult

    record: dict[str, Any] = {
        "run_id": result.run_id,
        "robot": result.robot,
        "status": result.status,
        "note": shown(result.note),
        "exit_code": result.exit_code,
        "counts": {outcome: result.counts.get(outcome, 0) for outcome in OUTCOMES},
        "loaded": result.loaded,  # added, existing, corrected
        "log": str(result.run_dir / "events.jsonl"),
    }
    if isinstance(result, ParallelResult):
        record["workers"] = result.workers
        record["worker_runs"] = [
            {
                "run_id": run.id,
                "status": run.status,
                "log": str(_worker_log(logs, result.robot, run.id)),
            }
            for run in result.worker_runs
        ]
    return record


def _worker_log(logs: Path, robot: str, run_id: str) -> Path:
    """The event log of one worker's run of ``rpa run --workers N``."""
    return logs / robot / run_id / "events.jsonl"


class ProgressObserver:
    """Draws one progress bar with counts by outcome."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.counts: dict[str, Any] = dict.fromkeys(OUTCOMES, 0)
        self.task = progress.add_task("loading", total=None, **self.counts)

    def loaded(self, result: EnqueueResult | None, due: int) -> None:
        if result is not None and not self.progress.disable:
            self.progress.console.print(
                f"Loaded: {result.added} new item(s), {result.existing} already "
                f"queued, {result.corrected} corrected."
            )
        self.progress.update(self.task, total=due, description="processing")

    def item_finished(self, outcome: Outcome) -> None:
        if outcome in self.counts:
            self.counts[outcome] += 1
        finished = outcome is not Outcome.RETRIED
        self.progress.update(self.task, advance=1 if finished else 0, **self.counts)

    def show(self, progress: "WorkersProgress") -> None:
        """Workers' progress, read from the queue."""
        self.counts.update(
            done=progress.done,
            business_exception=progress.business_exception,
            failed=progress.failed,
        )
        self.progress.update(
            self.task,
            completed=progress.finished,
            description=f"processing ({progress.workers_running} workers)",
            **self.counts,
        )


@contextmanager
def progress_bar(*, visible: bool = True) -> Iterator[ProgressObserver]:
    """A progress bar on the console; with ``visible=False`` (``--json``) none."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "done {task.fields[done]} · exceptions {task.fields[business_exception]}"
            " · retried {task.fields[retried]} · failed {task.fields[failed]}"
        ),
        console=console,
        transient=False,
        disable=not visible,
    )
    with progress:
        yield ProgressObserver(progress)


def report(result: "RunResult | ParallelResult", logs: Path, *, as_json: bool) -> None:
    """How the run ended: a summary for people, or with ``--json`` the record."""
    if as_json:
        print_json(run_record(result, logs))
    else:
        _summarise(result, logs)


def _summarise(result: "RunResult | ParallelResult", logs: Path) -> None:
    from robotlib.workers import ParallelResult

    counts = result.counts
    workers = ""
    if isinstance(result, ParallelResult):
        workers = f" with {result.workers} workers"
    console.print(
        f"Run {result.run_id} of {result.robot}{workers}: {result.status}"
        + (f" ({shown(result.note)})" if result.note else ""),
        highlight=False,
        markup=False,
    )
    console.print(
        f"  done {counts.get(Outcome.DONE, 0)} · business exceptions "
        f"{counts.get(Outcome.BUSINESS_EXCEPTION, 0)} · "
        f"failed {counts.get(Outcome.FAILED, 0)} · "
        f"retried {counts.get(Outcome.RETRIED, 0)}",
        highlight=False,
    )
    console.print(
        f"  log: {result.run_dir / 'events.jsonl'}", highlight=False, markup=False
    )
    for run in result.worker_runs if isinstance(result, ParallelResult) else []:
        console.print(
            f"  worker run {run.id}: {run.status}, log "
            f"{_worker_log(logs, result.robot, run.id)}",
            highlight=False,
            markup=False,
        )
    if counts.get(Outcome.BUSINESS_EXCEPTION) or counts.get(Outcome.FAILED):
        console.print(f"  review: rpa exceptions {result.robot}", highlight=False)
    if result.status is RunStatus.COMPLETED_WITH_FAILURES:
        # the last line, for whoever reads a scheduler's or cron's mail
        console.print(
            f"Run {result.run_id} completed with failures: "
            f"{counts.get(Outcome.FAILED, 0)} failed item(s); "
            f"see `rpa exceptions {result.robot}`.",
            highlight=False,
            markup=False,
        )


def summarise_preflight(result: "PreflightResult") -> None:
    """The preflight's outcome for people: passed, or why not; and its log."""
    outcome = (
        f"passed in {result.duration_s:.1f} s ({result.checked})"
        if result.ok
        else f"FAILED: {shown(result.message)}"
    )
    headline = f"Preflight of {result.robot} {outcome}"
    console.print(headline, highlight=False, markup=False)
    console.print(
        f"  log: {result.run_dir / 'events.jsonl'}", highlight=False, markup=False
    )
