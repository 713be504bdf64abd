"""What the console's pages show: dashboard, run page, exception queue, item page.

The data is real: runs recorded in a SQLite queue with a fixed clock, and one run of
a small robot through the engine (its events.jsonl, screenshot, trace and report).
The project logs CPR numbers in clear (``cpr_in_logs = "clear"``), so every mask
seen here is the console's own.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import FrozenInstanceError, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from robotlib import (
    ApplicationError,
    BusinessRuleError,
    Context,
    RetryPolicy,
    Robot,
    step,
)
from robotlib.console._reports import (
    RunPage,
    dashboard,
    exception_queue,
    item_page,
    night_of,
    run_file,
    run_page,
    svg_chart,
)
from robotlib.engine import Engine, new_run_id
from robotlib.logs import configure_logging
from robotlib.project import Project
from robotlib.queue import SqlAlchemyBackend
from robotlib.queue.models import ItemState, NewItem, Run, RunStatus
from robotlib.settings import load_settings
from robotlib.testing import FakeClock

CPH = ZoneInfo("Europe/Copenhagen")
SVG = {"svg": "http://www.w3.org/2000/svg"}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A Copenhagen wall-clock time in November 2026 (CET, UTC+1), in UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=CPH).astimezone(UTC)


#: The morning of the review: Monday 23 November 2026, 14:00 in Copenhagen.
NOW = local(23, 14)

LAB_ROBOT = '''\
"""A robot the schedule files can name."""

from pydantic import BaseModel

from robotlib import Robot


class Row(BaseModel):
    cpr: str
    code: str


def process(ctx, item):
    return None


robot = Robot(name="lab", item=Row, reference=("cpr", "code"), process=process)
'''


@pytest.fixture
def clock() -> FakeClock:
    """The queue's clock; helpers move it to each run's start."""
    return FakeClock(NOW)


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> Iterator[Project]:
    """A project with robots/lab.py, logging CPR numbers in clear, on a fixed clock."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "project"
    (folder / "robots").mkdir(parents=True)
    (folder / "robots" / "lab.py").write_text(LAB_ROBOT, "utf-8")
    (folder / "rpa.toml").write_text('cpr_in_logs = "clear"\n', "utf-8")
    opened = Project(load_settings(folder))
    opened.backend = SqlAlchemyBackend(opened.settings.database, clock=clock)
    yield opened
    opened.close()


def record_run(
    project: Project,
    clock: FakeClock,
    robot: str,
    started: datetime,
    outcomes: list[tuple[str, str]],
    *,
    status: RunStatus = RunStatus.COMPLETED,
    note: str = "",
    run_id: str | None = None,
) -> Run:
    """Record a run that works ``(reference, outcome)`` pairs in order, 2 min each.

    A reference is ``<cpr>|<code>``; one already in the queue (retried) is claimed
    again rather than added.
    """
    backend = project.backend
    clock.now = started
    run_id = run_id or new_run_id(started)
    backend.start_run(run_id, robot, host="rpa-vm-1", pid=4242)
    backend.enqueue(
        robot,
        [NewItem(ref, {"cpr": ref.split("|")[0]}) for ref, _outcome in outcomes],
        run_id=run_id,
    )
    counts: Counter[str] = Counter()
    for reference, outcome in outcomes:
        clock.advance(minutes=2)
        item = backend.claim_next(
            robot, owner="w", lease=timedelta(minutes=5), run_id=run_id
        )
        assert item is not None and item.reference == reference
        cpr = reference.split("|")[0]
        if outcome == "done":
            backend.complete(item.id, owner="w", output={"registration": item.id})
        elif outcome == "business_exception":
            backend.business_exception(
                item.id,
                owner="w",
                error_type="BusinessRuleError",
                message=f"No patient with CPR {cpr} in the lab system",
            )
        else:
            backend.fail(
                item.id,
                owner="w",
                error_type="TimeoutError",
                message=f"the lab system did not answer for {cpr}",
                retry_at=None,
                artifacts=[f"{robot}/{run_id}/item-{item.id}-attempt-1-lab.png"],
            )
        counts[outcome] += 1
    clock.advance(minutes=1)
    return backend.finish_run(run_id, status=status, counts=dict(counts), note=note)


