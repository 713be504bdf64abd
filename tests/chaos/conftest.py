"""The chaos harness: a misbehaving sandbox, a lab results batch, the accounting.

``rpa run lab_results --workers 2`` runs as a user runs it (a child process, the
example robot of this repository, a SQLite queue in the test's folder) against a
sandbox of its own, ``rpa sandbox`` in a process of its own too (its log is
``sandbox.log`` in the test's folder). Afterwards :meth:`Chaos.account` checks what
the issue asks of a batch under any trouble: every input row ended done, business
exception or failed (none new, none in progress); the EPJ holds each result once,
and the robot never even tried to register one it had registered already (the
sandbox's duplicate guard, which a real EPJ may lack, records every attempt it
refused); every done row's registration holds the row's values; each business
exception is one of the planted bad rows with the EPJ's reason; each failed row has
a reason and a screenshot, and so does every system exception along the way.

Sizes: ``RPA_CHAOS_ROWS`` rows (60 in ``make test``, 500 in ``make soak``).
``RPA_CHAOS_SEED`` fixes the input and the kill points (else a random seed, printed).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from openpyxl import Workbook

from robotlib.engine import EXIT_FAILED_ITEMS, EXIT_OK, EXIT_STOPPED
from robotlib.queue import ItemState, SqlAlchemyBackend, WorkItem
from sandbox.catalog import LAB_CODES
from sandbox.config import Faults
from sandbox.server import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
#: The robot of a batch unless told otherwise; lab_results_spa registers the same
#: rows through the single-page EPJ.
ROBOT = "lab_results"
HEADERS = ["CPR-nummer", "Analysekode", "Værdi", "Enhed", "Prøvetidspunkt", "Kommentar"]
#: The reasons a planted bad row may end with, by kind.
BUSINESS_REASONS = {
    "unknown_patient": "No patient with CPR number",
    "implausible": "outside the plausible range",
    "invalid": "Analysekode",
}
#: A well-formed CPR number no sandbox patient has.
NOBODY = "010101-0000"


@dataclass
class Plan:
    """The input file and what each of its rows should come to."""

    path: Path
    #: key (cpr, code, "YYYY-MM-DDTHH:MM") → value, of the rows the EPJ accepts.
    valid: dict[tuple[str, str, str], float] = field(default_factory=dict)
    #: The planted bad rows: key → kind (a key of BUSINESS_REASONS); a row the
    #: loading rejects is keyed ("location", "FILE, sheet 'S', row N", "").
    bad: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: Valid rows a nurse registered before the run (the robot must not again).
    by_nurse: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return len(self.valid) + len(self.bad)


@dataclass
class Outcome:
    """What :meth:`Chaos.account` found, for a test's own further checks."""

    counts: Counter[str]
    items: list[WorkItem]
    registrations: list[dict[str, Any]]


