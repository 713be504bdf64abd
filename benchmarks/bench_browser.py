"""Browser: the lab_results workload as robotlib runs it, vs raw Playwright, vs a peer.

One sandbox EPJ serves every round; before each variant it is reset (a fresh copy
of its seed data), so every variant registers the same N results from scratch. The
input is one spreadsheet of N valid rows (benchmarks/lab_workload/make_input.py).

- **raw playwright**: benchmarks/lab_workload/raw_playwright.py, a hand-written
  script doing the robot's clicks (search, form, save, read back) on one
  long-lived page: the baseline.
- **robotlib**: ``rpa run lab_results --input ...`` as shipped (queue on SQLite,
  run log, verify, the default trace policy, page recycling, resource blocking).
- **robocorp-browser**: the same clicks with robocorp-browser inside a
  ``robocorp.tasks`` task (the ``bench`` extra); left out when not installed.

Every variant uses the same Chromium binary and is timed end to end (the
interpreter starting included). The workers benchmark runs 1 and 2 robotlib
workers against 1 and 2 raw script processes (each half the rows), and records
the browser's memory (the Chromium processes' PSS, sampled every half second) per
worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.harness import Benchmark, Goal, Options, Results, rate_ratio

__all__ = ["benchmark", "framework", "peer", "raw", "workers_benchmark"]

ROWS = 300
QUICK_ROWS = 20
#: Rounds unless --rounds says otherwise: a round of 300 rows takes minutes.
BROWSER_ROUNDS = 3
REPOSITORY = Path(__file__).resolve().parents[1]
USER, PASSWORD = "robot", "robot-pass-1"


class _Sandbox:
    """The sandbox EPJ on a free port, for the whole benchmark run."""

    server: Any = None

    @classmethod
    def url(cls, workdir: Path) -> str:
        if cls.server is None:
            from sandbox import SandboxConfig, SandboxServer

            cls.server = SandboxServer(SandboxConfig(db_path=workdir / "sandbox.db"))
            cls.server.__enter__()
        return str(cls.server.url)


def benchmark(options: Options) -> Benchmark:
    """robotlib vs raw Playwright (vs robocorp-browser), one worker each."""
    setup = _setup(options)
    variants: dict[str, Any] = {
        "raw playwright": partial(raw, *setup, processes=1),
        "robotlib": partial(framework, *setup, workers=1),
    }
    goals = [
        rate_ratio("robotlib", at_least=1.0, text="robotlib ≥ 1.0x raw Playwright"),
        rate_ratio(
            "robotlib", at_least=0.95, text="robotlib never below 0.95x raw Playwright"
        ),
    ]
    notes = [_notes(options)]
    if _robocorp_installed():
        variants["robocorp-browser"] = partial(peer, *setup)
        goals.append(
            rate_ratio(
                "robotlib",
                at_least=1.0,
                of="robocorp-browser",
                text="robotlib ahead of robocorp-browser",
            )
        )
    else:
        notes.append(
            "robocorp-browser is not installed (`pip install -e '.[bench]'`): the "
            "peer variant was not run."
        )
    return Benchmark(
        "browser",
        title=f"lab_results, {setup[1]} rows: robotlib vs raw Playwright",
        variants=variants,
        baseline="raw playwright",
        unit="rows/s",
        goals=goals,
        rounds=options.rounds_or(BROWSER_ROUNDS),
        memory=False,
        notes=notes,
        extra_columns={"browser_mb_per_worker": "browser MB per worker"},
    )


def workers_benchmark(options: Options) -> Benchmark:
    """1 and 2 robotlib workers vs 1 and 2 raw script processes; browser memory."""
    setup = _setup(options)
    variants: dict[str, Any] = {
        "raw, 1 process": partial(raw, *setup, processes=1),
        "robotlib, 1 worker": partial(framework, *setup, workers=1),
        "raw, 2 processes": partial(raw, *setup, processes=2),
        "robotlib, 2 workers": partial(framework, *setup, workers=2),
    }
    goals = [
        rate_ratio(
            "robotlib, 1 worker",
            at_least=0.95,
            of="raw, 1 process",
            text="1 worker ≥ 0.95x 1 raw process",
        ),
        rate_ratio(
            "robotlib, 2 workers",
            at_least=0.95,
            of="raw, 2 processes",
            text="2 workers ≥ 0.95x 2 raw processes",
        ),
        Goal(
            "browser memory per robotlib worker ≤ half the raw long-lived page's",
            partial(_memory_ratio, "robotlib, 1 worker", "raw, 1 process"),
            at_most=0.5,
            fmt="{:.2f}x",
        ),
    ]
    return Benchmark(
        "workers",
        title=f"lab_results, {setup[1]} rows: 1 and 2 workers vs raw processes",
        variants=variants,
        baseline="raw, 1 process",
        unit="rows/s",
        goals=goals,
        rounds=options.rounds_or(BROWSER_ROUNDS),
        memory=False,
        notes=[
            _notes(options),
            "Browser memory is the Chromium processes' proportional set size (PSS), "
            "sampled every 0.5 s, at its peak, per worker (or per raw process).",
        ],
        extra_columns={"browser_mb_per_worker": "browser MB per worker"},
    )


# Variants (run in a fresh interpreter each) -------------------------------------------


def raw(
    base_url: str, rows: int, workdir: str, chromium: str, *, processes: int
) -> dict[str, Any]:
    """The hand-written script, in ``processes`` processes sharing the rows."""
    _reset(base_url)
    inputs = _split(Path(workdir), rows, processes)
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(REPOSITORY / "benchmarks" / "lab_workload" / "raw_playwright.py"),
                *(base_url, str(path), chromium, USER, PASSWORD),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path in inputs
    ]
    samplers = [_BrowserMemory(child.pid) for child in children]
    for child in children:
        output, _ = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"raw_playwright.py failed:\n{output[-2000:]}")
    seconds = time.perf_counter() - started
    _check_registered(base_url, rows)
    return _outcome(rows, seconds, samplers)


def framework(
    base_url: str, rows: int, workdir: str, chromium: str, *, workers: int
) -> dict[str, Any]:
    """``rpa run lab_results`` as a user runs it (a fresh queue every time)."""
    _reset(base_url)
    run_dir = Path(workdir) / f"robotlib-{time.time_ns()}"
    env = {
        **os.environ,
        "RPA_CRED_SANDBOX_URL": base_url,
        "RPA_CRED_SANDBOX_USERNAME": USER,
        "RPA_CRED_SANDBOX_PASSWORD": PASSWORD,
        "RPA_DATABASE_URL": f"sqlite:///{run_dir / 'queue.db'}",
        "RPA_LOG_DIR": str(run_dir / "logs"),
        "RPA_BROWSER_PATH": chromium,
    }
    argv = [sys.executable, "-m", "robotlib.cli", "--project", str(REPOSITORY)]
    argv += ["run", "lab_results", "--input", str(Path(workdir) / "input.xlsx")]
    if workers > 1:
        argv += ["--workers", str(workers)]
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    sampler = _BrowserMemory(child.pid)
    output, _ = child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode != 0 or f"done {rows} " not in output:
        raise RuntimeError(f"rpa run failed or did not do every row:\n{output[-3000:]}")
    _check_registered(base_url, rows)
    outcome = _outcome(rows, seconds, [sampler])
    outcome["browser_mb_per_worker"] = outcome["browser_mb"] / workers
    return outcome


def peer(base_url: str, rows: int, workdir: str, chromium: str) -> dict[str, Any]:
    """The same clicks with robocorp-browser, in a robocorp.tasks task."""
    _reset(base_url)
    result = Path(workdir) / f"peer-{time.time_ns()}.json"
    env = {
        **os.environ,
        "BENCH_BASE_URL": base_url,
        "BENCH_INPUT": str(Path(workdir) / "input.xlsx"),
        "BENCH_CHROMIUM": chromium,
        "BENCH_USERNAME": USER,
        "BENCH_PASSWORD": PASSWORD,
        "BENCH_RESULT": str(result),
        "PYTHONPATH": str(REPOSITORY),
    }
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            *(sys.executable, "-m", "robocorp.tasks", "run"),
            str(REPOSITORY / "benchmarks" / "lab_workload" / "robocorp_peer.py"),
            *("-t", "register", "--output-dir", str(result.with_suffix(""))),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    sampler = _BrowserMemory(child.pid)
    output, _ = child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode != 0 or not result.exists():
        raise RuntimeError(f"robocorp-browser run failed:\n{output[-3000:]}")
    _check_registered(base_url, rows)
    return _outcome(rows, seconds, [sampler])


# Helpers ------------------------------------------------------------------------------


def _setup(options: Options) -> tuple[str, int, str, str]:
    """The sandbox, the input file and the Chromium every variant uses."""
    from benchmarks.lab_workload.make_input import write_input
    from robotlib.launcher import find_chromium
    from robotlib.settings import Settings

    rows = _rows(options)
    base_url = _Sandbox.url(options.workdir)
    path = options.workdir / "input.xlsx"
    if not path.exists():
        write_input(path, base_url=base_url, rows=rows)
    chromium = find_chromium(
        settings=Settings(), playwright_executable=_playwright_chromium(), headless=True
    )
    return base_url, rows, str(options.workdir), str(chromium.path)


def _playwright_chromium() -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        return str(playwright.chromium.executable_path)


def _rows(options: Options) -> int:
    """How many rows: 300, 20 with --quick, or BENCH_BROWSER_ROWS."""
    chosen = os.environ.get("BENCH_BROWSER_ROWS")
    if chosen:
        return int(chosen)
    return QUICK_ROWS if options.quick else ROWS


def _notes(options: Options) -> str:
    rows = _rows(options)
    return (
        f"Each variant registers the same {rows} valid lab results in a freshly "
        "reset sandbox EPJ, through the same Chromium binary, timed end to end "
        "(start-up and login included); the round then checks that the sandbox "
        f"holds exactly {rows} new registrations. Per row: search the patient, open "
        "the lab form (a 300 ms spinner), fill five fields, save, then read the "
        "registration back from the patient's page."
    )


def _reset(base_url: str) -> None:
    request = urllib.request.Request(f"{base_url}/api/reset", method="POST")
    with urllib.request.urlopen(request) as answer:
        answer.read()


def _check_registered(base_url: str, rows: int) -> None:
    """Exactly ``rows`` lab results registered by the robot user since the reset."""
    url = f"{base_url}/api/counts?registered_by={USER}"
    with urllib.request.urlopen(url) as answer:
        added = json.load(answer)["lab_results"]
    if added != rows:
        raise RuntimeError(f"the sandbox holds {added} new registrations, not {rows}")


def _split(workdir: Path, rows: int, parts: int) -> list[Path]:
    """The input, or the input cut into ``parts`` files of consecutive rows."""
    source = workdir / "input.xlsx"
    if parts == 1:
        return [source]
    from openpyxl import Workbook, load_workbook

    book = load_workbook(source)
    sheet = book["Resultater"]
    header, *body = list(sheet.iter_rows(values_only=True))
    paths = []
    for part in range(parts):
        out = Workbook()
        target = out.active
        assert target is not None
        target.title = "Resultater"
        target.append(header)
        for row in body[part::parts]:
            target.append(row)
        path = workdir / f"input-{part + 1}-of-{parts}.xlsx"
        out.save(path)
        paths.append(path)
    return paths


def _outcome(
    rows: int, seconds: float, samplers: list[_BrowserMemory]
) -> dict[str, Any]:
    for sampler in samplers:
        sampler.stop()
    peaks = [sampler.peak_mb for sampler in samplers]
    return {
        "units": rows,
        "seconds": seconds,
        "browser_mb": sum(peaks),
        "browser_mb_per_worker": sum(peaks) / len(peaks),
    }


def _memory_ratio(label: str, baseline: str, results: Results) -> float | None:
    mine = results.extra_median(label, "browser_mb_per_worker")
    theirs = results.extra_median(baseline, "browser_mb_per_worker")
    return None if mine is None or not theirs else mine / theirs


def _robocorp_installed() -> bool:
    try:
        import robocorp.browser  # noqa: F401
    except ImportError:
        return False
    return True


class _BrowserMemory:
    """Samples the PSS of the Chromium processes under ``pid`` every 0.5 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(0.5):
            self.peak_mb = max(self.peak_mb, _chromium_pss_mb(self.pid))


def _chromium_pss_mb(root: int) -> float:
    """The summed PSS of the Chromium processes descending from ``root``."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        names[int(entry.name)] = name
    total_kb = 0
    for pid, name in names.items():
        if "chrom" not in name and "headless" not in name:
            continue
        ancestor = parents.get(pid)
        while ancestor not in (None, 0, 1, root):
            ancestor = parents.get(ancestor)
        if ancestor != root:
            continue
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total_kb += int(line.split()[1])
                break
    return total_kb / 1024