@pytest.fixture
def nights(project: Project, clock: FakeClock) -> dict[str, Run]:
    """Runs of three robots over four nights; one item retried across nights.

    - ``a`` lab, Sat 21 Nov 22:30: 2 done, 240512-4123 a business exception
      (retried by an operator on Sunday morning);
    - ``b`` lab, Sun 22 Nov 23:30: 240512-4123 done now, 1 done, 1 business
      exception, 1 failed;
    - ``c`` lab, Mon 23 Nov 03:00: 1 done (the same night as ``b``);
    - ``d`` notes, Mon 23 Nov 13:00: 1 done, then crashed (the next night);
    - ``old`` post, Thu 19 Nov 02:00: 1 failed, stopped.
    """
    runs = {
        "old": record_run(
            project,
            clock,
            "post",
            local(19, 2),
            [("080880-8901|DOC1", "failed")],
            status=RunStatus.STOPPED,
            note="stopped after 1 system exceptions in a row",
        ),
        "a": record_run(
            project,
            clock,
            "lab",
            local(21, 22, 30),
            [
                ("010190-1234|NPU02319", "done"),
                ("020290-2345|NPU02319", "done"),
                ("240512-4123|NPU02319", "business_exception"),
            ],
        ),
    }
    clock.now = local(22, 9)
    [retried] = project.backend.items("lab", reference="240512-4123|NPU02319")
    project.backend.retry([retried.id], actor="anna", note="Patient 240512-4123 made")
    runs["b"] = record_run(
        project,
        clock,
        "lab",
        local(22, 23, 30),
        [
            ("240512-4123|NPU02319", "done"),
            ("030390-3456|NPU01370", "done"),
            ("040490-4567|NPU01370", "business_exception"),
            ("050590-5678|NPU03230", "failed"),
        ],
    )
    runs["c"] = record_run(
        project, clock, "lab", local(23, 3), [("060690-6789|NPU02319", "done")]
    )
    runs["d"] = record_run(
        project,
        clock,
        "notes",
        local(23, 13),
        [("070770-7890|PRO1", "done")],
        status=RunStatus.CRASHED,
        note="RuntimeError: the browser crashed on 240512-4123",
    )
    clock.now = NOW
    return runs


# The dashboard --------------------------------------------------------------------


def test_night_runs_from_noon_to_noon_local_time() -> None:
    """23:30 and 03:00 local are one night; 13:00 the next day starts another."""
    assert date(2026, 11, 22) == night_of(local(22, 23, 30))
    assert date(2026, 11, 22) == night_of(local(23, 3))
    assert date(2026, 11, 22) == night_of(local(23, 11, 59))
    assert date(2026, 11, 23) == night_of(local(23, 13))


def test_dashboard_shows_each_robots_run_of_last_night(
    project: Project, nights: dict[str, Run]
) -> None:
    """Each robot's latest run since noon yesterday, else its latest at all."""
    board = dashboard(project, now=NOW)

    assert local(22, 12) == board.since
    shown = {entry.robot: (entry.run.id, entry.last_night) for entry in board.robots}
    assert {
        "lab": (nights["c"].id, True),
        "notes": (nights["d"].id, True),
        "post": (nights["old"].id, False),
    } == shown
    lab = board.robots[0].run
    assert (1, 0, 0) == (
        lab.counts.done,
        lab.counts.business_exception,
        lab.counts.failed,
    )
    assert timedelta(minutes=3) == lab.duration
    assert ("rpa-vm-1", RunStatus.COMPLETED) == (lab.host, lab.status)


def test_dashboard_attention_gives_a_masked_reason_per_run(
    project: Project, nights: dict[str, Run]
) -> None:
    """Crashed, stopped, failed items and business exceptions need a look; clean
    runs and runs before last night (unless shown) do not."""
    board = dashboard(project, now=NOW)

    assert [
        (nights["d"].id, "crashed: RuntimeError: the browser crashed on 240512-****"),
        (nights["b"].id, "1 failed item; 1 business exception"),
        (
            nights["old"].id,
            "stopped: stopped after 1 system exceptions in a row; 1 failed item",
        ),
    ] == [(entry.run.id, entry.reason) for entry in board.attention]


