"""One claimed item: its stages run under a renewed lease, and its outcome recorded.

- A :class:`~robotlib.errors.BusinessRuleError` sends the item to the exception
  queue; it is never retried.
- Any other exception is a system exception: a screenshot of every open
  application (and a trace on a retry) is saved, and the item goes back to the
  queue for a retry within the robot's policy, or fails.
- An item whose lease was lost (another worker took it over after this one paused)
  is never recorded here: its new owner records it. Each step checks the lease
  before it acts, so nothing is sent twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from robotlib import _lease
from robotlib._lease import LeaseGuard
from robotlib.context import Context
from robotlib.engine.applications import notify
from robotlib.engine.artifacts import pause_at, save_screenshots, save_traces
from robotlib.engine.intake import invalid_row
from robotlib.errors import BusinessRuleError, LeaseLostError, RobotlibError
from robotlib.logs import Redactor
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import (
    PENDING_HANDOFFS,
    Handoff,
    NewItem,
    Outcome,
    WorkItem,
)
from robotlib.robot import Robot, stages_after

__all__ = ["ItemProcessor", "elapsed_ms"]

log = structlog.get_logger("robotlib.engine")


class ItemProcessor:
    """Processes the items a run claims, one at a time, and records each outcome.

    Args:
        robot: whose stages run.
        backend: the work queue the outcomes are recorded in.
        redactor: masks secrets and CPR numbers in stored error messages.
        logs: the logs folder artifacts' paths are relative to.
        keep_traces: save every attempt's trace, not only a failed one's.
        pause_on_failure: ``"pdb"`` or ``"inspector"``: stop at a system exception
            for a person to look (``rpa run --pause-on-failure``).
    """

    def __init__(
        self,
        robot: Robot[Any],
        backend: QueueBackend,
        redactor: Redactor,
        logs: Path,
        *,
        keep_traces: bool = False,
        pause_on_failure: str = "off",
    ) -> None:
        self.robot = robot
        self.backend = backend
        self.redactor = redactor
        self.logs = logs
        self.keep_traces = keep_traces
        self.pause_on_failure = pause_on_failure

    def process(self, ctx: Context, item: WorkItem, owner: str) -> Outcome:
        """Run ``item``'s stages as ``owner``; return how it ended (never raises,
        but for Ctrl+C, after giving the item back)."""
        ctx.item, ctx.output = item, dict(item.output)
        ctx.handoffs = _unstash(ctx.output.pop(PENDING_HANDOFFS, []))
        started = time.perf_counter()
        guard = LeaseGuard(self.backend, item.id, owner, self.robot.lease)
        with (
            structlog.contextvars.bound_contextvars(
                item=item.reference, item_id=item.id, attempt=item.attempts
            ),
            _lease.guarding(guard),
            _LeaseKeeper(guard),
        ):
            log.info("item_started", claims=item.claims)
            notify(ctx, "item_started", item)
            try:
                outcome = self._run_stages(ctx, item, owner, started)
                self._keep_trace(ctx, item)
                notify(ctx, "item_finished", True)
                return outcome
            except BusinessRuleError as exc:
                if _lease_lost(guard):
                    return Outcome.LEASE_LOST
                self._keep_trace(ctx, item)
                notify(ctx, "item_finished", True)
                self.backend.business_exception(
                    item.id,
                    owner=owner,
                    error_type=exc.code or type(exc).__name__,
                    message=self.redactor.masked(str(exc)),
                )
                log.warning("item_business_exception", reason=str(exc), code=exc.code)
                return Outcome.BUSINESS_EXCEPTION
            except LeaseLostError:
                log.error("item_lease_lost")
                return Outcome.LEASE_LOST
            except KeyboardInterrupt:
                if not guard.lost:
                    self.backend.release(item.id, owner=owner, note="interrupted")
                    log.warning("item_released", reason="interrupted")
                raise
            except Exception as exc:
                if _lease_lost(guard):
                    return Outcome.LEASE_LOST
                return self._system_exception(ctx, item, owner, exc)
            finally:
                ctx.item, ctx.output, ctx.handoffs = None, {}, []

    def _run_stages(
        self, ctx: Context, item: WorkItem, owner: str, started: float
    ) -> Outcome:
        robot = self.robot
        try:
            model = robot.item.model_validate(item.payload, by_name=True)
        except ValidationError as exc:
            message = invalid_row("the stored item", exc, item.payload, robot.item)
            raise BusinessRuleError(message) from None
        if item.claims > 1 and robot.precheck is not None:
            _lease.check()
            found = robot.precheck(ctx, model)
            if found is not None:
                output = _as_output(found, "precheck")
                self.backend.complete(
                    item.id,
                    owner=owner,
                    output=output,
                    note="done already (precheck)",
                    handoffs=[
                        *ctx.handoffs,
                        *robot.handoffs_of(
                            model, item.reference, {**ctx.output, **output}
                        ),
                    ],
                )
                log.info("item_done", duration_ms=elapsed_ms(started), precheck=True)
                return Outcome.DONE
        staged = len(robot.process) > 1
        for stage in stages_after(robot, item.finished_stages):
            with structlog.contextvars.bound_contextvars(stage=stage.name):
                _lease.check()
                ctx.output.update(_as_output(stage.run(ctx, model), stage.name))
                if staged:
                    kept = {**ctx.output, PENDING_HANDOFFS: _stash(ctx.handoffs)}
                    self.backend.finish_stage(
                        item.id, owner=owner, stage=stage.name, output=kept
                    )
                    log.info("stage_finished")
        if robot.verify is not None:
            _lease.check()
            robot.verify(ctx, model, ctx.output)
        _lease.check()
        handoffs = [
            *ctx.handoffs,
            *robot.handoffs_of(model, item.reference, ctx.output),
        ]
        self.backend.complete(
            item.id, owner=owner, output=ctx.output, handoffs=handoffs
        )
        log.info(
            "item_done",
            duration_ms=elapsed_ms(started),
            **({"handed_to": [h.robot for h in handoffs]} if handoffs else {}),
        )
        return Outcome.DONE

    def _keep_trace(self, ctx: Context, item: WorkItem) -> None:
        """Save the trace of an attempt that did not fail, when asked to keep all."""
        if self.keep_traces:
            prefix = f"item-{item.id}-attempt-{item.attempts}"
            if saved := save_traces(ctx, prefix, self.logs, self.redactor):
                log.info("trace_saved", artifacts=saved)

    def _system_exception(
        self, ctx: Context, item: WorkItem, owner: str, exc: Exception
    ) -> Outcome:
        if self.pause_on_failure != "off":
            pause_at(ctx, exc, inspector=self.pause_on_failure == "inspector")
        prefix = f"item-{item.id}-attempt-{item.attempts}"
        artifacts = save_screenshots(ctx, prefix, self.logs)
        artifacts += save_traces(ctx, prefix, self.logs, self.redactor)
        delay = self.robot.retry.delay_after(item.attempts)
        retry_at = self.backend.clock() + delay if delay is not None else None
        message = self.redactor.masked(f"{exc}" or type(exc).__name__)
        self.backend.fail(
            item.id,
            owner=owner,
            error_type=type(exc).__name__,
            message=message,
            retry_at=retry_at,
            artifacts=artifacts,
        )
        log.error(
            "item_system_exception",
            error_type=type(exc).__name__,
            error=str(exc),
            will_retry=retry_at is not None,
            artifacts=artifacts,
            exc_info=exc,
        )
        return Outcome.FAILED if retry_at is None else Outcome.RETRIED


def _stash(handoffs: list[Handoff]) -> list[dict[str, Any]]:
    """Hand-offs as a stage's output keeps them until the item is done."""
    return [
        {
            "robot": h.robot,
            "reference": h.item.reference,
            "payload": h.item.payload,
            "priority": h.item.priority,
            "not_before": _iso(h.item.not_before),
            "deadline": _iso(h.item.deadline),
        }
        for h in handoffs
    ]


