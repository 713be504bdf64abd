"""`rpa run`: loading the input, processing items, limits, dry runs and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from robotlib.cli import app
from robotlib.queue import QueueBackend
from robotlib.queue.models import ItemState, RunStatus


def states(backend: QueueBackend, robot: str = "fake_lab") -> dict[str, ItemState]:
    """Each item's state by reference."""
    return {item.reference: item.state for item in backend.items(robot)}


def test_run_with_a_failed_item_exits_3_and_summarises(
    rpa: Callable[..., Result],
    input_file: Path,
    backend: QueueBackend,
    references: list[str],
    registrations: Callable[[], list[dict[str, Any]]],
) -> None:
    """A run with business exceptions and a failed item runs to its end, but the
    failed item needs a person: completed_with_failures, exit 3, and a last line
    saying so."""
    result = rpa("run", "fake_lab", "--input", str(input_file))

    assert 3 == result.exit_code
    assert "Loaded: 6 new item(s), 0 already queued, 0 corrected." in result.stdout
    assert "done 2 · business exceptions 3 · failed 1 · retried 1" in result.stdout
    assert "review: rpa exceptions fake_lab" in result.stdout
    [run] = backend.runs()
    assert f"Run {run.id} of fake_lab: completed_with_failures\n" in result.stdout
    run_log = input_file.parent / "logs" / "fake_lab" / run.id / "events.jsonl"
    assert f"  log: {run_log}\n" in result.stdout
    assert run_log.is_file()
    assert (
        f"Run {run.id} completed with failures: 1 failed item(s); "
        "see `rpa exceptions fake_lab`."
    ) == result.stdout.splitlines()[-1]
    assert (RunStatus.COMPLETED_WITH_FAILURES, 2, 3, 1) == (
        run.status,
        run.counts["done"],
        run.counts["business_exception"],
        run.counts["failed"],
    )
    expected = dict(
        zip(
            references,
            [
                ItemState.DONE,
                ItemState.BUSINESS_EXCEPTION,
                ItemState.DONE,
                ItemState.BUSINESS_EXCEPTION,
                ItemState.BUSINESS_EXCEPTION,
                ItemState.FAILED,
            ],
            strict=True,
        )
    )
    assert expected == states(backend)
    assert ["010190-1234", "020290-2345"] == [r["cpr"] for r in registrations()]


def test_failed_items_up_to_the_threshold_complete_with_exit_0(
    rpa: Callable[..., Result], project: Path, input_file: Path, backend: QueueBackend
) -> None:
    """notify.failed_item_threshold = 1: one failed item is still a plain
    completed run, exit 0, without the completed-with-failures line."""
    settings = project / "rpa.toml"
    settings.write_text(
        settings.read_text() + "[notify]\nfailed_item_threshold = 1\n", "utf-8"
    )

    result = rpa("run", "fake_lab", "--input", str(input_file))

    assert 0 == result.exit_code, result.output
    [run] = backend.runs()
    assert (RunStatus.COMPLETED, 1) == (run.status, run.counts["failed"])
    assert f"Run {run.id} of fake_lab: completed\n" in result.stdout
    assert "completed with failures" not in result.stdout