def test_dashboard_names_an_interrupted_run(
    project: Project, clock: FakeClock, nights: dict[str, Run]
) -> None:
    """A run stopped by Ctrl+C or SIGTERM needs a look: "interrupted"."""
    stopped = record_run(
        project,
        clock,
        "post",
        local(23, 1),
        [],
        status=RunStatus.STOPPED,
        note="interrupted",
    )

    board = dashboard(project, now=NOW)

    assert (stopped.id, "interrupted") in [
        (entry.run.id, entry.reason) for entry in board.attention
    ]
    assert nights["old"].id not in [entry.run.id for entry in board.attention]


def test_dashboard_counts_the_exception_queue_per_robot(
    project: Project, nights: dict[str, Run]
) -> None:
    """Items now in business_exception or failed, per robot and in all."""
    board = dashboard(project, now=NOW)

    assert [("lab", 1, 1), ("post", 0, 1)] == [
        (entry.robot, entry.business_exception, entry.failed)
        for entry in board.exception_queue
    ]
    assert 3 == board.exceptions_total


def test_dashboard_counts_thirty_nights_from_the_runs(
    project: Project, nights: dict[str, Run]
) -> None:
    """30 nights, oldest first; a night keeps its business exception although the
    item was retried and done the next night."""
    board = dashboard(project, now=NOW)

    assert 30 == len(board.nights)
    assert date(2026, 10, 25) == board.nights[0].night
    assert date(2026, 11, 23) == board.nights[-1].night
    by_night = {
        night.night.day: (night.done, night.business_exception, night.failed)
        for night in board.nights
        if night.total and night.night.month == 11
    }
    assert {18: (0, 0, 1), 21: (2, 1, 0), 22: (3, 1, 1), 23: (1, 0, 0)} == by_night


def test_dashboard_lists_next_runs_from_the_schedule_files(
    project: Project, nights: dict[str, Run]
) -> None:
    """Enabled jobs with their next firing (02:00 local); paused jobs are left out."""
    (project.settings.project_dir / "schedules").mkdir()
    (project.settings.project_dir / "schedules" / "night.toml").write_text(
        '[jobs.nightly]\nrobot = "lab"\ncron = "0 2 * * *"\n'
        'description = "Lab results"\n\n'
        '[jobs.paused]\nrobot = "lab"\ncron = "0 3 * * *"\nenabled = false\n',
        "utf-8",
    )

    board = dashboard(project, now=NOW)

    [upcoming] = board.next_runs
    assert ("nightly", "lab", "Lab results") == (
        upcoming.job,
        upcoming.robot,
        upcoming.description,
    )
    assert (2, 0) == (upcoming.at.astimezone(CPH).hour, upcoming.at.minute)
    assert upcoming.at > datetime.now(UTC)
    assert () == board.schedule_problems


def test_dashboard_without_schedules_folder_has_no_next_runs(
    project: Project, nights: dict[str, Run]
) -> None:
    """A project without schedules/ shows no next runs and no problems."""
    board = dashboard(project, now=NOW)

    assert ((), ()) == (board.next_runs, board.schedule_problems)


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.CRASHED])
def test_dashboard_counts_a_run_with_workers_once(
    project: Project, clock: FakeClock, status: RunStatus
) -> None:
    """A coordinator stands for its worker runs; if it crashed before summing
    their counts, theirs are added."""
    coordinator = "20261122T223000Z-c0ffee"
    clock.now = local(22, 23, 30)
    project.backend.start_run(coordinator, "lab", host="rpa-vm-1", pid=1)
    project.backend.enqueue(
        "lab",
        [NewItem("010190-1234|A", {}), NewItem("020290-2345|A", {})],
        run_id=coordinator,
    )
    for number in (1, 2):
        worker = f"{coordinator}w{number}"
        project.backend.start_run(worker, "lab", host="rpa-vm-1", pid=1 + number)
        item = project.backend.claim_next(
            "lab", owner=worker, lease=timedelta(minutes=5), run_id=worker
        )
        assert item is not None
        project.backend.complete(item.id, owner=worker, output={})
        project.backend.finish_run(
            worker, status=RunStatus.COMPLETED, counts={"done": 1}
        )
    project.backend.finish_run(
        coordinator,
        status=status,
        counts={"done": 2} if status is RunStatus.COMPLETED else {},
    )

    board = dashboard(project, now=NOW)
    page = run_page(project, coordinator)

    assert [coordinator] == [entry.run.id for entry in board.robots]
    assert 2 == board.robots[0].run.counts.done
    assert 2 == board.nights[-2].done
    assert ["010190-****|A", "020290-****|A"] == [i.reference for i in page.items]
    assert [f"{coordinator}w1", f"{coordinator}w2"] == [w.id for w in page.workers]


