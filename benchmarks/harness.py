"""Interleaved, baseline-relative benchmarks: run, summarise, judge, write down.

Absolute times on a shared machine are noise, so every figure is a ratio against a
baseline measured in the same run. The variants of a benchmark run interleaved, A B
C A B C ..., for several rounds, each in a fresh process (so that imports, caches and
memory do not leak from one to the next), and each summary is a median.

A variant is either:

- a picklable callable (a module-level function, or a ``functools.partial`` of one).
  It runs in a new interpreter (``multiprocessing`` "spawn"). It may return None
  (the benchmark's ``units`` were processed), a number (how many units it
  processed) or a dict ``{"units": ..., "seconds": ...}`` when it times its own
  work, to leave out imports and set-up. Peak memory is the process's high-water
  mark (``VmHWM`` in ``/proc/self/status``; ``ru_maxrss`` elsewhere);
- a command (a list of strings). Its wall time is measured from start to exit and
  its peak memory by ``os.wait4``. If its last line of output is a JSON object, its
  ``units`` and ``seconds`` are used as above.

Example, a browser benchmark added later::

    Benchmark(
        "browser",
        title="lab_results, 300 rows: robotlib vs raw Playwright",
        variants={"raw playwright": raw_script, "robotlib": framework_run},
        baseline="raw playwright",
        unit="rows/s",
        goals=[rate_ratio("robotlib", at_least=1.0)],
    )
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.machine import commit_of_robotlib

__all__ = [
    "Benchmark",
    "BenchmarkError",
    "Goal",
    "Options",
    "Results",
    "Sample",
    "Summary",
    "Variant",
    "Verdict",
    "in_fresh_process",
    "peak_rss",
    "rate_ratio",
    "render_section",
    "replace_section",
    "time_ratio",
    "write_results",
]

Variant = Callable[[], Any] | Sequence[str]


class BenchmarkError(RuntimeError):
    """A variant failed, or a benchmark is defined wrongly."""


@dataclass(frozen=True)
class Options:
    """What run.py passes to each benchmark's factory.

    Attributes:
        workdir: a temporary folder for this run's files; removed afterwards.
        rounds: how many interleaved rounds (at least 3); None: each benchmark's
            own default (5, or 3 for those taking minutes a round).
        quick: a smaller workload, for trying the benchmarks out (not for RESULTS.md).
        postgresql_server: a server URL without a database name.
    """

    workdir: Path
    rounds: int | None = None
    quick: bool = False
    postgresql_server: str = "postgresql+psycopg://postgres@127.0.0.1:5432"

    def rounds_or(self, default: int) -> int:
        """The rounds asked for, else the benchmark's ``default``."""
        return self.rounds if self.rounds is not None else default


@dataclass(frozen=True)
class Sample:
    """One run of one variant."""

    label: str
    round: int
    seconds: float
    units: float | None
    peak_rss_mb: float | None
    #: More figures a variant reported (its outcome's other numeric keys).
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        """Units per second, when the units are known."""
        if self.units is None or self.seconds <= 0:
            return None
        return self.units / self.seconds


@dataclass(frozen=True)
class Summary:
    """A variant's medians over the rounds, and its ratios to the baseline.

    The ratios are medians of the per-round ratios: each round's variant is compared
    with the same round's baseline, which ran moments before or after it.
    """

    label: str
    rounds: int
    seconds: float
    rate: float | None
    peak_rss_mb: float | None
    time_ratio: float | None
    rate_ratio: float | None


@dataclass(frozen=True)
class Verdict:
    """Whether one goal is met: ``met`` is None when it could not be measured."""

    goal: Goal
    value: float | None
    met: bool | None

    def render(self) -> str:
        """One Markdown line: ``- **met**: robotlib ≤ 2x ... (measured 1.71x)``."""
        status = {True: "met", False: "NOT met", None: "not measured"}[self.met]
        value = "n/a" if self.value is None else self.goal.fmt.format(self.value)
        return f"- **{status}**: {self.goal.text} (measured {value})"


