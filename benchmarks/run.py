"""Run the benchmarks, print their tables and write benchmarks/RESULTS.md.

Usage:
    python benchmarks/run.py                  # every benchmark
    python benchmarks/run.py excel queue      # those named
    python benchmarks/run.py --rounds 3 --quick --results /tmp/RESULTS.md excel

A benchmark is a module ``benchmarks/bench_<name>.py`` with a function
``benchmark(options) -> Benchmark``; list it in BENCHMARKS below.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (
    BenchmarkError,
    Options,
    Results,
    render_section,
    write_results,
)
from benchmarks.machine import machine_details, render_machine

#: name → module; run in this order.
BENCHMARKS = {
    "startup": "benchmarks.bench_startup",
    "excel": "benchmarks.bench_excel",
    "items": "benchmarks.bench_items",
    "queue": "benchmarks.bench_queue",
    "browser": "benchmarks.bench_browser",
    "workers": "benchmarks.bench_workers",
}
RESULTS = Path(__file__).resolve().with_name("RESULTS.md")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named in argv (all by default); return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"from: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="at least 3 (default: 5; 3 for browser and workers, minutes a round)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small workloads, to try things out"
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--postgresql",
        default=os.environ.get(
            "RPA_TEST_POSTGRESQL_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432"
        ),
        help="a PostgreSQL server URL without database (default: "
        "$RPA_TEST_POSTGRESQL_SERVER or the local server)",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(
            f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
        )
    if args.rounds is not None and args.rounds < 3:
        parser.error("--rounds must be at least 3: the figures are medians")

    machine = machine_details()
    print(render_machine(machine), end="\n\n", flush=True)
    done: list[Results] = []
    with tempfile.TemporaryDirectory(prefix="robotlib-bench-") as workdir:
        options = Options(
            workdir=Path(workdir),
            rounds=args.rounds,
            quick=args.quick,
            postgresql_server=args.postgresql,
        )
        failed: list[str] = []
        for name in args.names or list(BENCHMARKS):
            module = importlib.import_module(BENCHMARKS[name])
            benchmark = module.benchmark(options)
            try:
                results = benchmark.run(
                    progress=lambda line: print(f"  {line}", flush=True)
                )
            except BenchmarkError as exc:
                # One variant's failure (say, the raw script timing out) loses
                # this benchmark's rounds, not the others' figures.
                print(f"\n{name} FAILED, no figures kept: {exc}\n", flush=True)
                failed.append(name)
                continue
            print("\n" + render_section(results) + "\n", flush=True)
            done.append(results)
            # Written as each benchmark ends: a later failure keeps these.
            write_results(args.results, done, render_machine(machine))
            print(f"Wrote {args.results} ({name})", flush=True)
    if failed:
        print(f"Failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