def test_dashboard_refuses_a_naive_now(project: Project) -> None:
    """Times are UTC-aware: a naive ``now`` is an error, not a guess."""
    with pytest.raises(ValueError, match="timezone-aware"):
        dashboard(project, now=datetime(2026, 11, 23, 8))


# The chart ------------------------------------------------------------------------


def test_svg_chart_draws_one_titled_bar_group_per_night(
    project: Project, nights: dict[str, Run]
) -> None:
    """Valid SVG: role img, a summary label, a group with tooltip and label a night."""
    board = dashboard(project, now=NOW)

    root = ET.fromstring(svg_chart(board.nights))

    assert "img" == root.get("role")
    assert "In all: done 6, business exceptions 2, failed 2." in root.get(
        "aria-label", ""
    )
    groups = root.findall("svg:g[@class='night']", SVG)
    assert 30 == len(groups)
    assert all(group.find("svg:title", SVG) is not None for group in groups)
    [night] = [g for g in groups if g.get("data-night") == "2026-11-22"]
    assert "Night 22/11-23/11 2026: 3 done, 1 business exception, 1 failed" == (
        night.findtext("svg:title", namespaces=SVG)
    )
    assert "22" == night.findtext("svg:text", namespaces=SVG)
    heights = {
        rect.get("class"): float(rect.get("height", "0"))
        for rect in night.findall("svg:rect", SVG)
    }
    assert {"hit", "done", "business_exception", "failed"} == set(heights)
    assert heights["done"] == pytest.approx(3 * heights["failed"], abs=0.5)


def test_svg_chart_without_nights_is_still_valid() -> None:
    """No nights: a valid, labelled SVG saying so."""
    root = ET.fromstring(svg_chart([]))

    assert [] == root.findall("svg:g", SVG)
    assert "no nights" in root.get("aria-label", "")


# A run through the engine ----------------------------------------------------------

UNKNOWN_PATIENT = "240512-4123"
ROWS = [
    {"cpr": "010190-1234", "code": "NPU02319"},  # done
    {"cpr": UNKNOWN_PATIENT, "code": "NPU02319"},  # business exception
    {"cpr": "020290-2345", "code": "OFFLINE"},  # system exception, not retried
    {"cpr": "030390-3456", "code": "NPU01370"},  # done
]
CLEAR_CPRS = [str(row["cpr"]) for row in ROWS]


class LabResult(BaseModel):
    """One lab result."""

    cpr: str
    code: str


class FakeLab:
    """A lab system that takes screenshots and keeps a trace."""

    name = "lab"

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(b"\x89PNG fake")
        return path

    def save_trace(self, path: Path) -> Path:
        path.write_bytes(b"PK fake")
        return path

    def close(self) -> None:
        pass


@step
def register_result(*, cpr: str, code: str) -> int:
    """Register one result (a step: logged with its arguments at debug level)."""
    if code == "OFFLINE":
        raise ApplicationError("the lab system answered HTTP 503")
    if cpr == UNKNOWN_PATIENT:
        raise BusinessRuleError(f"No patient with CPR {cpr} in the lab system")
    return 17


def open_lab(ctx: Context) -> None:
    ctx.open_application(FakeLab())


def process(ctx: Context, item: LabResult) -> dict[str, Any]:
    return {"registration": register_result(cpr=item.cpr, code=item.code)}


def read_rows(input_path: Path | None) -> list[dict[str, Any]]:
    return ROWS


@pytest.fixture
def run(project: Project) -> Run:
    """A run of the lab robot over ROWS: 2 done, 1 business exception, 1 failed."""
    configure_logging(
        project.settings, redactor=project.redactor, console_level="ERROR"
    )
    robot = Robot(
        name="lab",
        item=LabResult,
        source=read_rows,
        reference=("cpr", "code"),
        setup=open_lab,
        process=process,
        retry=RetryPolicy(attempts=1),
        stop_after_system_errors=0,
    )
    engine = Engine(
        robot,
        settings=project.settings,
        backend=project.backend,
        redactor=project.redactor,
        sleep=lambda seconds: None,
    )
    result = engine.run()
    return project.backend.get_run(result.run_id)


