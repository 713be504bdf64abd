"""The run log and the audit trail: records kept beside the item queue.

:class:`RunLog` records each run of a robot (who ran it where, how it ended, what
it counted); :class:`AuditTrail` records what people did (a retry, a resolve, a
console login, a schedule paused). Every queue backend keeps both in the same
store as its items, so one transaction can change an item and audit it; code that
needs only runs or only the audit trail can say so by the type it takes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from robotlib.queue._transitions import aware
from robotlib.queue.models import AuditEntry, Run, RunStatus
from robotlib.versions import CodeVersion

__all__ = ["AuditQuery", "AuditTrail", "RunLog"]


@dataclass(frozen=True)
class AuditQuery:
    """Which entries :meth:`AuditTrail.audit_log` returns; None matches any.

    ``since``: entries at or after it (timezone-aware).
    """

    item_id: int | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    limit: int | None = None


class RunLog(abc.ABC):
    """The runs of a project's robots."""

    @abc.abstractmethod
    def start_run(
        self,
        run_id: str,
        robot: str,
        *,
        host: str,
        pid: int,
        version: CodeVersion | None = None,
    ) -> Run:
        """Record a run that starts now (with the code it runs, where known)."""

    @abc.abstractmethod
    def finish_run(
        self, run_id: str, *, status: RunStatus, counts: dict[str, int], note: str = ""
    ) -> Run:
        """Record how a run ended."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Return one run; raise ``KeyError`` if there is none."""

    @abc.abstractmethod
    def runs(self, robot: str | None = None, *, limit: int | None = None) -> list[Run]:
        """Return runs, newest first."""


class AuditTrail(abc.ABC):
    """What people did, and when: never purged."""

    @abc.abstractmethod
    def record_audit(
        self, *, actor: str, action: str, note: str, item_id: int | None = None
    ) -> AuditEntry:
        """Write one audit entry now: an action that changes no item by itself
        (a console login, a schedule paused, a user added)."""

    def audit_log(
        self,
        *,
        item_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Return audit entries, newest first, filtered by item, actor, action and
        time (``since``: entries at or after it; timezone-aware)."""
        start = aware(since, "since")
        return self._find_audit(AuditQuery(item_id, actor, action, start, limit))

    @abc.abstractmethod
    def _find_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """The entries ``query`` matches, newest first, at most its limit."""
