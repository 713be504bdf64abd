"""The benchmark harness: interleaving, medians, ratios, goals and RESULTS.md."""

from __future__ import annotations

import functools
import importlib
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    """The harness module, imported from the repository's benchmarks folder."""
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    return importlib.import_module("benchmarks.harness")


def recorder(calls: list[str], label: str, units: Any = None) -> Callable[[], Any]:
    """A variant that notes that it ran and returns ``units``."""

    def run() -> Any:
        calls.append(label)
        return units

    return run


def scripted(harness: ModuleType, label: str, *rows: tuple[float, float | None]) -> Any:
    """Samples of one variant: (seconds, units) per round, from round 1."""
    return [
        harness.Sample(label, number, seconds, units, None)
        for number, (seconds, units) in enumerate(rows, 1)
    ]


def results_of(harness: ModuleType, benchmark: Any, samples: list[Any]) -> Any:
    """Results built from given samples, without running anything."""
    return harness.Results(benchmark, samples, datetime(2026, 12, 1, tzinfo=UTC))


def test_variants_run_interleaved_round_by_round(harness: ModuleType) -> None:
    """A B C, A B C, A B C: every round runs each variant once, in order."""
    calls: list[str] = []
    benchmark = harness.Benchmark(
        "demo",
        variants={label: recorder(calls, label) for label in "ABC"},
        baseline="A",
        rounds=3,
        isolate=False,
    )

    results = benchmark.run()

    assert list("ABCABCABC") == calls
    assert [(1, "A"), (1, "B"), (1, "C"), (2, "A")] == [
        (s.round, s.label) for s in results.samples[:4]
    ]


def test_fewer_than_three_rounds_or_an_unknown_baseline_is_refused(
    harness: ModuleType,
) -> None:
    """Medians need at least 3 rounds, and the baseline must be a variant."""
    with pytest.raises(harness.BenchmarkError, match="at least 3 rounds"):
        harness.Benchmark("demo", variants={"A": time.time}, baseline="A", rounds=2)
    with pytest.raises(harness.BenchmarkError, match="no variant 'B'"):
        harness.Benchmark("demo", variants={"A": time.time}, baseline="B")


def test_medians_and_paired_ratios(harness: ModuleType) -> None:
    """Times and rates are medians; ratios are medians of same-round ratios."""
    benchmark = harness.Benchmark(
        "demo", variants={"A": time.time, "B": time.time}, baseline="A", rounds=3
    )
    samples = [
        *scripted(harness, "A", (1.0, 100), (2.0, 100), (4.0, 100)),
        *scripted(harness, "B", (3.0, 100), (4.0, 100), (6.0, 100)),
    ]

    results = results_of(harness, benchmark, samples)

    a, b = results.summaries["A"], results.summaries["B"]
    assert (2.0, 50.0, 1.0, 1.0) == (a.seconds, a.rate, a.time_ratio, a.rate_ratio)
    assert 4.0 == b.seconds
    assert 2.0 == b.time_ratio  # rounds: 3/1, 4/2, 6/4 -> median 2
    assert 0.5 == b.rate_ratio
    assert 25.0 == b.rate


def test_units_from_what_a_variant_returns(harness: ModuleType) -> None:
    """A number is the units done; a dict may give units and its own seconds."""
    benchmark = harness.Benchmark(
        "demo",
        variants={
            "counted": lambda: 40,
            "timed": lambda: {"units": 10, "seconds": 2.0},
            "plain": lambda: None,
        },
        baseline="counted",
        units=7,
        rounds=3,
        isolate=False,
    )

    results = benchmark.run()

    assert 40 == results.of("counted")[0].units
    assert (10, 2.0, 5.0) == (
        results.of("timed")[0].units,
        results.of("timed")[0].seconds,
        results.summaries["timed"].rate,
    )
    assert 7 == results.of("plain")[0].units