def all_text(page: RunPage) -> str:
    """Every text field of the page's items and timeline, joined."""
    texts = [str(getattr(i, f.name)) for i in page.items for f in fields(i)]
    texts += [str(getattr(e, f.name)) for e in page.timeline for f in fields(e)]
    return "\n".join(texts)


def test_run_page_summarises_the_run(project: Project, run: Run) -> None:
    """Robot, status, counts, host and all four items, found by a prefix of the id."""
    page = run_page(project, run.id[:20])

    assert (run.id, "lab", RunStatus.COMPLETED_WITH_FAILURES) == (
        page.run.id,
        page.run.robot,
        page.run.status,
    )
    counts = page.run.counts
    assert (2, 1, 1) == (counts.done, counts.business_exception, counts.failed)
    assert page.run.host
    assert page.run.duration is not None
    assert (4, 4) == (page.item_count, len(page.items))
    assert project.run_dir(run) == page.folder


def test_run_page_filters_items_by_outcome(project: Project, run: Run) -> None:
    """outcome= keeps one state; references and errors stay masked."""
    business = run_page(project, run.id, outcome="business_exception")
    done = run_page(project, run.id, outcome=ItemState.DONE)

    [row] = business.items
    assert ("240512-****|NPU02319", ItemState.BUSINESS_EXCEPTION) == (
        row.reference,
        row.state,
    )
    assert "No patient with CPR 240512-**** in the lab system" == row.error
    assert "BusinessRuleError" == row.error_type
    assert [{"registration": 17}] * 2 == [item.output for item in done.items]
    assert 4 == done.item_count


def test_run_page_rejects_an_unknown_outcome(project: Project, run: Run) -> None:
    """An outcome that is no item state is an error, not an empty list."""
    with pytest.raises(ValueError, match="nonsense"):
        run_page(project, run.id, outcome="nonsense")


@pytest.mark.parametrize("typed", ["2405124123", "240512-4123", " 240512-4123|npu "])
def test_run_page_search_by_clear_cpr_finds_the_masked_row(
    project: Project, run: Run, typed: str
) -> None:
    """A full CPR number, with or without the dash, finds the row shown masked."""
    page = run_page(project, run.id, search=typed)

    assert ["240512-****|NPU02319"] == [item.reference for item in page.items]


def test_run_page_search_cannot_reveal_a_masked_serial(
    project: Project, run: Run
) -> None:
    """Digits of a hidden serial find nothing; shown text and clear mode still do."""
    assert () == run_page(project, run.id, search="4123").items
    assert 2 == len(run_page(project, run.id, search="npu02319").items)
    assert 1 == len(run_page(project, run.id, search="240512-*").items)
    clear = run_page(project, run.id, search="4123", show_cpr=True)
    assert ["240512-4123|NPU02319"] == [item.reference for item in clear.items]


def test_run_page_timeline_masks_cpr_and_omits_debug_events(
    project: Project, run: Run
) -> None:
    """Info and up by default, warnings and errors kept, no full CPR anywhere."""
    page = run_page(project, run.id)

    events = [(event.level, event.event) for event in page.timeline]
    assert ("info", "run_started") == events[0]
    assert ("info", "run_finished") == events[-1]
    assert ("warning", "item_business_exception") in events
    assert ("error", "item_system_exception") in events
    assert "step_started" not in {name for _level, name in events}
    assert [] == [cpr for cpr in CLEAR_CPRS if cpr in all_text(page)]
    [business] = [e for e in page.timeline if e.event == "item_business_exception"]
    assert "240512-****|NPU02319" == business.item
    assert "reason=No patient with CPR 240512-**** in the lab system" in business.text
    [system] = [e for e in page.timeline if e.event == "item_system_exception"]
    assert "ApplicationError: the lab system answered HTTP 503" in system.exception
    assert all(e.at is not None and e.at.tzinfo is not None for e in page.timeline)


