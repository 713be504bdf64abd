"""What the scheduler tells people: the texts of its notifications.

A firing that needs attention (a failed or stopped run, too many exceptions, a
missed firing or deadline, a failed preflight, no input) and problems in the
schedule files go to the project's notifiers (:mod:`robotlib.notify`), redacted: a
notification names the job, robot, firing, run and where to look, never a patient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from robotlib.discovery import Problem
from robotlib.logs import Redactor
from robotlib.notify import Notification, Notifier, send_all
from robotlib.queue.models import Outcome, Run
from robotlib.schedule import Job
from robotlib.scheduler._firings import Firing
from robotlib.scheduler._jobs import local
from robotlib.settings import Settings

__all__ = ["Alerts", "counts_text"]

#: The run count a notification of each kind is about.
_COUNTED = {
    "failed_items": Outcome.FAILED,
    "business_exceptions": Outcome.BUSINESS_EXCEPTION,
}


class Alerts:
    """Sends the scheduler's notifications.

    Args:
        settings: the project's settings (its console's address, its logs).
        notifiers: where they go.
        redactor: hides secrets and CPR numbers in their text.
    """

    def __init__(
        self, settings: Settings, notifiers: Sequence[Notifier], redactor: Redactor
    ) -> None:
        self.settings = settings
        self.notifiers = list(notifiers)
        self.redactor = redactor
        self._problems_told: tuple[str, ...] = ()

    def firing(self, kind: str, job: Job, firing: Firing, run: Run | None) -> None:
        """Tell that ``firing`` of ``job`` needs attention (its ``attention``)."""
        subject = f"robotlib: {job.name} ({job.robot}) needs attention: {kind}"
        run_id = run.id if run is not None else firing.run_id
        console = self.settings.console_url
        link = f"{console.rstrip('/')}/runs/{run_id}" if console and run_id else ""
        count = (
            run.counts.get(_COUNTED[kind], 0)
            if run is not None and kind in _COUNTED
            else None
        )
        lines = [
            f"Job: {job.name} ({job.description})" if job.description else "",
            f"Robot: {job.robot}",
            f"Firing: {firing.id}, {firing.kind}, {firing.status}",
            f"Due: {local(job, firing.scheduled_for)}" if firing.scheduled_for else "",
            f"Reason: {firing.attention}",
        ]
        if run is not None:
            lines += [
                f"Run: {run.id} ({run.status}); {counts_text(run.counts)}",
                f"Log: {self.settings.logs / run.robot / run.id / 'events.jsonl'}",
                f"Review: rpa runs show {run.id}; rpa exceptions {run.robot}",
            ]
        if link:
            lines.append(f"Console: {link}")
        body = "\n".join(line for line in lines if line) + "\n"
        send_all(
            self.notifiers,
            Notification(
                kind=kind,
                subject=subject,
                body=self.redactor.redact(body),
                job=job.name,
                robot=job.robot,
                run_id=run_id,
                count=count,
                link=link,
            ),
        )

    def problems(self, problems: list[Problem]) -> None:
        """Tell about schedule file problems, once per set of them."""
        told = tuple(sorted(str(problem) for problem in problems))
        if told == self._problems_told:
            return
        self._problems_told = told
        body = (
            "The scheduler found problems in the schedule files. Jobs missing "
            "from them stay scheduled as last defined until the files are fixed; "
            "run `rpa check` after fixing.\n\n" + "\n".join(told) + "\n"
        )
        send_all(
            self.notifiers,
            Notification(
                kind="schedule_problem",
                subject="robotlib: the schedule files have problems",
                body=body,
            ),
        )

    def problems_fixed(self) -> None:
        """The files have no problems now: tell the next ones again."""
        self._problems_told = ()


def counts_text(counts: Mapping[str, int]) -> str:
    """A run's counts as a firing's note shows them."""
    return (
        f"done {counts.get(Outcome.DONE, 0)}, business exceptions "
        f"{counts.get(Outcome.BUSINESS_EXCEPTION, 0)}, "
        f"failed {counts.get(Outcome.FAILED, 0)}"
    )
