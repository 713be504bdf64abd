"""Intake: a robot's input rows become queue items, each accounted for.

Every row becomes an item: a valid one to process, an invalid one enqueued as a
business exception with what is wrong with it (named by location and column, a
CPR-like value masked). Rows are compared with each other and with the queue:

- a row repeating an earlier row's reference with other values is rejected (which
  of the two is right is for a person to say);
- a valid row whose reference is known with other values corrects an item that
  ended an exception, and becomes a rejected item of its own for a ``done`` item
  (the target system holds the old values); other states keep the queued values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from robotlib.cpr import mask_cpr_like
from robotlib.errors import ConfigurationError
from robotlib.logs import Redactor
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import (
    EXCEPTION_STATES,
    REJECTED_ERROR_TYPE,
    EnqueueResult,
    ItemState,
    NewItem,
    WorkItem,
)
from robotlib.reading import Reading, reading
from robotlib.robot import Robot, Row, RowError, SourceRow
from robotlib.settings import Settings
from robotlib.validation import clipped, explain, failed_check, input_key

__all__ = ["DryRunReport", "Intake", "invalid_row"]

log = structlog.get_logger("robotlib.engine")

#: An item to enqueue with where its row is (``results.xlsx, sheet 'Ark1', row 12``).
Located = tuple[NewItem, str]


@dataclass(frozen=True)
class DryRunReport:
    """What a run would do, without doing it."""

    rows: int
    new: list[str]
    existing: list[str]
    invalid: list[tuple[str, str]]
    due_in_queue: int
    #: exception items a row's other values would correct and queue again
    corrected: list[str] = field(default_factory=list)


class Intake:
    """Reads a robot's input and enqueues its rows (or says what it would enqueue).

    Args:
        robot: whose source reads the input, and whose item model validates it.
        settings: the project's locale and time zone, for reading files.
        backend: the work queue.
        redactor: masks secrets and CPR numbers in stored messages.
        stable_for_s: seconds an input file must stay unchanged before it is read.
    """

    def __init__(
        self,
        robot: Robot[Any],
        *,
        settings: Settings,
        backend: QueueBackend,
        redactor: Redactor,
        stable_for_s: float = 0.0,
    ) -> None:
        self.robot = robot
        self.backend = backend
        self.redactor = redactor
        self._zone = ZoneInfo(settings.time_zone)
        self._reading = Reading(
            locale=settings.locale,
            time_zone=settings.time_zone,
            stable_for_s=stable_for_s,
        )

    def load(self, input_path: Path | None, run_id: str) -> tuple[EnqueueResult, int]:
        """Enqueue the input's rows; return what was enqueued, and how many rows
        were newly enqueued rejected (as business exceptions)."""
        located = self._read(input_path)
        source = input_path.name if input_path is not None else f"run {run_id}"
        items, corrections = self._against_queue(located, source)
        result = self.backend.enqueue(self.robot.name, items, run_id=run_id)
        for queued, correction, location in corrections:
            self._correct(queued, correction, location, source, run_id)
        result = EnqueueResult(result.added, result.existing, len(corrections))
        rejected = sum(1 for item in items if item.rejected is not None)
        log.info(
            "items_loaded",
            rows=len(located),
            added=result.added,
            existing=result.existing,
            corrected=result.corrected,
            invalid=rejected,
        )
        new_rejects: list[WorkItem] = []
        if rejected and result.added:
            new_rejects = self.backend.items(
                self.robot.name, states=[ItemState.BUSINESS_EXCEPTION], run_id=run_id
            )
            for item in new_rejects:
                log.warning(
                    "item_rejected",
                    item=item.reference,
                    item_id=item.id,
                    reason=item.error_message,
                )
        return result, len(new_rejects)

    def dry_run(self, input_path: Path | None) -> DryRunReport:
        """Read and validate the input; report what a run would enqueue."""
        located = self._read(input_path)
        source = input_path.name if input_path is not None else "the dry run"
        items, corrections = self._against_queue(located, source)
        known = {item.reference for item in self.backend.items(self.robot.name)}
        fresh = [item for item in items if item.reference not in known]
        return DryRunReport(
            rows=len(located),
            corrected=[item.reference for item, _, _ in corrections],
            new=[item.reference for item in fresh if item.rejected is None],
            existing=[item.reference for item in items if item.reference in known],
            invalid=[
                (i.reference, i.rejected) for i in fresh if i.rejected is not None
            ],
            due_in_queue=self.backend.counts(self.robot.name)[ItemState.NEW],
        )

    # Private API: reading ----------------------------------------------------------

    def _read(self, input_path: Path | None) -> list[Located]:
        with reading(self._reading):
            return self._checked_items(self._rows(input_path))

    def _rows(self, input_path: Path | None) -> Iterable[SourceRow]:
        if self.robot.source is None:
            if input_path is not None:
                raise ConfigurationError(
                    f"robot {self.robot.name!r} has no source to read {input_path}"
                )
            return ()
        if input_path is not None and not input_path.exists():
            raise ConfigurationError(f"input file {input_path} does not exist")
        return self.robot.source(input_path)

    def _checked_items(self, rows: Iterable[SourceRow]) -> list[Located]:
        """The rows as items; a row repeating an earlier row's reference with other
        values is rejected.

        Only rows of the same input are compared: a payload may hold where its
        input was (document_filing's folder), so an item queued by an earlier load
        can differ from the same row loaded from elsewhere.
        """
        seen: dict[str, tuple[dict[str, Any], str]] = {}
        items = []
        for item, location in self._located_items(rows):
            if item.rejected is None:
                other = seen.get(item.reference)
                if other is not None and self._changed(other[0], item.payload):
                    items.append((self._conflict(item, location, *other), location))
                    continue
                seen.setdefault(item.reference, (item.payload, location))
            items.append((item, location))
        return items

    def _located_items(self, rows: Iterable[SourceRow]) -> Iterable[Located]:
        for number, row in enumerate(rows, start=1):
            if isinstance(row, RowError):
                reference = row.reference or f"{row.location} #{_digest(row.message)}"
                yield (
                    NewItem(
                        reference=reference,
                        payload={"location": row.location},
                        rejected=self.redactor.masked(f"{row.location}: {row.message}"),
                    ),
                    row.location,
                )
                continue
            values, location = (
                (row.values, row.location) if isinstance(row, Row) else (row, "")
            )
            location = location or f"row {number}"
            try:
                model = self._validated(values)
            except Exception as exc:  # one row's error, never the load's
                raw = values if isinstance(values, Mapping) else {}
                message = (
                    invalid_row(location, exc, raw, self.robot.item)
                    if isinstance(exc, ValidationError)
                    else f"{location}: "
                    + failed_check(self.robot.item, raw, exc, {k: k for k in raw})
                )
                yield (
                    NewItem(
                        reference=self._raw_reference(raw, location),
                        payload=to_jsonable_python(dict(raw), fallback=str),
                        rejected=self.redactor.masked(message),
                    ),
                    location,
                )
                continue
            reference = self.robot.reference_of(model)
            payload = model.model_dump(mode="json")
            try:
                timing = self.robot.timing_of(model, self._zone)
            except Exception as exc:  # the robot's function failed on this row
                what = f"{type(exc).__name__}: {clipped(str(exc))[1:-1]}"
                message = f"{location}: the robot's priority or timing failed ({what})"
                rejected = self.redactor.masked(message)
                yield NewItem(reference, payload, rejected=rejected), location
                continue
            yield NewItem(reference, payload, **timing), location

    def _validated(self, values: Mapping[str, Any] | BaseModel) -> BaseModel:
        """The row as the robot's item; a reader's validated model is taken as it is."""
        item: type[BaseModel] = self.robot.item
        if isinstance(values, item):
            return values
        return item.model_validate(values, by_name=True)

    def _raw_reference(self, values: Mapping[str, Any], location: str) -> str:
        """A reference for a row that failed validation, stable across reloads."""
        fields = self.robot.reference
        if isinstance(fields, tuple) and all(values.get(name) for name in fields):
            return "|".join(str(values[name]) for name in fields)
        content = json.dumps(
            to_jsonable_python(dict(values), fallback=str), sort_keys=True
        )
        return f"invalid: {location} #{_digest(content)}"

    # Private API: against the queue ------------------------------------------------

    def _against_queue(
        self, located: list[Located], source: str
    ) -> tuple[list[NewItem], list[tuple[WorkItem, NewItem, str]]]:
        """The items to enqueue, and the corrections of known items to make.

        A valid row whose reference is known with other values corrects an item
        that ended an exception (a rejected row is corrected by any valid one);
        for a ``done`` item it becomes a business exception of its own: the
        target system holds the old values. Other states keep the queued values
        (a ``new`` item may have been worked on before); the difference is logged.
        """
        references = {item.reference for item, _ in located}
        known = {
            item.reference: item
            for item in self.backend.items(self.robot.name)
            if item.reference in references
        }
        items: list[NewItem] = []
        corrections: list[tuple[WorkItem, NewItem, str]] = []
        corrected: set[str] = set()
        for item, location in located:
            queued = known.get(item.reference)
            if queued is None or item.rejected is not None:
                items.append(item)
                continue
            changed = self._changed(queued.payload, item.payload)
            was_rejected = queued.error_type == REJECTED_ERROR_TYPE
            if queued.state in EXCEPTION_STATES and (changed or was_rejected):
                if item.reference not in corrected:
                    corrected.add(item.reference)
                    corrections.append((queued, item, location))
                continue
            if changed and queued.state == ItemState.DONE:
                items.append(self._done_conflict(item, location, queued, source))
                continue
            if changed:
                log.warning(
                    "item_differs_in_queue",
                    item=item.reference,
                    item_id=queued.id,
                    state=str(queued.state),
                    fields=[name for name, _, _ in changed],
                )
            items.append(item)
        return items, corrections

    def _correct(
        self, queued: WorkItem, item: NewItem, location: str, source: str, run_id: str
    ) -> None:
        """Give an exception item the values of a later row, to be processed again."""
        changed = self._changed(queued.payload, item.payload)
        if queued.error_type == REJECTED_ERROR_TYPE:
            what = (
                f"rejected at load ({queued.error_message}); "
                f"old values {json.dumps(queued.payload, sort_keys=True, default=str)}"
            )
        else:
            what = ", ".join(
                f"{name} {_shown(theirs)} → {_shown(mine)}"
                for name, mine, theirs in changed
            )
        note = self.redactor.masked(f"corrected by input {source} ({location}): {what}")
        self.backend.correct(
            queued.id,
            payload=item.payload,
            actor=f"input:{source}",
            note=note,
            run_id=run_id,
        )
        log.info(
            "item_corrected",
            item=item.reference,
            item_id=queued.id,
            fields=[name for name, _, _ in changed] or sorted(item.payload),
        )

    def _done_conflict(
        self, item: NewItem, location: str, done: WorkItem, source: str
    ) -> NewItem:
        """A row for a ``done`` item with other values, as a rejected item of its own.

        Its reference holds a digest of the values, so loading the same row again
        adds nothing.
        """
        outputs = self.robot.outputs
        if outputs and done.output.get(outputs[0]) is not None:
            registration = f"{outputs[0]} {done.output[outputs[0]]}"
        else:
            registration = f"item {done.id}"
        return self._rejected_twin(
            item,
            f"{source}, {location}: already registered as done ({registration}) "
            f"with other values ({self._compared(done.payload, item)}): the target "
            "system already holds it; correct it there by hand",
        )

    def _conflict(
        self, item: NewItem, location: str, other: dict[str, Any], where: str
    ) -> NewItem:
        return self._rejected_twin(
            item,
            f"{location}: the same reference as {where} but other values "
            f"({self._compared(other, item)}): check which is right; this row was "
            "not processed",
        )

    def _rejected_twin(self, item: NewItem, message: str) -> NewItem:
        """``item`` rejected with ``message``, under a reference holding a digest of
        its values (so loading the same row again adds nothing)."""
        content = json.dumps(item.payload, sort_keys=True, default=str)
        return NewItem(
            reference=f"{item.reference} #{_digest(content)}",
            payload=item.payload,
            rejected=self.redactor.masked(message),
        )

    def _compared(self, theirs: Mapping[str, Any], item: NewItem) -> str:
        return "; ".join(
            f"{name} {_shown(mine)} here, {_shown(other)} there"
            for name, mine, other in self._changed(theirs, item.payload)
        )

    def _changed(
        self, first: Mapping[str, Any], second: Mapping[str, Any]
    ) -> list[tuple[str, Any, Any]]:
        return _differences(first, second, self.robot.not_compared)


def _differences(
    first: Mapping[str, Any],
    second: Mapping[str, Any],
    ignored: Collection[str] = (),
) -> list[tuple[str, Any, Any]]:
    """(field, second's value, first's value) of the fields both have and differ in.

    Fields only one has are left out: a robot that gained a field since an item
    was queued does not make every queued item look different. So are the
    ``ignored`` ones (the robot's ``not_compared``: where a row was read from).
    """
    return [
        (name, second[name], first[name])
        for name in first
        if name in second and name not in ignored and first[name] != second[name]
    ]


def invalid_row(
    location: str,
    exc: ValidationError,
    values: Mapping[str, Any],
    model: type[BaseModel],
) -> str:
    """What is wrong with a row (or a stored item) that failed validation into
    ``model``: a mapping's keys, and the model's input keys, are its columns."""
    keys = [input_key(name, info) for name, info in model.model_fields.items()]
    headers = {key: key for key in [*keys, *values]}
    return f"{location}: " + explain(exc, headers, values)


def _shown(value: Any) -> str:
    """How a message shows a value: masked if it looks like a CPR number."""
    masked = mask_cpr_like(value)
    return repr(value) if masked is None else masked


def _digest(text: str) -> str:
    """A short fingerprint, so that another bad row at the same place is new."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]