@pytest.mark.parametrize(
    ("seconds_b", "expected"), [(1.5, True), (2.0, True), (2.5, False)]
)
def test_goal_verdicts(harness: ModuleType, seconds_b: float, expected: bool) -> None:
    """A time-ratio goal is met at or under its limit, and not above it."""
    benchmark = harness.Benchmark(
        "demo",
        variants={"A": time.time, "B": time.time},
        baseline="A",
        rounds=3,
        goals=[harness.time_ratio("B", at_most=2.0, text="B within 2x of A")],
    )
    samples = [
        *scripted(harness, "A", (1.0, 1), (1.0, 1), (1.0, 1)),
        *scripted(harness, "B", (seconds_b, 1), (seconds_b, 1), (seconds_b, 1)),
    ]

    (verdict,) = results_of(harness, benchmark, samples).verdicts

    assert (expected, seconds_b) == (verdict.met, verdict.value)
    status = "met" if expected else "NOT met"
    assert f"- **{status}**: B within 2x of A (measured {seconds_b:.2f}x)" == (
        verdict.render()
    )


def test_goal_without_a_figure_is_not_measured(harness: ModuleType) -> None:
    """A memory goal on a variant with no memory figure says 'not measured'."""
    benchmark = harness.Benchmark(
        "demo",
        variants={"A": time.time},
        baseline="A",
        rounds=3,
        goals=[
            harness.peak_rss("A", at_most_mb=150),
            harness.rate_ratio("A", at_least=1.0),
        ],
    )
    samples = scripted(harness, "A", (1.0, 10), (1.0, 10), (1.0, 10))

    verdicts = results_of(harness, benchmark, samples).verdicts

    assert [None, True] == [verdict.met for verdict in verdicts]
    assert "**not measured**" in verdicts[0].render()


def test_section_is_replaced_not_duplicated(harness: ModuleType) -> None:
    """Writing a benchmark's section again replaces it and keeps the others."""
    text = harness.replace_section("# Results\n", "excel", "first excel")
    text = harness.replace_section(text, "queue", "queue figures")
    text = harness.replace_section(text, "excel", "second excel")

    assert (
        "# Results\n\n"
        "<!-- bench:excel -->\nsecond excel\n<!-- /bench:excel -->\n\n"
        "<!-- bench:queue -->\nqueue figures\n<!-- /bench:queue -->\n"
    ) == text


def test_results_file_keeps_one_section_per_benchmark(
    harness: ModuleType, tmp_path: Path
) -> None:
    """Two runs write RESULTS.md with one machine block and one section each."""
    path = tmp_path / "RESULTS.md"
    benchmark = harness.Benchmark(
        "demo", variants={"A": lambda: 5}, baseline="A", rounds=3, isolate=False
    )

    for _ in range(2):
        harness.write_results(path, [benchmark.run()], "## Machine\n\nsome CPU")

    text = path.read_text(encoding="utf-8")
    assert 1 == text.count("<!-- bench:demo -->")
    assert 1 == text.count("<!-- bench:machine -->")
    assert "| A (baseline) |" in text
    assert "Goals: none set" in text


def test_isolated_callable_and_command_report_memory(harness: ModuleType) -> None:
    """A callable in a fresh process and a command each report a peak RSS."""
    benchmark = harness.Benchmark(
        "demo",
        variants={
            "callable": functools.partial(time.sleep, 0.01),
            "command": [sys.executable, "-c", "print('{\"units\": 3}')"],
        },
        baseline="callable",
        units=1,
        rounds=3,
    )

    results = benchmark.run()

    assert {1, 3} == {sample.units for sample in results.samples}
    assert all(
        sample.peak_rss_mb and sample.peak_rss_mb > 1 for sample in results.samples
    )


def test_machine_details_name_the_versions(harness: ModuleType) -> None:
    """The machine block names the CPU, Python and the key packages' versions."""
    details = importlib.import_module("benchmarks.machine").machine_details()

    assert {"CPU", "cores", "memory", "OS", "Python", "python-calamine"} <= set(details)
    assert details["Python"] == sys.version.split()[0]
