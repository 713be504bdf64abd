"""Whether a run needs a person's look ("Needs attention"), and why, in one line.

A run's counts say what happened in it and never change; what still needs a
person is the items in the exception queue *now* with that run as their last. The
reason says how many are still open and who retried or resolved the others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from robotlib.console._i18n import ENGLISH, Catalogue
from robotlib.console._records import AttentionRun, RunSummary
from robotlib.project import Project
from robotlib.queue.models import ItemState, Run, RunStatus, WorkItem

__all__ = ["attention_reason", "run_attention"]

#: The longest reason shown; longer ones end in an ellipsis.
_REASON_LIMIT = 200


def run_attention(
    project: Project,
    run: RunSummary,
    workers: Sequence[Run],
    waiting: Sequence[WorkItem],
    catalogue: Catalogue,
) -> AttentionRun | None:
    """The run's entry in "Needs attention", from its items' current states.

    A run's counts say what happened in it and never change; what still needs a
    person is the items that are in the exception queue *now* with this run (or
    its workers) as their last run. The others were retried or resolved since:
    the entry says by whom. None: the run needs no look and never did.
    """
    ids = {run.id, *(worker.id for worker in workers)}
    mine = [item for item in waiting if item.run_id in ids]
    open_failed = sum(item.state is ItemState.FAILED for item in mine)
    open_business = len(mine) - open_failed
    reason = attention_reason(run, open_failed, open_business, catalogue)
    if reason is None:
        return None
    recorded = run.counts.failed + run.counts.business_exception
    who = _handled_by(project, run, ids, catalogue) if recorded > len(mine) else ()
    return AttentionRun(run, reason, open_failed, open_business, who)


#: At most this many handled items are looked up for "handled by" per run.
_HANDLED_LOOKUP = 50


def _handled_by(
    project: Project, run: RunSummary, ids: set[str], catalogue: Catalogue
) -> tuple[str, ...]:
    """Who retried or resolved the run's exception items, e.g. ``anna resolved 2``.

    Looks at the items still recorded with this run (a retried item keeps it until
    a later run takes it) and their audit entries since the run started.
    """
    backend = project.backend
    items = [
        item
        for run_id in sorted(ids)
        for item in backend.items(run.robot, run_id=run_id)
        if item.state in (ItemState.RESOLVED, ItemState.NEW) and item.error_type
    ]
    tally: dict[tuple[str, str], int] = defaultdict(int)
    for item in items[:_HANDLED_LOOKUP]:
        for entry in backend.audit_log(item_id=item.id, limit=5):
            if entry.action in _HANDLING and entry.at >= run.started_at:
                tally[(entry.actor, _HANDLING[entry.action])] += 1
                break
    return tuple(
        _handled_text(actor, verb, count, catalogue)
        for (actor, verb), count in tally.items()
    )


def _handled_text(actor: str, verb: str, count: int, catalogue: Catalogue) -> str:
    """``anna retried 2`` in the page's language."""
    if verb == "retried":
        text = catalogue.ngettext(
            "%(actor)s retried %(num)d", "%(actor)s retried %(num)d", count
        )
    else:
        text = catalogue.ngettext(
            "%(actor)s resolved %(num)d", "%(actor)s resolved %(num)d", count
        )
    return text % {"actor": actor, "num": count}


#: Audit actions that take an item out of the exception queue.
_HANDLING = {"retry": "retried", "resolve": "resolved"}


def attention_reason(
    run: RunSummary,
    open_failed: int | None = None,
    open_business: int | None = None,
    catalogue: Catalogue = ENGLISH,
) -> str | None:
    """Why a run needs (or needed) a look, in one line; None when it does not.

    ``open_failed`` and ``open_business`` are its items waiting now; without them
    the run's recorded counts are used.
    """
    gettext, ngettext = catalogue.gettext, catalogue.ngettext
    reasons = []
    note = " ".join(run.note.split())
    if run.status is RunStatus.CRASHED:
        reasons.append(
            gettext("crashed: %(note)s") % {"note": note}
            if note
            else gettext("crashed")
        )
    elif run.status is RunStatus.STOPPED:
        if note == "interrupted":
            reasons.append(gettext("interrupted"))
        elif note:
            reasons.append(gettext("stopped: %(note)s") % {"note": note})
        else:
            reasons.append(gettext("stopped"))
    failed = run.counts.failed
    business = run.counts.business_exception
    if failed:
        what = ngettext("%(num)d failed item", "%(num)d failed items", failed)
        still = failed if open_failed is None else open_failed
        reasons.append(_still(what % {"num": failed}, still, failed, catalogue))
    if business:
        what = ngettext(
            "%(num)d business exception", "%(num)d business exceptions", business
        )
        still = business if open_business is None else open_business
        reasons.append(_still(what % {"num": business}, still, business, catalogue))
    if not reasons:
        return None
    reason = "; ".join(reasons)
    return reason if len(reason) <= _REASON_LIMIT else reason[: _REASON_LIMIT - 1] + "…"


def _still(what: str, still: int, recorded: int, catalogue: Catalogue) -> str:
    """``2 failed items`` with how many of them still wait, if not all."""
    if still == recorded:
        return what
    if still == 0:
        return catalogue.gettext("%(what)s, all handled") % {"what": what}
    return catalogue.gettext("%(what)s, %(num)d still open") % {
        "what": what,
        "num": still,
    }