@dataclass(frozen=True)
class Goal:
    """A target one benchmark's results meet or not.

    Attributes:
        text: the goal in words, e.g. ``"robotlib ≤ 2x the bare calamine time"``.
        measure: computes the figure from the results (None: not measured).
        at_most: the figure must be at most this...
        at_least: ...or at least this.
        fmt: how the figure is shown.
    """

    text: str
    measure: Callable[[Results], float | None]
    at_most: float | None = None
    at_least: float | None = None
    fmt: str = "{:.2f}"

    def judge(self, results: Results) -> Verdict:
        """Measure and compare."""
        value = self.measure(results)
        if value is None or math.isnan(value):
            return Verdict(self, None, None)
        met = True
        if self.at_most is not None:
            met = met and value <= self.at_most
        if self.at_least is not None:
            met = met and value >= self.at_least
        return Verdict(self, value, met)


def time_ratio(label: str, *, at_most: float, text: str | None = None) -> Goal:
    """Goal: the variant's time is at most ``at_most`` x the baseline's."""
    return Goal(
        text or f"{label}: time ≤ {at_most:g}x the baseline's",
        lambda results: results.summaries[label].time_ratio,
        at_most=at_most,
        fmt="{:.2f}x",
    )


def rate_ratio(
    label: str, *, at_least: float, of: str | None = None, text: str | None = None
) -> Goal:
    """Goal: the variant's rate is at least ``at_least`` x the baseline's (or of
    another variant's, per round)."""

    def measure(results: Results) -> float | None:
        if of is None:
            return results.summaries[label].rate_ratio
        return results.paired_ratio(label, of, lambda sample: sample.rate)

    return Goal(
        text or f"{label}: rate ≥ {at_least:g}x {of or 'the baseline'}'s",
        measure,
        at_least=at_least,
        fmt="{:.2f}x",
    )


def peak_rss(label: str, *, at_most_mb: float, text: str | None = None) -> Goal:
    """Goal: the variant's median peak memory is at most ``at_most_mb``."""
    return Goal(
        text or f"{label}: peak RSS ≤ {at_most_mb:g} MB",
        lambda results: results.summaries[label].peak_rss_mb,
        at_most=at_most_mb,
        fmt="{:.0f} MB",
    )


@dataclass
class Results:
    """The samples of one benchmark's run, summarised and judged."""

    benchmark: Benchmark
    samples: list[Sample]
    started: datetime
    summaries: dict[str, Summary] = field(init=False)
    verdicts: list[Verdict] = field(init=False)

    def __post_init__(self) -> None:
        self.summaries = {
            label: self._summary(label) for label in self.benchmark.variants
        }
        self.verdicts = [goal.judge(self) for goal in self.benchmark.goals]

    def of(self, label: str) -> list[Sample]:
        """The samples of one variant, in round order."""
        return [sample for sample in self.samples if sample.label == label]

    def extra_median(self, label: str, key: str) -> float | None:
        """The median of a figure the variant reported besides units and seconds."""
        return _median(sample.extra.get(key) for sample in self.of(label))

    def paired_ratio(
        self, label: str, other: str, metric: Callable[[Sample], float | None]
    ) -> float | None:
        """The median over rounds of metric(label) / metric(other) in that round."""
        theirs = {sample.round: metric(sample) for sample in self.of(other)}
        ratios = []
        for sample in self.of(label):
            mine, base = metric(sample), theirs.get(sample.round)
            if mine is not None and base:
                ratios.append(mine / base)
        return statistics.median(ratios) if ratios else None

    def _summary(self, label: str) -> Summary:
        samples = self.of(label)
        baseline = self.benchmark.baseline
        return Summary(
            label=label,
            rounds=len(samples),
            seconds=statistics.median(s.seconds for s in samples),
            rate=_median(s.rate for s in samples),
            peak_rss_mb=_median(s.peak_rss_mb for s in samples),
            time_ratio=self.paired_ratio(label, baseline, lambda s: s.seconds),
            rate_ratio=self.paired_ratio(label, baseline, lambda s: s.rate),
        )