def _unstash(kept: list[dict[str, Any]]) -> list[Handoff]:
    return [
        Handoff(
            k["robot"],
            NewItem(
                k["reference"],
                k["payload"],
                priority=k["priority"],
                not_before=_moment(k["not_before"]),
                deadline=_moment(k["deadline"]),
            ),
        )
        for k in kept
    ]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a :func:`time.perf_counter` reading)."""
    return round((time.perf_counter() - started) * 1000, 1)


def _lease_lost(guard: LeaseGuard) -> bool:
    """True (and logged) if the item is no longer ours: its new owner records it.

    Asked before recording an exception, which a step of a robot may have raised
    after the lease was lost (or a robot may have turned a LeaseLostError into).
    """
    try:
        guard.check()
    except LeaseLostError:
        log.error("item_lease_lost")
        return True
    except RobotlibError:
        pass  # the queue did not answer: recording the exception will say so
    return False


class _LeaseKeeper:
    """Renews an item's lease in the background while it is processed.

    It renews through the item's :class:`~robotlib._lease.LeaseGuard`, so the steps'
    checks know of each renewal, and a refused one makes the next check fail.
    """

    def __init__(self, guard: LeaseGuard) -> None:
        self._guard = guard
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _renew(self) -> None:
        guard = self._guard
        interval = guard.lease.total_seconds() * _lease.SAFE_SHARE
        while not self._done.wait(interval):
            try:
                guard.renew()
            except LeaseLostError as exc:
                log.error("lease_renewal_failed", item_id=guard.item_id, error=str(exc))
                return
            except RobotlibError as exc:  # the database: the next round may answer
                log.warning(
                    "lease_renewal_failed", item_id=guard.item_id, error=str(exc)
                )


def _as_output(result: Any, stage: str) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    if not isinstance(result, Mapping):
        raise TypeError(
            f"stage {stage!r} returned {type(result).__name__}; return a dict or None"
        )
    jsonable: dict[str, Any] = to_jsonable_python(dict(result), fallback=str)
    return jsonable
