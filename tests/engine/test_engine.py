"""The transaction loop against a fake in-process application (no browser)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from robotlib import (
    ApplicationError,
    BusinessRuleError,
    Context,
    RetryPolicy,
    Robot,
    Row,
    RowError,
    Stage,
)
from robotlib.engine import (
    EXIT_FAILED_ITEMS,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_STOPPED,
    Engine,
)
from robotlib.logs import Redactor
from robotlib.queue import QueueBackend
from robotlib.queue.models import ItemState, NewItem, RunStatus
from robotlib.settings import NotifySettings, Settings

Kind = Literal["ok", "business", "transient", "broken"]


class Job(BaseModel):
    """One row: a number and how the fake application treats it."""

    n: int
    kind: Kind = "ok"


class FakeEpj:
    """A target system in memory: registers rows, fails on cue, takes screenshots."""

    name = "fake-epj"

    def __init__(self) -> None:
        self.registrations: Counter[int] = Counter()
        self.failures: Counter[int] = Counter()
        self.setups = 0
        self.closed = 0

    def register(self, job: Job) -> int:
        if job.kind == "business":
            raise BusinessRuleError(f"No patient for row {job.n}: check the CPR number")
        if job.kind == "broken" or (
            job.kind == "transient" and not self.failures[job.n]
        ):
            self.failures[job.n] += 1
            raise ApplicationError(f"HTTP 500 while saving row {job.n}")
        self.registrations[job.n] += 1
        return 1000 + job.n

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(b"\x89PNG fake")
        return path

    def close(self) -> None:
        self.closed += 1


def make_robot(epj: FakeEpj, rows: Iterable[Any], **overrides: Any) -> Robot:
    """A robot that registers each row in the fake EPJ."""
    rows = list(rows)

    def source(input_path: Path | None) -> Iterable[Any]:
        if input_path is not None:
            return json.loads(input_path.read_text())
        return rows

    def setup(ctx: Context) -> None:
        epj.setups += 1
        ctx.open_application(epj)

    def register(ctx: Context, job: Job) -> dict[str, int]:
        return {"registration_id": epj.register(job)}

    values: dict[str, Any] = {
        "name": "fake_robot",
        "item": Job,
        "source": source,
        "reference": ["n"],
        "setup": setup,
        "process": register,
        "retry": RetryPolicy(attempts=3, backoff_s=(0,)),
    }
    values.update(overrides)
    return Robot(**values)


def kind_of(n: int) -> Kind:
    if n % 100 == 7:
        return "broken"
    if n % 10 == 3:
        return "business"
    if n % 10 == 5:
        return "transient"
    return "ok"


def test_thousand_items_end_in_the_expected_states(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """1,000 rows end done, business exception or failed by their kind; none lost."""
    epj = FakeEpj()
    rows = [{"n": n, "kind": kind_of(n)} for n in range(1000)]
    robot = make_robot(epj, rows)
    result = make_engine(robot).run()

    # the ten broken rows fail: the run ran to its end but needs a person
    assert (RunStatus.COMPLETED_WITH_FAILURES, EXIT_FAILED_ITEMS) == (
        result.status,
        result.exit_code,
    )
    states = {item.reference: item.state for item in backend.items("fake_robot")}
    expected = {
        str(n): {
            "ok": ItemState.DONE,
            "transient": ItemState.DONE,
            "business": ItemState.BUSINESS_EXCEPTION,
            "broken": ItemState.FAILED,
        }[kind_of(n)]
        for n in range(1000)
    }
    assert expected == states
    counts = backend.counts("fake_robot")
    assert 1000 == (
        counts[ItemState.DONE]
        + counts[ItemState.BUSINESS_EXCEPTION]
        + counts[ItemState.FAILED]
    )
    assert {"done": 890, "business_exception": 100, "failed": 10, "retried": 120} == (
        result.counts
    )
    assert {1} == set(epj.registrations.values())
    assert 890 == len(epj.registrations)
    assert 0 == make_engine(robot).run().loaded.added  # type: ignore[union-attr]


def test_business_exception_keeps_the_operator_message(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A business rule error is stored with its message and never retried."""
    robot = make_robot(FakeEpj(), [{"n": 3, "kind": "business"}])
    make_engine(robot).run()
    [item] = backend.items("fake_robot")
    assert ItemState.BUSINESS_EXCEPTION == item.state
    assert "No patient for row 3: check the CPR number" == item.error_message
    assert 1 == item.attempts