def test_business_exception_keeps_the_operator_message_and_fails_once(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> None:
    """Business exceptions are tried once; the failing item twice, then failed."""
    rpa("run", "fake_lab", "--input", str(input_file))

    items = {item.reference: item for item in backend.items("fake_lab")}
    unknown = items["240512-4123|NPU02319"]
    assert 1 == unknown.attempts
    assert (unknown.error_message or "").startswith("No patient with CPR 240512-**** ")
    assert "240512-4123" not in (unknown.error_message or "")
    implausible = items["040490-4567|NPU19748"]
    assert "value 99.0 [mmol/L] of NPU19748 is outside 0-50: check the sample" == (
        implausible.error_message
    )
    failed = items["050590-5678|OFFLINE"]
    assert (2, "ApplicationError") == (failed.attempts, failed.error_type)
    assert 2 == len(failed.artifacts)


def test_second_identical_run_enqueues_nothing_new(
    rpa: Callable[..., Result],
    input_file: Path,
    backend: QueueBackend,
    registrations: Callable[[], list[dict[str, Any]]],
) -> None:
    """Loading the same file again adds 0 items and registers nothing twice."""
    rpa("run", "fake_lab", "--input", str(input_file))
    before = states(backend)

    result = rpa("run", "fake_lab", "--input", str(input_file))

    assert 0 == result.exit_code
    assert "Loaded: 0 new item(s), 6 already queued, 0 corrected." in result.stdout
    assert "done 0 · business exceptions 0 · failed 0 · retried 0" in result.stdout
    assert before == states(backend)
    assert 2 == len(registrations())
    assert 2 == len(backend.runs())


def test_run_without_input_uses_the_source_default(
    rpa: Callable[..., Result], backend: QueueBackend
) -> None:
    """Without --input the robot's source gives its default rows."""
    result = rpa("run", "fake_lab")

    assert 0 == result.exit_code
    assert "Loaded: 1 new item(s), 0 already queued, 0 corrected." in result.stdout
    assert {"010190-1234|NPU02319": ItemState.DONE} == states(backend)


def test_limit_processes_at_most_n_items(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> None:
    """--limit 2 claims two items and leaves the rest new for the next run."""
    result = rpa("run", "fake_lab", "--input", str(input_file), "--limit", "2")

    assert 0 == result.exit_code
    assert "completed (limit of 2 items reached)" in result.stdout
    counts = backend.counts("fake_lab")
    assert (1, 2, 3) == (
        counts[ItemState.DONE],
        counts[ItemState.BUSINESS_EXCEPTION],
        counts[ItemState.NEW],
    )
    assert 2 == len([i for i in backend.items("fake_lab") if i.attempts > 0])

    rest = rpa("run", "fake_lab", "--input", str(input_file))

    assert 3 == rest.exit_code  # the OFFLINE item failed in this run
    assert 0 == backend.counts("fake_lab")[ItemState.NEW]


def test_limit_must_be_positive(
    rpa: Callable[..., Result], backend: QueueBackend
) -> None:
    """--limit 0 is refused with exit 2 and nothing runs."""
    result = rpa("run", "fake_lab", "--limit", "0")

    assert 2 == result.exit_code
    assert "--limit" in result.stderr
    assert [] == backend.runs()


def test_dry_run_shows_counts_and_invalid_rows_and_changes_nothing(
    rpa: Callable[..., Result],
    project: Path,
    input_file: Path,
    backend: QueueBackend,
    registrations: Callable[[], list[dict[str, Any]]],
) -> None:
    """--dry-run reports what would happen; no run, no item, no log, no registration."""
    result = rpa("run", "fake_lab", "--input", str(input_file), "--dry-run")

    assert 0 == result.exit_code
    assert [
        "6 rows read: 5 would be enqueued, 0 are in the queue already, "
        "0 would be corrected, 1 are invalid.",
        "  invalid: row 4: column 'value': Input should be a valid number, unable to "
        "parse string as a number (value 'high')",
        "5 items would be processed. Nothing was changed.",
    ] == result.stdout.splitlines()
    assert ([], []) == (backend.runs(), backend.items())
    assert not (project / "logs").exists()
    assert [] == registrations()


def test_json_prints_the_outcome_alone(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> None:
    """--json: stdout is one JSON object (no bar, no "Loaded:" line), CPR masked,
    with the run's exit code; --dry-run --json too, changing nothing."""
    dry = rpa("run", "fake_lab", "--input", str(input_file), "--dry-run", "--json")
    assert [] == backend.runs()
    result = rpa("run", "fake_lab", "--input", str(input_file), "--json")

    assert (0, 3) == (dry.exit_code, result.exit_code)
    planned = json.loads(dry.stdout)
    assert (6, 5, 0, 5, False) == (
        planned["rows"],
        planned["new"],
        planned["existing"],
        planned["due"],
        planned["changed"],
    )
    assert ["row 4"] == [r["reason"].split(":")[0] for r in planned["invalid"]]
    record = json.loads(result.stdout)
    [run] = backend.runs()
    assert {
        "run_id": run.id,
        "robot": "fake_lab",
        "status": "completed_with_failures",
        "exit_code": 3,
        "counts": {"done": 2, "business_exception": 3, "retried": 1, "failed": 1},
        "loaded": {"added": 6, "existing": 0, "corrected": 0},
        "log": str(input_file.parent / "logs" / "fake_lab" / run.id / "events.jsonl"),
    } == {key: value for key, value in record.items() if key != "note"}
    assert not re.search(r"\d{6}-?\d{4}", result.stdout)  # no full CPR number


def test_dry_run_after_a_run_counts_rows_already_queued(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> None:
    """A dry run after a limited run sees every row queued and the items still due."""
    rpa("run", "fake_lab", "--input", str(input_file), "--limit", "1")
    before = (backend.runs(), backend.items())

    result = rpa("run", "fake_lab", "--input", str(input_file), "--dry-run")

    assert 0 == result.exit_code
    assert (
        "6 rows read: 0 would be enqueued, 6 are in the queue already, "
        "0 would be corrected, 0 are invalid." == result.stdout.splitlines()[0]
    )
    assert "4 items would be processed. Nothing was changed." in result.stdout
    assert before == (backend.runs(), backend.items())


def test_unknown_robot_exits_2_naming_the_robots_there(
    rpa: Callable[..., Result],
    add_robot: Callable[..., Path],
    project: Path,
    backend: QueueBackend,
) -> None:
    """`rpa run nope` exits 2 and names the robots the project has."""
    add_robot("other_lab")

    result = rpa("run", "nope")

    assert 2 == result.exit_code
    robots_dir = project / "robots"
    assert (
        f"no robot named 'nope' in {robots_dir} (robots there: fake_lab, other_lab)\n"
        == result.stderr
    )
    assert "Traceback" not in result.output
    assert [] == backend.runs()


def test_missing_input_file_exits_2(
    rpa: Callable[..., Result], project: Path, backend: QueueBackend
) -> None:
    """An input file that does not exist exits 2 and enqueues nothing."""
    missing = project / "no-such-export.json"

    result = rpa("run", "fake_lab", "--input", str(missing))

    assert 2 == result.exit_code
    assert f"stopped (input file {missing} does not exist)" in result.stdout
    assert [] == backend.items()
    assert [RunStatus.STOPPED] == [run.status for run in backend.runs()]


def test_missing_input_file_of_a_dry_run_exits_2(
    rpa: Callable[..., Result], project: Path
) -> None:
    """A dry run of a file that does not exist exits 2 with the reason."""
    missing = project / "no-such-export.json"

    result = rpa("run", "fake_lab", "--input", str(missing), "--dry-run")

    assert 2 == result.exit_code
    assert f"input file {missing} does not exist\n" == result.stderr


def test_every_item_failing_stops_the_run_with_exit_1(
    rpa: Callable[..., Result],
    add_robot: Callable[..., Path],
    input_file: Path,
    backend: QueueBackend,
) -> None:
    """Two system exceptions in a row stop the run: exit 1, the rest stays new."""
    add_robot("lab_offline", always_down=True, stop_after=2)

    result = rpa("run", "lab_offline", "--input", str(input_file))

    assert 1 == result.exit_code
    assert isinstance(result.exception, SystemExit)
    assert (
        "of lab_offline: stopped (stopped after 2 system exceptions in a row)"
        in result.stdout
    )
    [run] = backend.runs()
    assert (RunStatus.STOPPED, {"retried": 1, "failed": 1}) == (
        run.status,
        {k: v for k, v in run.counts.items() if k in ("retried", "failed")},
    )
    counts = backend.counts("lab_offline")
    assert (1, 1, 4) == (
        counts[ItemState.FAILED],
        counts[ItemState.BUSINESS_EXCEPTION],
        counts[ItemState.NEW],
    )
    assert [0, 0, 0, 0] == [
        i.attempts for i in backend.items("lab_offline", states=[ItemState.NEW])
    ]


def test_project_from_the_environment(
    project: Path, input_file: Path, backend: QueueBackend
) -> None:
    """RPA_PROJECT_DIR selects the project when --project is not given."""
    result = CliRunner().invoke(
        app,
        ["run", "fake_lab", "--input", str(input_file)],
        env={"RPA_PROJECT_DIR": str(project), "COLUMNS": "300"},
    )

    assert 3 == result.exit_code  # ran to its end; the OFFLINE item failed
    assert 6 == len(backend.items("fake_lab"))


@pytest.mark.parametrize(
    ("robot", "exit_code", "expected"),
    [
        ("fake_lab", 3, "of fake_lab: completed_with_failures"),
        ("lab_offline", 1, "of lab_offline: stopped"),
        ("nope", 2, "no robot named 'nope'"),
    ],
)
def test_installed_rpa_command_runs_robots_with_its_exit_codes(
    rpa_executable: Path,
    project: Path,
    input_file: Path,
    add_robot: Callable[..., Path],
    backend: QueueBackend,
    robot: str,
    exit_code: int,
    expected: str,
) -> None:
    """The `rpa` console script runs a robot and exits 3, 1 or 2 as documented."""
    add_robot("lab_offline", always_down=True, stop_after=2)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}

    completed = subprocess.run(
        [str(rpa_executable), "-p", str(project), "run", robot, "-i", str(input_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert exit_code == completed.returncode
    assert expected in completed.stdout + completed.stderr
    assert [] == [
        line for line in completed.stderr.splitlines() if line.startswith("Traceback")
    ]
    runs = backend.runs()
    assert (0 if robot == "nope" else 1) == len(runs)
    for run in runs:  # the log path stays on one line, even piped at 80 columns
        log = project / "logs" / robot / run.id / "events.jsonl"
        assert f"  log: {log}\n" in completed.stdout


PROBE = '''\
"""Records how its source was told to read: the run's reading defaults."""

from pydantic import BaseModel

from robotlib import Robot
from robotlib.reading import current


class Seen(BaseModel):
    n: int
    stable_for_s: float
    locale: str


def source(input_path):
    defaults = current()
    return [{"n": 1, "stable_for_s": defaults.stable_for_s, "locale": defaults.locale}]


robot = Robot(name="probe", item=Seen, source=source, reference=["n"],
              process=lambda ctx, item: None)
'''


def test_stable_for_and_the_project_locale_reach_the_source(
    rpa: Callable[..., Result], project: Path, backend: QueueBackend
) -> None:
    """`rpa run --stable-for` (what the scheduler passes) and rpa.toml's locale
    are the defaults the robot's source reads its file with."""
    (project / "robots" / "probe.py").write_text(PROBE, encoding="utf-8")
    settings = project / "rpa.toml"
    settings.write_text(settings.read_text() + 'locale = "en_US"\n', "utf-8")
    result = rpa("run", "probe", "--stable-for", "7")
    assert 0 == result.exit_code, result.output
    [item] = backend.items("probe")
    assert {"n": 1, "stable_for_s": 7.0, "locale": "en_US"} == item.payload
