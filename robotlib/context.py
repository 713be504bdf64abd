"""What a robot's functions receive: the run, its applications, the current item."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload, runtime_checkable
from zoneinfo import ZoneInfo

import structlog

if TYPE_CHECKING:
    from pydantic import BaseModel

    from robotlib.credentials import Credentials, SystemCredentials
    from robotlib.queue.models import Handoff, WorkItem
    from robotlib.robot import Robot
    from robotlib.settings import Settings

__all__ = ["Application", "Context"]


@runtime_checkable
class Application(Protocol):
    """An application a robot opened (a browser, a desktop program).

    The engine asks every open application for a screenshot when a system exception
    happens, and closes them at a restart. An application may also have these
    methods, which the engine calls when present:

    - ``item_started(item)`` before an item is processed;
    - ``item_finished(succeeded: bool)`` after it (a business exception counts as
      succeeded: the application did its part);
    - ``save_trace(path) -> Path | None`` at a system exception, before the
      restart (the browser keeps a Playwright trace of the item).
    """

    name: str

    def screenshot(self, path: Path) -> Path | None:
        """Save what the application shows to ``path``; return it, or None."""

    def close(self) -> None:
        """Close the application."""


@dataclass
class Context:
    """The run as a robot's functions see it.

    Attributes:
        robot: the robot being run.
        settings: the project's settings.
        run_id: this run's id.
        run_dir: this run's folder (``logs/<robot>/<run-id>``) for files it makes.
        state: what ``setup`` leaves for ``process`` (a page, a session).
        item: the work item being processed (None in setup and teardown).
        output: the current item's output so far (earlier stages' results).
        shared: what lives for the whole run, across restarts (see at_run_end).
    """

    robot: Robot[Any]
    settings: Settings
    run_id: str
    run_dir: Path
    credentials_loader: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    item: WorkItem | None = None
    output: dict[str, Any] = field(default_factory=dict)
    applications: list[Application] = field(default_factory=list)
    log: Any = field(default_factory=structlog.get_logger)
    shared: dict[str, Any] = field(default_factory=dict)
    #: Items this item hands to other robots when it is done (:meth:`enqueue`).
    handoffs: list[Handoff] = field(default_factory=list)
    _credentials: Credentials | None = None
    _run_end: list[Callable[[], object]] = field(default_factory=list)

    @overload
    def credentials(
        self, system: str, *, optional: Literal[False] = False
    ) -> SystemCredentials: ...
    @overload
    def credentials(
        self, system: str, *, optional: Literal[True]
    ) -> SystemCredentials | None: ...
    def credentials(
        self, system: str, *, optional: bool = False
    ) -> SystemCredentials | None:
        """Return the credentials of ``system`` from credentials.toml or the env.

        With ``optional=True``, None when the project has none for ``system``;
        else that is a ``CredentialsError`` naming where to put them.
        """
        if self._credentials is None:
            self._credentials = self.credentials_loader()
        if optional:
            return self._credentials.find(system)
        return self._credentials.get(system)

    def open_application(self, application: Application) -> Application:
        """Register an application so that it is screenshotted and closed for you."""
        self.applications.append(application)
        return application

    def at_run_end(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when the run ends (after the last teardown).

        ``shared`` plus this hook hold what lives for the whole run, across
        application restarts: a worker's browser process, say.
        """
        self._run_end.append(callback)

    def end_run(self) -> list[BaseException]:
        """Run the run-end callbacks, newest first; return what they raised."""
        raised: list[BaseException] = []
        while self._run_end:
            try:
                self._run_end.pop()()
            except Exception as exc:
                raised.append(exc)
        self.shared.clear()
        return raised

    def enqueue(
        self,
        robot: str,
        payload: Mapping[str, Any] | BaseModel,
        *,
        reference: str | None = None,
        priority: int = 0,
        not_before: datetime | None = None,
        deadline: datetime | None = None,
    ) -> None:
        """Hand an item to robot ``robot`` when the current item is done.

        Nothing is enqueued now: the item is created in the transaction that
        completes the current item, so it exists exactly when the current item is
        done (never without it, never twice). Called in a stage of a robot with
        several stages, it is kept with that stage's end: a later crash loses it
        not. When an item found done by its precheck is completed, what earlier
        stages handed off goes too, but not what the last stage would have: hand
        off from the output with ``Robot(outputs_to=...)`` where that matters.

        Args:
            robot: the robot the item is for.
            payload: its data (a model is dumped as JSON).
            reference: its reference within that robot; default: the current
                item's (a robot gets each reference once).
            priority, not_before, deadline: as the row of an input would set
                them; a datetime without a time zone is the project's.

        Example:
            >>> ctx.enqueue("file_letter", {"cpr": item.cpr})  # doctest: +SKIP
        """
        from pydantic import BaseModel as Model

        from robotlib.queue.models import Handoff, NewItem

        if self.item is None:
            raise RuntimeError("ctx.enqueue hands off from an item: call it in a stage")
        data = (
            payload.model_dump(mode="json") if isinstance(payload, Model) else payload
        )
        zone = ZoneInfo(self.settings.time_zone)
        new = NewItem(
            reference or self.item.reference,
            dict(data),
            priority=priority,
            not_before=_aware(not_before, zone),
            deadline=_aware(deadline, zone),
        )
        self.handoffs.append(Handoff(robot, new))

    @property
    def attempt(self) -> int:
        """The attempt at the current item (1 for the first)."""
        return self.item.attempts if self.item is not None else 0


def _aware(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone)