def test_system_exception_screenshots_restarts_and_retries(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    """A system exception saves a screenshot, restarts the application and retries."""
    epj = FakeEpj()
    robot = make_robot(epj, [{"n": 5, "kind": "transient"}])
    result = make_engine(robot).run()
    [item] = backend.items("fake_robot")
    assert (ItemState.DONE, 2) == (item.state, item.attempts)
    assert {"registration_id": 1005} == item.output
    assert 2 == epj.setups
    assert 2 == epj.closed
    shots = sorted(p.name for p in result.run_dir.glob("*.png"))
    assert [f"item-{item.id}-attempt-1-fake-epj.png"] == shots


def test_a_retry_another_worker_left_due_is_waited_for(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A worker failed the item and died before its retry was due: the next run
    waits for the retry instead of ending with the item left new."""
    backend.enqueue("fake_robot", [NewItem("5", {"n": 5})])
    dead = backend.claim_next("fake_robot", owner="h:1:dead", lease=timedelta(1))
    assert dead is not None
    retry_at = backend.clock() + timedelta(seconds=0.5)
    backend.fail(
        dead.id, owner="h:1:dead", error_type="X", message="500", retry_at=retry_at
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    result = make_engine(make_robot(FakeEpj(), []), sleep=sleep).run()

    assert (ItemState.DONE, 2) == (
        backend.get(dead.id).state,
        backend.get(dead.id).attempts,
    )
    assert {"done": 1} == result.counts
    assert 0 < slept[0] <= 0.5


def test_failed_item_keeps_its_artifacts(
    make_engine: Callable[..., Engine], backend: QueueBackend, settings: Any
) -> None:
    """An item that fails for good records its error and screenshot paths."""
    robot = make_robot(FakeEpj(), [{"n": 7, "kind": "broken"}])
    make_engine(robot).run()
    [item] = backend.items("fake_robot")
    assert (ItemState.FAILED, 3) == (item.state, item.attempts)
    assert ("ApplicationError", "HTTP 500 while saving row 7") == (
        item.error_type,
        item.error_message,
    )
    assert 1 <= len(item.artifacts)
    for artifact in item.artifacts:
        assert (settings.logs / artifact).is_file()


def test_consecutive_system_exceptions_stop_the_run(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """After N system exceptions in a row the run stops; untouched items stay new."""
    rows = [{"n": n, "kind": "broken"} for n in range(10)]
    robot = make_robot(
        FakeEpj(),
        rows,
        retry=RetryPolicy(attempts=1),
        stop_after_system_errors=3,
    )
    result = make_engine(robot).run()
    assert (RunStatus.STOPPED, EXIT_STOPPED) == (result.status, result.exit_code)
    assert "3 system exceptions in a row" in result.note
    counts = backend.counts("fake_robot")
    assert (3, 7) == (counts[ItemState.FAILED], counts[ItemState.NEW])
    assert [0] * 7 == [
        i.attempts for i in backend.items("fake_robot", states=[ItemState.NEW])
    ]


def test_business_exceptions_do_not_count_toward_the_stop(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A business exception between system exceptions resets the count."""
    kinds = ["broken", "broken", "business", "broken", "broken", "ok"]
    rows = [{"n": n, "kind": kind} for n, kind in enumerate(kinds)]
    robot = make_robot(
        FakeEpj(), rows, retry=RetryPolicy(attempts=1), stop_after_system_errors=3
    )
    # ran to its end (not stopped); its four failed items make it need a person
    assert RunStatus.COMPLETED_WITH_FAILURES == make_engine(robot).run().status


def test_a_failed_item_completes_the_run_with_failures_and_exit_3(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """With the default threshold (0) one failed item is enough: the run ends
    completed_with_failures, exit 3, and its record says so."""
    rows = [{"n": 1}, {"n": 2, "kind": "broken"}, {"n": 3, "kind": "business"}]
    robot = make_robot(FakeEpj(), rows, retry=RetryPolicy(attempts=1))

    result = make_engine(robot).run()

    assert (RunStatus.COMPLETED_WITH_FAILURES, EXIT_FAILED_ITEMS) == (
        result.status,
        result.exit_code,
    )
    assert {"done": 1, "failed": 1, "business_exception": 1} == result.counts
    [run] = backend.runs()
    assert (RunStatus.COMPLETED_WITH_FAILURES, 1) == (run.status, run.counts["failed"])


def test_failed_items_up_to_the_threshold_leave_the_run_completed(
    backend: QueueBackend, settings: Settings, redactor: Redactor
) -> None:
    """failed_item_threshold = 2 ("more than"): one failed item, and business
    exceptions, still complete the run with exit 0."""
    lenient = settings.model_copy(
        update={"notify": NotifySettings(failed_item_threshold=2)}
    )
    rows = [{"n": 1}, {"n": 2, "kind": "broken"}, {"n": 3, "kind": "business"}]
    robot = make_robot(FakeEpj(), rows, retry=RetryPolicy(attempts=1))
    engine = Engine(robot, settings=lenient, backend=backend, redactor=redactor)

    result = engine.run()

    assert (RunStatus.COMPLETED, EXIT_OK, 1) == (
        result.status,
        result.exit_code,
        result.counts["failed"],
    )
    [run] = backend.runs()
    assert RunStatus.COMPLETED == run.status


def test_business_exceptions_alone_leave_the_run_completed(
    make_engine: Callable[..., Engine],
) -> None:
    """Business exceptions are the business's to handle: exit 0, not 3."""
    rows = [{"n": 1}, {"n": 2, "kind": "business"}]
    result = make_engine(make_robot(FakeEpj(), rows)).run()

    assert (RunStatus.COMPLETED, EXIT_OK) == (result.status, result.exit_code)


def test_a_stopped_run_with_failed_items_stays_stopped(
    make_engine: Callable[..., Engine],
) -> None:
    """Failed items do not turn a stopped run into a completed one: exit 1."""
    rows = [{"n": n, "kind": "broken"} for n in range(5)]
    robot = make_robot(
        FakeEpj(), rows, retry=RetryPolicy(attempts=1), stop_after_system_errors=2
    )

    result = make_engine(robot).run()

    assert (RunStatus.STOPPED, EXIT_STOPPED) == (result.status, result.exit_code)


def test_stages_resume_after_the_last_finished_one(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A retry skips stages that finished, and later stages see their output."""
    calls: Counter[str] = Counter()

    def register(ctx: Context, job: Job) -> dict[str, int]:
        calls["register"] += 1
        return {"registration_id": 41}

    def file_document(ctx: Context, job: Job) -> dict[str, int]:
        calls["file"] += 1
        if calls["file"] == 1:
            raise ApplicationError("archive timed out")
        return {"document_id": ctx.output["registration_id"] + 1}

    robot = make_robot(
        FakeEpj(),
        [{"n": 1}],
        process=[
            Stage("register result", register),
            Stage("file document", file_document),
        ],
    )
    make_engine(robot).run()
    [item] = backend.items("fake_robot")
    assert {"register": 1, "file": 2} == dict(calls)
    assert ("register result", "file document") == item.finished_stages
    assert {"registration_id": 41, "document_id": 42} == item.output


def test_precheck_runs_only_for_items_claimed_before(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A retried item is prechecked; found done, it is not processed again."""
    epj = FakeEpj()
    checked: list[int] = []

    def already_registered(ctx: Context, job: Job) -> dict[str, int] | None:
        checked.append(job.n)
        return {"registration_id": 1000 + job.n} if epj.registrations[job.n] else None

    def register_then_crash(ctx: Context, job: Job) -> dict[str, int]:
        result = epj.register(Job(n=job.n))
        if len(checked) == 0 and job.n == 2:
            raise ApplicationError("connection reset after saving")
        return {"registration_id": result}

    robot = make_robot(
        epj,
        [{"n": 1}, {"n": 2}],
        process=register_then_crash,
        precheck=already_registered,
    )
    make_engine(robot).run()
    assert [2] == checked
    assert {1: 1, 2: 1} == dict(epj.registrations)
    done = {i.reference: i.output for i in backend.items("fake_robot")}
    assert {"1": {"registration_id": 1001}, "2": {"registration_id": 1002}} == done


def test_verify_failure_is_not_done(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """An item whose read-back differs is not done: here a business exception."""

    def read_back(ctx: Context, job: Job, output: dict[str, Any]) -> None:
        raise BusinessRuleError(f"EPJ shows another value for registration {output}")

    robot = make_robot(FakeEpj(), [{"n": 1}], verify=read_back)
    make_engine(robot).run()
    [item] = backend.items("fake_robot")
    assert ItemState.BUSINESS_EXCEPTION == item.state


def test_invalid_rows_become_business_exceptions_and_the_rest_go_on(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A row failing validation is an exception naming place and column; others run."""
    rows: list[Any] = [
        Row({"n": 1}, "lab.xlsx, sheet 'Ark1', row 2"),
        Row({"n": "x"}, "lab.xlsx, sheet 'Ark1', row 3"),
        Row({"kind": "ok"}, "lab.xlsx, sheet 'Ark1', row 5"),
        RowError("lab.xlsx, sheet 'Ark1', row 4", "the row is merged across columns"),
        {"n": 4},
    ]
    result = make_engine(make_robot(FakeEpj(), rows)).run()
    items = {i.reference: i for i in backend.items("fake_robot")}
    assert {"1", "4"} == {r for r, i in items.items() if i.state is ItemState.DONE}
    bad = items["x"]
    assert ItemState.BUSINESS_EXCEPTION == bad.state
    assert "lab.xlsx, sheet 'Ark1', row 3: column 'n'" in (bad.error_message or "")
    assert "(value 'x')" in (bad.error_message or "")
    [merged] = [
        i for r, i in items.items() if r.startswith("lab.xlsx, sheet 'Ark1', row 4 #")
    ]
    assert "merged across columns" in (merged.error_message or "")
    [no_reference] = [
        i
        for r, i in items.items()
        if r.startswith("invalid: lab.xlsx, sheet 'Ark1', row 5 #")
    ]
    assert "column 'n': a value is required" in (no_reference.error_message or "")
    assert 3 == result.counts["business_exception"]


def test_input_file_and_limit(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    """--input feeds the source; --limit claims at most that many items."""
    path = tmp_path / "input.json"
    path.write_text(json.dumps([{"n": n} for n in range(5)]))
    result = make_engine(make_robot(FakeEpj(), [])).run(input_path=path, limit=2)
    assert (5, 2) == (result.loaded.added, result.counts["done"])  # type: ignore[union-attr]
    assert 3 == backend.counts("fake_robot")[ItemState.NEW]


def test_missing_input_file_exits_2(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    """An input file that does not exist is invalid input: exit code 2."""
    result = make_engine(make_robot(FakeEpj(), [])).run(input_path=tmp_path / "no.json")
    assert (RunStatus.STOPPED, EXIT_INVALID) == (result.status, result.exit_code)
    assert "does not exist" in result.note


def test_stop_request_finishes_the_current_item(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A stop during an item lets it finish and be recorded, then the run stops."""
    stop = threading.Event()

    def register(ctx: Context, job: Job) -> dict[str, int]:
        stop.set()
        return {"n": job.n}

    robot = make_robot(FakeEpj(), [{"n": 1}, {"n": 2}], process=register)
    result = make_engine(robot, stop=stop).run()
    assert (RunStatus.STOPPED, "interrupted") == (result.status, result.note)
    assert [ItemState.DONE, ItemState.NEW] == [
        i.state for i in backend.items("fake_robot")
    ]


def test_setup_failures_stop_the_run_without_touching_items(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A setup that keeps failing stops the run and leaves every item new."""

    def setup(ctx: Context) -> None:
        raise ApplicationError("login page did not load")

    robot = make_robot(FakeEpj(), [{"n": 1}], setup=setup, stop_after_system_errors=2)
    result = make_engine(robot).run()
    assert RunStatus.STOPPED == result.status
    assert 1 == backend.counts("fake_robot")[ItemState.NEW]


def test_run_record_holds_status_counts_host_and_pid(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """The run is recorded with its status, counts by outcome, host and pid."""
    result = make_engine(
        make_robot(FakeEpj(), [{"n": 1}, {"n": 3, "kind": "business"}])
    ).run()
    run = backend.get_run(result.run_id)
    assert RunStatus.COMPLETED == run.status
    assert {"done": 1, "business_exception": 1} == run.counts
    assert run.host and run.pid > 0 and run.finished_at is not None


def test_dry_run_changes_nothing(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A dry run reports new, existing and invalid rows and writes nothing."""
    robot = make_robot(FakeEpj(), [{"n": 1}, {"n": "x"}, {"n": 2}])
    backend.enqueue("fake_robot", [NewItem("1", {"n": 1})])
    report = make_engine(robot).dry_run()
    assert (3, ["2"], ["1"]) == (report.rows, report.new, report.existing)
    assert 1 == len(report.invalid)
    assert ["1"] == [item.reference for item in backend.items("fake_robot")]
    assert [] == backend.runs()


def test_run_report_is_written_with_masked_references(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """Each run leaves report.xlsx with its items and exceptions, CPR numbers masked."""
    from openpyxl import load_workbook

    def register(ctx: Context, job: Job) -> dict[str, int]:
        if job.n == 2:
            raise BusinessRuleError("No patient with CPR 240512-4123 in EPJ")
        return {"registration_id": job.n}

    robot = make_robot(FakeEpj(), [{"n": 1}, {"n": 2}], process=register)
    result = make_engine(robot).run()
    book = load_workbook(result.run_dir / "report.xlsx")
    assert ["Summary", "Items", "Exceptions", "Timings"] == book.sheetnames
    exceptions = [row for row in book["Exceptions"].iter_rows(values_only=True)][1:]
    assert 1 == len(exceptions)
    text = " ".join(str(cell) for cell in exceptions[0])
    assert "No patient with CPR 240512-****" in text  # masked for the operator
    assert "240512-4123" not in text


def test_another_bad_row_at_the_same_place_is_not_dropped(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """Tomorrow's file with a different bad row at the same row number adds it."""
    today = [RowError("lab.xlsx, row 4", "column 'Værdi': not a number (value 'x')")]
    tomorrow = [RowError("lab.xlsx, row 4", "column 'Værdi': not a number (value 'y')")]
    make_engine(make_robot(FakeEpj(), today)).run()
    result = make_engine(make_robot(FakeEpj(), tomorrow)).run()
    assert 1 == result.loaded.added  # type: ignore[union-attr]
    assert 2 == backend.counts("fake_robot")[ItemState.BUSINESS_EXCEPTION]


def test_a_row_repeating_a_reference_with_other_values_is_not_dropped(
    make_engine: Callable[..., Engine], backend: QueueBackend, tmp_path: Path
) -> None:
    """Row 3 has row 1's reference but another kind: it was skipped as "already
    queued" before; now it is a business exception naming both and the difference.
    An identical repeat (row 2) is still one item; loading again adds nothing."""
    epj = FakeEpj()
    rows = [
        {"n": 1, "kind": "ok"},
        {"n": 1, "kind": "ok"},
        {"n": 1, "kind": "business"},
    ]
    robot = make_robot(epj, rows)

    first = make_engine(robot).run()
    again = make_engine(robot).run()

    items = backend.items("fake_robot")
    assert [ItemState.DONE, ItemState.BUSINESS_EXCEPTION] == [i.state for i in items]
    assert 1 == epj.registrations[1]
    assert (
        "row 3: the same reference as row 1 but other values (kind 'business' "
        "here, 'ok' there): check which is right; this row was not processed"
    ) == items[1].error_message
    assert {"done": 1, "business_exception": 1} == first.counts
    assert again.loaded is not None and 0 == again.loaded.added