def _median(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


@dataclass
class Benchmark:
    """Variants of one workload, measured against a baseline.

    Args:
        name: a short key (``excel``): run.py's argument and the RESULTS.md section.
        variants: label → callable or command; the order is the running order.
        baseline: the label every ratio is against.
        title: one line for the table's heading.
        unit: the rate's unit, e.g. ``"rows/s"``.
        units: how many units one run processes, when variants do not say.
        goals: what the results should show.
        rounds: interleaved rounds, at least 3.
        isolate: run callables in a fresh process (False: in this one, without
            memory figures; for tests).
        memory: report peak RSS (False when the variant's own process is not
            where the memory goes, e.g. it starts worker processes).
        notes: Markdown paragraphs for RESULTS.md: what is measured and how.
        extra_columns: figures the variants report besides units and seconds
            (``{"browser_mb_per_worker": "browser MB per worker"}``): a column
            each, with their medians.
    """

    name: str
    variants: Mapping[str, Variant]
    baseline: str
    title: str = ""
    unit: str = "units/s"
    units: float | None = None
    goals: Sequence[Goal] = ()
    rounds: int = 5
    isolate: bool = True
    memory: bool = True
    notes: Sequence[str] = ()
    extra_columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.baseline not in self.variants:
            raise BenchmarkError(f"{self.name}: no variant {self.baseline!r}")
        if self.rounds < 3:
            raise BenchmarkError(f"{self.name}: medians need at least 3 rounds")

    def order(self) -> list[tuple[int, str]]:
        """(round, label) in running order: A B C, A B C, ..."""
        return [
            (number, label)
            for number in range(1, self.rounds + 1)
            for label in self.variants
        ]

    def run(self, *, progress: Callable[[str], None] | None = None) -> Results:
        """Run every variant, interleaved, and return the results."""
        started = datetime.now(UTC)
        samples = []
        for number, label in self.order():
            sample = self._measure(label, number)
            samples.append(sample)
            if progress is not None:
                progress(_describe(self, sample))
        return Results(self, samples, started)

    def _measure(self, label: str, number: int) -> Sample:
        variant = self.variants[label]
        if callable(variant):
            if self.isolate:
                outcome, seconds, peak = _run_isolated(variant)
            else:
                start = time.perf_counter()
                outcome = variant()
                seconds, peak = time.perf_counter() - start, None
        else:
            outcome, seconds, peak = _run_command(list(variant))
        units, seconds = _interpret(outcome, seconds, self.units)
        extra = _extra_figures(outcome)
        peak = peak if self.memory else None
        return Sample(label, number, seconds, units, peak, extra)


def _describe(benchmark: Benchmark, sample: Sample) -> str:
    rate = "" if sample.rate is None else f", {_number(sample.rate)} {benchmark.unit}"
    memory = "" if sample.peak_rss_mb is None else f", {sample.peak_rss_mb:.0f} MB"
    return (
        f"{benchmark.name} round {sample.round}/{benchmark.rounds}: {sample.label}: "
        f"{sample.seconds:.2f} s{rate}{memory}"
    )


def _extra_figures(outcome: Any) -> dict[str, float]:
    """A mapping outcome's numeric keys other than units and seconds."""
    if not isinstance(outcome, Mapping):
        return {}
    return {
        str(key): float(value)
        for key, value in outcome.items()
        if key not in ("units", "seconds")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    }


def _interpret(
    outcome: Any, seconds: float, default_units: float | None
) -> tuple[float | None, float]:
    if isinstance(outcome, Mapping):
        units = outcome.get("units", default_units)
        return units, float(outcome.get("seconds", seconds))
    if isinstance(outcome, int | float) and not isinstance(outcome, bool):
        return float(outcome), seconds
    return default_units, seconds


# Running a variant -------------------------------------------------------------------


def in_fresh_process(function: Callable[[], Any]) -> Any:
    """Call a picklable function in a new interpreter and return its result.

    For set-up that should not swell the harness's own memory (writing a large
    input file, say).
    """
    return _run_isolated(function)[0]


def _run_isolated(function: Callable[[], Any]) -> tuple[Any, float, float | None]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(function, sender))
    process.start()
    sender.close()
    try:
        status, outcome, seconds, peak = receiver.recv()
    except EOFError:
        process.join()
        raise BenchmarkError(
            f"{_name(function)} died (exit code {process.exitcode})"
        ) from None
    finally:
        receiver.close()
    process.join()
    if status != "ok":
        raise BenchmarkError(f"{_name(function)} failed:\n{outcome}")
    return outcome, seconds, peak