class Chaos:
    """One chaos batch: the sandbox, the project's environment, the accounting."""

    def __init__(
        self, tmp_path: Path, sandbox: Sandbox, seed: int, robot: str = ROBOT
    ) -> None:
        self.robot = robot
        self.dir = tmp_path
        self.sandbox = sandbox
        self.random = random.Random(seed)
        self.database = f"sqlite:///{tmp_path / 'queue.db'}"
        self.logs = tmp_path / "logs"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RPA_")},
            "RPA_CRED_SANDBOX_URL": sandbox.url,
            "RPA_CRED_SANDBOX_USERNAME": "robot",
            "RPA_CRED_SANDBOX_PASSWORD": "robot-pass-1",
            "RPA_DATABASE_URL": self.database,
            "RPA_LOG_DIR": str(self.logs),
        }
        self.processes: list[subprocess.Popen[str]] = []

    # The batch ---------------------------------------------------------------------

    def write_input(self, rows: int) -> Plan:
        """An input of ``rows`` rows: about 5% planted bad ones, 2 done by a nurse."""
        patients = [p["cpr"] for p in self.api("/patients?limit=1000")]
        self.random.shuffle(patients)
        labs = list(LAB_CODES.values())
        plan = Plan(self.dir / "lab_results.xlsx")
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "Resultater"
        sheet.append(HEADERS)
        start = datetime(2026, 11, 2, 6, 0)
        kinds = ["unknown_patient", "implausible", "invalid"]
        bad_rows = set(self.random.sample(range(rows), max(3, rows // 20)))
        for number in range(rows):
            lab = labs[number % len(labs)]
            cpr = patients[number % len(patients)]
            at = start + timedelta(minutes=7 * number)
            value = round(self.random.uniform(lab.low, lab.high), 1)
            code = lab.code
            kind = kinds[len(plan.bad) % len(kinds)] if number in bad_rows else None
            if kind == "unknown_patient":
                cpr = NOBODY
            elif kind == "implausible":
                value = lab.high * 10 + 1
            elif kind == "invalid":
                code = f"XYZ{number}"
            key = (cpr, code, at.strftime("%Y-%m-%dT%H:%M"))
            if kind == "invalid":  # rejected while loading: known by its place
                where = f"{plan.path.name}, sheet {sheet.title!r}, row {number + 2}"
                key = ("location", where, "")
            if kind is None:
                plan.valid[key] = value
            else:
                plan.bad[key] = kind
            sheet.append([cpr, code, value, lab.unit, at, ""])
        book.save(plan.path)
        for key in self.random.sample(sorted(plan.valid), 2):
            self._register_by_nurse(key, plan.valid[key])
            plan.by_nurse.add(key)
        return plan

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start ``rpa --project REPOSITORY ARGS`` in a session of its own.

        The fixture kills what is still running after the test (see :meth:`stop`).
        """
        process = subprocess.Popen(
            [sys.executable, "-m", "robotlib.cli", "--project", str(REPOSITORY), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Kill the process group of each started process still running; reap all.

        A failed test must not leave a running ``Popen`` with an open pipe: its
        ResourceWarning would surface at a later garbage collection and fail
        whichever test runs then (it failed a soak's queue property test once).
        """
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.communicate()

    def run_batch(self, plan: Plan, *, workers: int, timeout_s: float) -> list[str]:
        """Run the batch; run it again (as the next night would) if it stopped.

        A run stops after five system exceptions in a row (the EPJ looks down,
        exit 1); the rows it left wait in the queue for the next run. A run that
        ended with failed items (exit 3: each tried three times, with a reason and
        a screenshot) has accounted for every row. At most three runs. Returns
        each run's output.
        """
        outputs = []
        for _ in range(3):
            run = self.start(
                "run", self.robot, "--input", str(plan.path), "--workers", str(workers)
            )
            output, _ = run.communicate(timeout=timeout_s)
            outputs.append(output)
            assert run.returncode in (EXIT_OK, EXIT_STOPPED, EXIT_FAILED_ITEMS), output
            if run.returncode != EXIT_STOPPED:
                break
        return outputs

    # The accounting ----------------------------------------------------------------

    def account(self, plan: Plan) -> Outcome:
        """Check every invariant of a finished batch; return what was found."""
        backend = SqlAlchemyBackend(self.database)
        try:
            items = backend.items(self.robot)
        finally:
            backend.close()
        counts = Counter(str(item.state) for item in items)
        ended = counts["done"] + counts["business_exception"] + counts["failed"]
        assert (plan.rows, plan.rows) == (len(items), ended), f"accounting: {counts}"

        by_key = {_key(item): item for item in items}
        assert set(plan.valid) | set(plan.bad) == set(by_key), "rows and items differ"
        registrations = self.api("/lab-results")
        self._check_registrations(plan, by_key, registrations)
        self._check_exceptions(plan, by_key)
        self._check_system_exceptions_left_evidence()
        return Outcome(counts, items, registrations)

    def _check_registrations(
        self,
        plan: Plan,
        by_key: dict[tuple[str, str, str], WorkItem],
        registrations: list[dict[str, Any]],
    ) -> None:
        held = Counter(_registration_key(r) for r in registrations)
        twice = [key for key, n in held.items() if n > 1]
        assert not twice, f"registered twice: {twice}"
        by_id = {r["id"]: r for r in registrations}
        robot = {
            _registration_key(r) for r in registrations if r["registered_by"] == "robot"
        }
        assert robot <= set(plan.valid), "the robot registered a row it should not"
        assert robot.isdisjoint(plan.by_nurse), "the robot registered a nurse's row"
        mine = {r["id"] for r in registrations if r["registered_by"] == "robot"}
        repeats = [r for r in self.api("/repeats") if r["by"] == "robot"]
        tried_again = [r for r in repeats if r["existing_id"] in mine]
        assert not tried_again, f"the robot saved its own results again: {tried_again}"
        for key, value in plan.valid.items():
            item = by_key[key]
            assert item.state in (ItemState.DONE, ItemState.FAILED), (key, item.state)
            if item.state is ItemState.DONE:
                registration = by_id[item.output["registration_id"]]
                assert key == _registration_key(registration)
                assert value == pytest.approx(registration["value"])
            elif key not in plan.by_nurse:
                assert held[key] <= 1  # saved before it failed, or not at all

    def _check_exceptions(
        self, plan: Plan, by_key: dict[tuple[str, str, str], WorkItem]
    ) -> None:
        for key, kind in plan.bad.items():
            item = by_key[key]
            assert item.state in (ItemState.BUSINESS_EXCEPTION, ItemState.FAILED)
            if item.state is ItemState.BUSINESS_EXCEPTION:
                assert BUSINESS_REASONS[kind] in (item.error_message or ""), key
        for item in by_key.values():
            if item.state is ItemState.FAILED:
                assert item.error_message, f"item {item.id} failed without a reason"
                shots = [a for a in item.artifacts if a.endswith(".png")]
                assert shots, f"failed item {item.id} has no screenshot"
                assert all((self.logs / shot).is_file() for shot in shots)

    def _check_system_exceptions_left_evidence(self) -> None:
        """Each system exception in the workers' logs saved a screenshot."""
        for log, event in self._worker_events():
            if event["event"] != "item_system_exception":
                continue
            shots = [a for a in event["artifacts"] if a.endswith(".png")]
            assert shots, f"no screenshot of {event['error']} in {log}"
            assert all((self.logs / shot).is_file() for shot in shots)

    def _worker_events(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Each event in the workers' logs, with the log it is in."""
        for log in self.logs.glob(f"{self.robot}/*w*/events.jsonl"):
            for line in log.read_text("utf-8").splitlines():
                yield log, json.loads(line)

    def system_errors(self) -> list[str]:
        """The message of each system exception in the workers' logs."""
        return [
            event["error"]
            for _, event in self._worker_events()
            if event["event"] == "item_system_exception"
        ]

    def events(self) -> Counter[str]:
        """How often each event shows in the workers' logs."""
        return Counter(event["event"] for _, event in self._worker_events())

    # The sandbox's test API --------------------------------------------------------

    def api(self, path: str) -> Any:
        self.sandbox.check()
        response = httpx.get(f"{self.sandbox.url}/api{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def _register_by_nurse(self, key: tuple[str, str, str], value: float) -> None:
        cpr, code, at = key
        with httpx.Client(base_url=self.sandbox.url, timeout=30) as nurse:
            # faults off for the nurse's own clicks, on again for the robot
            httpx.put(f"{self.sandbox.url}/api/faults", json={}).raise_for_status()
            try:
                nurse.post(
                    "/login", data={"username": "nurse", "password": "nurse-pass-1"}
                )
                found = nurse.post("/patients/search", data={"cpr": cpr})
                saved = nurse.post(
                    f"{found.headers['location']}/lab-results",
                    data={
                        "code": code,
                        "value": f"{value:g}".replace(".", ","),
                        "unit": LAB_CODES[code].unit,
                        "sampled_at": at,
                    },
                )
                assert 303 == saved.status_code, saved.text[:300]
            finally:
                faults = self.sandbox.faults.model_dump()
                httpx.put(
                    f"{self.sandbox.url}/api/faults", json=faults
                ).raise_for_status()


def _key(item: WorkItem) -> tuple[str, str, str]:
    """The row of an item: (cpr, code, sample time) from its stored payload.

    A row rejected while loading is stored with its place in the file only.
    """
    payload = item.payload
    if "location" in payload:
        return "location", str(payload["location"]), ""
    cpr = str(payload.get("CPR-nummer", payload.get("cpr", "")))
    code = str(payload.get("Analysekode", payload.get("code", "")))
    at = str(payload.get("Prøvetidspunkt", payload.get("sampled_at", "")))
    return cpr, code, re.sub(r"(T\d\d:\d\d).*$", r"\1", at.replace(" ", "T"))


def _registration_key(registration: dict[str, Any]) -> tuple[str, str, str]:
    return registration["cpr"], registration["code"], registration["sampled_at"]


@pytest.fixture
def chaos_seed() -> int:
    """RPA_CHAOS_SEED, or a fresh random seed (printed: a failure can be replayed)."""
    seed = int(os.environ.get("RPA_CHAOS_SEED") or random.randrange(10**6))
    print(f"chaos seed: RPA_CHAOS_SEED={seed}")
    return seed


class Sandbox:
    """``rpa sandbox`` in a process of its own, with these faults."""

    def __init__(self, folder: Path, faults: Faults, notice_probability: float):
        self.faults = faults
        self.log = folder / "sandbox.log"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        switches = [
            f"--{name.replace('_', '-')}={value}"
            for name, value in faults
            if name != "fail_next"  # planned failures: PUT /api/faults only
        ]
        argv = [sys.executable, "-m", "robotlib.cli", "sandbox", f"--port={port}"]
        argv += [f"--db={folder / 'sandbox.db'}", *switches]
        argv += [f"--notice-probability={notice_probability}"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={
                    k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")
                },
            )
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            self.check()
            try:
                httpx.get(f"{self.url}/api/health", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)

    def check(self) -> None:
        """Fail, with its log, if the sandbox process has ended."""
        if self.process.poll() is not None:
            raise AssertionError(
                f"the sandbox ended ({self.process.returncode}): "
                + self.log.read_text("utf-8", "replace")[-3000:]
            )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def make_chaos(tmp_path: Path, chaos_seed: int) -> Iterator[Any]:
    """Return a maker of a :class:`Chaos` batch on a sandbox of its own.

    ``make_chaos(faults=..., notice_probability=..., robot=...)``; the sandbox
    stops after the test.
    """
    made: list[Chaos] = []

    def make(
        *,
        faults: Faults | None = None,
        notice_probability: float = 0.0,
        robot: str = ROBOT,
    ) -> Chaos:
        sandbox = Sandbox(tmp_path, faults or Faults(), notice_probability)
        made.append(Chaos(tmp_path, sandbox, chaos_seed, robot))
        return made[-1]

    yield make
    for chaos in made:
        chaos.stop()  # the robot's processes first, then the system they use
        chaos.sandbox.stop()
