"""Items whose deadline is at risk: not done N minutes before it, told once.

A robot may give each item a deadline (``Robot(deadline=...)``, from its row). The
active scheduler looks once a minute for items not yet ``done`` (or resolved)
whose deadline is less than ``[notify] deadline_warning_minutes`` away (or past),
and sends one ``deadline_at_risk`` notification per robot naming them by id, with
their states and deadlines (no item data: a reference may hold a CPR number).
Each item is told once: a row of ``deadline_alerts`` per item, inserted where none
is, so a standby that takes over does not tell again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine, insert, select

from robotlib.db.connection import transaction
from robotlib.db.schema import deadline_alerts
from robotlib.notify import Notification, Notifier, send_all
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import ItemState, WorkItem
from robotlib.settings import DISPLAY_TZ, Settings

__all__ = ["DeadlineWatch"]

log = structlog.get_logger("robotlib.scheduler")

#: The states of an item that will still be worked on, or waits for a person.
_OPEN = (
    ItemState.NEW,
    ItemState.IN_PROGRESS,
    ItemState.FAILED,
    ItemState.BUSINESS_EXCEPTION,
)


class DeadlineWatch:
    """Finds the items whose deadline is at risk and tells each once.

    Args:
        settings: the project's settings (the warning, the console's address).
        backend: the queue.
        engine: the project database (``deadline_alerts``).
        notifiers: where the warnings go.
        clock: the current time (UTC).
    """

    def __init__(
        self,
        settings: Settings,
        backend: QueueBackend,
        engine: Engine,
        notifiers: Sequence[Notifier],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.engine = engine
        self.notifiers = notifiers
        self.clock = clock
        self._where = f"scheduler database {engine.url.render_as_string(True)}"

    def check(self) -> list[WorkItem]:
        """Tell the items newly at risk; return them."""
        minutes = self.settings.notify.deadline_warning_minutes
        if not minutes:
            return []
        now = self.clock()
        horizon = now + timedelta(minutes=minutes)
        at_risk = [
            item
            for item in self.backend.items(states=_OPEN)
            if item.deadline is not None and item.deadline <= horizon
        ]
        fresh = self._mark(at_risk, now)
        by_robot: dict[str, list[WorkItem]] = defaultdict(list)
        for item in fresh:
            by_robot[item.robot].append(item)
        for robot, items in sorted(by_robot.items()):
            log.warning("deadline_at_risk", robot=robot, items=[i.id for i in items])
            send_all(self.notifiers, self._notification(robot, items, now))
        return fresh

    def _mark(self, items: list[WorkItem], now: datetime) -> list[WorkItem]:
        """Record each item as told; return those not told before."""
        if not items:
            return []
        fresh = []
        with transaction(self.engine, write=True, where=self._where) as conn:
            told = set(
                conn.scalars(
                    select(deadline_alerts.c.item_id).where(
                        deadline_alerts.c.item_id.in_([i.id for i in items])
                    )
                )
            )
            for item in items:
                if item.id in told:
                    continue
                conn.execute(
                    insert(deadline_alerts).values(
                        item_id=item.id, deadline=item.deadline, told_at=now
                    )
                )
                fresh.append(item)
        return fresh

    def _notification(
        self, robot: str, items: list[WorkItem], now: datetime
    ) -> Notification:
        minutes = self.settings.notify.deadline_warning_minutes
        lines = [
            f"{len(items)} item(s) of {robot} are not done and their deadline is "
            f"less than {minutes} minutes away, or past:",
        ]
        for item in sorted(items, key=lambda i: (i.deadline or now, i.id)):
            assert item.deadline is not None
            late = " (past)" if item.deadline <= now else ""
            when = item.deadline.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M %Z")
            lines.append(f"  item {item.id}: {item.state.value}, deadline {when}{late}")
        lines.append(f"See: rpa queue {robot}; rpa exceptions {robot}")
        console = self.settings.console_url
        link = f"{console.rstrip('/')}/exceptions?robot={robot}" if console else ""
        if link:
            lines.append(f"Console: {link}")
        subject = f"robotlib: {len(items)} item(s) of {robot} may miss their deadline"
        return Notification(
            kind="deadline_at_risk",
            subject=subject,
            body="\n".join(lines) + "\n",
            robot=robot,
            count=len(items),
            link=link,
        )