def test_run_page_timeline_on_request_shows_debug_and_clear_cpr(
    project: Project, run: Run
) -> None:
    """include_debug adds step_started; show_cpr shows the numbers as logged."""
    page = run_page(project, run.id, include_debug=True, show_cpr=True)

    steps = [e for e in page.timeline if e.event == "step_started"]
    assert 4 == len(steps)
    assert "register_result" == steps[1].step
    assert f"arg_cpr='{UNKNOWN_PATIENT}'" in steps[1].text


def test_run_page_timeline_keeps_an_unreadable_line_masked(
    project: Project, run: Run
) -> None:
    """A line cut short (a killed worker) shows as a warning, its text masked."""
    with (project.run_dir(run) / "events.jsonl").open("a", encoding="utf-8") as log:
        log.write('{"event": "item_started", "item": "240512-4123|NPU\n')

    last = run_page(project, run.id).timeline[-1]

    assert ("warning", "unreadable_line", None) == (last.level, last.event, last.at)
    assert "240512-****|NPU" in last.text
    assert UNKNOWN_PATIENT not in last.text


def test_run_page_lists_screenshots_traces_report_and_log(
    project: Project, run: Run
) -> None:
    """Paths relative to the run folder; a screenshot names the item it is of."""
    page = run_page(project, run.id)

    [failed] = project.backend.items("lab", states=[ItemState.FAILED])
    assert [(f"item-{failed.id}-attempt-1-lab.png", failed.id)] == [
        (shot.path, shot.item_id) for shot in page.screenshots
    ]
    assert [f"item-{failed.id}-attempt-1-lab-trace.zip"] == [
        trace.path for trace in page.traces
    ]
    assert page.report is not None and "report.xlsx" == page.report.path
    assert page.log is not None and "events.jsonl" == page.log.path
    assert (page.folder / page.screenshots[0].path).is_file()


def test_run_page_of_an_unknown_run_is_a_key_error(project: Project) -> None:
    """An unknown or blank run id raises KeyError naming the problem."""
    with pytest.raises(KeyError, match="no run 'nope'"):
        run_page(project, "nope")
    with pytest.raises(KeyError, match="no run"):
        run_page(project, " ")


# Files of a run ---------------------------------------------------------------------


def test_run_file_returns_a_file_inside_the_run_folder(
    project: Project, run: Run
) -> None:
    """A relative path inside the folder gives the resolved file."""
    path = run_file(project, run.id, "report.xlsx")

    assert (project.run_dir(run) / "report.xlsx").resolve() == path
    assert path.read_bytes().startswith(b"PK")


@pytest.mark.parametrize(
    "relative",
    ["../x", "../../../rpa.toml", "a/../../x", "..\\x", "/etc/passwd", "C:\\x", ""],
)
def test_run_file_refuses_paths_leading_out(
    project: Project, run: Run, relative: str
) -> None:
    """``..``, absolute and drive paths, and an empty one are refused."""
    with pytest.raises(ValueError):
        run_file(project, run.id, relative)


def test_run_file_refuses_an_absolute_path_to_a_real_file(
    project: Project, run: Run, tmp_path: Path
) -> None:
    """An absolute path is refused even when it names an existing file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the web", "utf-8")

    with pytest.raises(ValueError, match="absolute"):
        run_file(project, run.id, str(secret))


def test_run_file_refuses_a_symlink_out_of_the_folder(
    project: Project, run: Run, tmp_path: Path
) -> None:
    """A link inside the folder to a file outside it is refused and not listed."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not for the web")
    (project.run_dir(run) / "evil.png").symlink_to(secret)

    with pytest.raises(ValueError, match="outside"):
        run_file(project, run.id, "evil.png")
    assert "evil.png" not in [s.path for s in run_page(project, run.id).screenshots]


def test_run_file_of_a_missing_file_or_run(project: Project, run: Run) -> None:
    """A missing file is FileNotFoundError; an unknown run is KeyError."""
    with pytest.raises(FileNotFoundError):
        run_file(project, run.id, "nothing.png")
    with pytest.raises(KeyError):
        run_file(project, "20200101T000000Z-000000", "report.xlsx")


# The exception queue and an item ----------------------------------------------------