def _child(function: Callable[[], Any], sender: Connection) -> None:
    try:
        start = time.perf_counter()
        outcome = function()
        seconds = time.perf_counter() - start
        sender.send(("ok", outcome, seconds, _own_peak_rss_mb()))
    except BaseException:
        sender.send(("error", traceback.format_exc(), 0.0, None))
    finally:
        sender.close()


def _name(function: Callable[[], Any]) -> str:
    inner = getattr(function, "func", function)
    return getattr(inner, "__qualname__", repr(inner))


def _own_peak_rss_mb() -> float:
    """This process's peak resident memory, in MB (2**20 bytes).

    ``VmHWM`` belongs to the process's own address space; ``ru_maxrss`` on Linux
    also counts the process it was forked from, before it ran a new program.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _run_command(argv: list[str]) -> tuple[Any, float, float | None]:
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise BenchmarkError(f"{argv} exited with {process.returncode}")
    lines = output.strip().splitlines()
    outcome: Any = None
    if lines and lines[-1].startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            outcome = json.loads(lines[-1])
    peak = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)
    return outcome, seconds, peak


# Reporting ---------------------------------------------------------------------------


def render_table(results: Results) -> str:
    """The results as a Markdown table, one line per variant."""
    benchmark = results.benchmark
    extra = benchmark.extra_columns
    headings = "".join(f" | {heading}" for heading in extra.values())
    lines = [
        f"| variant | median time | time x baseline | {benchmark.unit} "
        f"| rate x baseline | peak RSS{headings} |",
        "|---|---:|---:|---:|---:|---:" + "|---:" * len(extra) + "|",
    ]
    for summary in results.summaries.values():
        label = summary.label
        if label == benchmark.baseline:
            label = f"{label} (baseline)"
        figures = "".join(
            f" | {_number(results.extra_median(summary.label, key))}" for key in extra
        )
        lines.append(
            f"| {label} | {summary.seconds:.2f} s | {_ratio(summary.time_ratio)} "
            f"| {_number(summary.rate)} | {_ratio(summary.rate_ratio)} "
            f"| {_megabytes(summary.peak_rss_mb)}{figures} |"
        )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def _megabytes(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} MB"


def render_section(results: Results, *, commit: str = "") -> str:
    """A benchmark's RESULTS.md section: heading, table, goals, notes."""
    benchmark = results.benchmark
    when = results.started.strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"## {benchmark.name}: {benchmark.title}".rstrip(": "),
        f"Run {when}{f' at commit {commit}' if commit else ''}; "
        f"{benchmark.rounds} interleaved rounds, medians; baseline: "
        f"{benchmark.baseline}.",
        render_table(results),
    ]
    if results.verdicts:
        parts.append(
            "Goals:\n\n" + "\n".join(verdict.render() for verdict in results.verdicts)
        )
    else:
        parts.append("Goals: none set for this benchmark; the figures are the result.")
    parts.extend(benchmark.notes)
    return "\n\n".join(parts)


def replace_section(text: str, name: str, body: str) -> str:
    """Put ``body`` between the markers of section ``name``: replace it, or append.

    Example:
        >>> replace_section("", "excel", "x")
        '<!-- bench:excel -->\\nx\\n<!-- /bench:excel -->\\n'
    """
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    text = text.rstrip("\n")
    return f"{text}\n\n{block}\n" if text else f"{block}\n"


HEADER = """# Benchmark results

Written by `make bench` (`benchmarks/run.py`); see `benchmarks/README.md` for what
each benchmark measures and how to read the ratios. Each section is replaced when
its benchmark runs again; the machine block describes the latest run."""


def write_results(path: Path, results: Sequence[Results], machine: str) -> None:
    """Write the machine block and each benchmark's section into RESULTS.md."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER + "\n"
    text = replace_section(text, "machine", machine)
    commit = commit_of_robotlib()
    for result in results:
        body = render_section(result, commit=commit)
        text = replace_section(text, result.benchmark.name, body)
    path.write_text(text, encoding="utf-8")
