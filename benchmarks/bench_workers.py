"""Workers: 1 and 2 robotlib workers vs 1 and 2 raw Playwright processes.

The workload and the variants are bench_browser's; see its docstring.
"""

from __future__ import annotations

from benchmarks.bench_browser import workers_benchmark
from benchmarks.harness import Benchmark, Options

__all__ = ["benchmark"]


def benchmark(options: Options) -> Benchmark:
    """1 vs 2 workers, each against the same number of raw processes."""
    return workers_benchmark(options)
