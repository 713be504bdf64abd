"""Start-up: how long a command takes before it does anything.

Each variant runs its command 10 times in a row (a fresh interpreter each time)
and reports the median; the rounds are interleaved as usual.

- ``python -c pass``: the interpreter alone (with this environment's site
  packages);
- ``python -c "import playwright.sync_api"``: what any Playwright script pays
  before its first line: the baseline;
- ``rpa --help``: the command's help, every command's options built;
- ``rpa check``: the example project's robots and schedules validated (each robot
  module imported, Playwright with it);
- ``rpa run noop`` of one item: benchmarks/noop_project on a new SQLite queue:
  start-up, discovery, the queue created, one item loaded and processed, the run
  log and the report written.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.harness import Benchmark, Goal, Options, Results

__all__ = ["benchmark", "repeat", "run_one_item"]

REPOSITORY = Path(__file__).resolve().parents[1]
NOOP_PROJECT = REPOSITORY / "benchmarks" / "noop_project"
#: Runs of a command per variant and round; the median is its time.
REPEATS = 10
QUICK_REPEATS = 3
BASELINE = 'python -c "import playwright.sync_api"'


def benchmark(options: Options) -> Benchmark:
    """The interpreter, Playwright's import, and three rpa commands."""
    times = QUICK_REPEATS if options.quick else REPEATS
    python = sys.executable
    rpa = [python, "-m", "robotlib.cli", "--project"]
    variants: dict[str, Any] = {
        "python -c pass": partial(repeat, [python, "-c", "pass"], times),
        BASELINE: partial(repeat, [python, "-c", "import playwright.sync_api"], times),
        "rpa --help": partial(repeat, [*rpa, str(REPOSITORY), "--help"], times),
        "rpa check": partial(repeat, [*rpa, str(REPOSITORY), "check"], times),
        "rpa run, one item": partial(run_one_item, str(options.workdir), times),
    }
    return Benchmark(
        "startup",
        title="start-up of rpa commands vs Python and Playwright's import",
        variants=variants,
        baseline=BASELINE,
        unit="starts/s",
        goals=[
            Goal(
                '`rpa --help` ≤ 1.5x `python -c "import playwright.sync_api"`',
                partial(_time_ratio, "rpa --help"),
                at_most=1.5,
                fmt="{:.2f}x",
            )
        ],
        rounds=options.rounds_or(5),
        memory=False,
        notes=[
            f"Each variant runs its command {times} times in a row, each in a new "
            "interpreter, and reports the median wall time of one; `time x baseline` "
            "is against the Playwright import. `rpa` runs as `python -m robotlib.cli`, "
            "as the scheduler starts it. `rpa check` validates the example project "
            "(six robots and their schedules); `rpa run, one item` runs "
            "benchmarks/noop_project's robot on a new SQLite queue."
        ],
    )


def _time_ratio(label: str, results: Results) -> float | None:
    return results.summaries[label].time_ratio


def repeat(argv: list[str], times: int) -> dict[str, Any]:
    """Run ``argv`` ``times`` times; the median wall time of one run."""
    env = {key: value for key, value in os.environ.items() if key != "RPA_PROJECT_DIR"}
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(
            argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        seconds.append(time.perf_counter() - started)
    return {"units": 1, "seconds": statistics.median(seconds)}


def run_one_item(workdir: str, times: int) -> dict[str, Any]:
    """``rpa run noop --input FILE`` of one item, on a new SQLite queue each time."""
    folder = Path(workdir) / f"startup-{time.time_ns()}"
    count = folder / "one.txt"
    folder.mkdir(parents=True)
    count.write_text("1", "utf-8")
    seconds = []
    for number in range(times):
        env = {
            **os.environ,
            "RPA_DATABASE_URL": f"sqlite:///{folder / f'queue-{number}.db'}",
            "RPA_LOG_DIR": str(folder / "logs"),
        }
        env.pop("RPA_PROJECT_DIR", None)
        argv = [sys.executable, "-m", "robotlib.cli", "--project", str(NOOP_PROJECT)]
        started = time.perf_counter()
        done = subprocess.run(
            [*argv, "run", "noop", "--input", str(count)],
            env=env,
            capture_output=True,
            text=True,
        )
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0 or "done 1 " not in done.stdout:
            raise RuntimeError(f"rpa run noop failed:\n{done.stdout}{done.stderr}")
    return {"units": 1, "seconds": statistics.median(seconds)}