def test_exception_queue_is_oldest_first_with_ages(
    project: Project, nights: dict[str, Run]
) -> None:
    """Waiting items, oldest first, with masked reference and reason and their age."""
    rows = exception_queue(project, now=NOW)

    assert [
        ("post", "080880-****|DOC1", ItemState.FAILED, nights["old"].id),
        ("lab", "040490-****|NPU01370", ItemState.BUSINESS_EXCEPTION, nights["b"].id),
        ("lab", "050590-****|NPU03230", ItemState.FAILED, nights["b"].id),
    ] == [(r.robot, r.reference, r.state, r.run_id) for r in rows]
    assert NOW - (local(19, 2) + timedelta(minutes=2)) == rows[0].age
    assert NOW - (local(22, 23, 30) + timedelta(minutes=6)) == rows[1].age
    assert "No patient with CPR 040490-**** in the lab system" == rows[1].reason
    assert (1, "TimeoutError") == (rows[2].attempts, rows[2].error_type)


def test_exception_queue_of_one_robot(project: Project, nights: dict[str, Run]) -> None:
    """robot= keeps that robot's items."""
    rows = exception_queue(project, robot="post", now=NOW, show_cpr=True)

    assert [("080880-8901|DOC1", "the lab system did not answer for 080880-8901")] == [
        (r.reference, r.reason) for r in rows
    ]


def test_item_page_shows_history_and_audit(
    project: Project, nights: dict[str, Run]
) -> None:
    """Every state change with its run, and who retried it, when and why."""
    [item] = project.backend.items("lab", reference="240512-4123|NPU02319")

    page = item_page(project, item.id)

    assert ("240512-****|NPU02319", {"cpr": "240512-****"}) == (
        page.item.reference,
        page.item.payload,
    )
    a, b = nights["a"].id, nights["b"].id
    assert [
        (None, ItemState.NEW, a),
        (ItemState.NEW, ItemState.IN_PROGRESS, a),
        (ItemState.IN_PROGRESS, ItemState.BUSINESS_EXCEPTION, a),
        (ItemState.BUSINESS_EXCEPTION, ItemState.NEW, None),
        (ItemState.NEW, ItemState.IN_PROGRESS, b),
        (ItemState.IN_PROGRESS, ItemState.DONE, b),
    ] == [(h.from_state, h.to_state, h.run_id) for h in page.history]
    assert "Patient 240512-**** made" == page.history[3].note
    assert [(local(22, 9), "anna", "retry", "Patient 240512-**** made")] == [
        (entry.at, entry.actor, entry.action, entry.note) for entry in page.audit
    ]
    assert (ItemState.DONE, {"registration": item.id}) == (
        page.item.state,
        page.item.output,
    )


def test_item_page_shows_cpr_in_clear_on_request(
    project: Project, nights: dict[str, Run]
) -> None:
    """show_cpr=True shows reference, payload and notes as stored."""
    [item] = project.backend.items("lab", reference="240512-4123|NPU02319")

    page = item_page(project, item.id, show_cpr=True)

    assert "240512-4123|NPU02319" == page.item.reference
    assert {"cpr": "240512-4123"} == page.item.payload
    assert "Patient 240512-4123 made" == page.audit[0].note


def test_item_page_lists_artifacts_with_their_run_folder(
    project: Project, run: Run
) -> None:
    """A failed item's screenshot and trace, each servable through run_file."""
    [failed] = project.backend.items("lab", states=[ItemState.FAILED])

    page = item_page(project, failed.id)

    assert [
        (run.id, f"item-{failed.id}-attempt-1-lab.png", "screenshot", True),
        (run.id, f"item-{failed.id}-attempt-1-lab-trace.zip", "trace", True),
    ] == [(a.run_id, a.path, a.kind, a.exists) for a in page.artifacts]
    shot = page.artifacts[0]
    assert shot.run_id is not None
    assert b"\x89PNG fake" == run_file(project, shot.run_id, shot.path).read_bytes()


def test_item_page_of_an_unknown_item_is_a_key_error(project: Project) -> None:
    """An unknown item id raises a KeyError (ItemNotFoundError)."""
    with pytest.raises(KeyError):
        item_page(project, 999)


def test_pages_are_frozen(project: Project, nights: dict[str, Run]) -> None:
    """The records handed to templates cannot be changed by them."""
    board = dashboard(project, now=NOW)

    with pytest.raises(FrozenInstanceError):
        board.since = NOW  # type: ignore[misc]
