"""The machine a benchmark ran on: the block at the top of RESULTS.md."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

__all__ = ["commit_of_robotlib", "machine_details", "render_machine"]

REPOSITORY = Path(__file__).resolve().parents[1]

PACKAGES = (
    "playwright",
    "sqlalchemy",
    "openpyxl",
    "python-calamine",
    "psycopg",
    "pydantic",
    "structlog",
)


def machine_details() -> dict[str, str]:
    """CPU, cores, memory, OS, load, Python, package versions, commit, Chromium."""
    details = {
        "CPU": _cpu_model(),
        "cores": _cores(),
        "memory": _memory(),
        "OS": _os_name(),
        "Python": platform.python_version(),
        "load average at start": _load(),
    }
    for package in PACKAGES:
        try:
            details[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            details[package] = "not installed"
    details["robotlib commit"] = commit_of_robotlib() or "unknown"
    details["Chromium"] = _chromium()
    return details


def render_machine(details: Mapping[str, str]) -> str:
    """The machine block of RESULTS.md."""
    rows = "\n".join(f"| {key} | {value} |" for key, value in details.items())
    return f"## Machine\n\n| | |\n|---|---|\n{rows}"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cores() -> str:
    logical = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    return f"{usable or logical} usable ({logical} logical)"


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GB"
    return "unknown"


def _load() -> str:
    """The 1, 5 and 15 minute load averages: others' work on a shared machine."""
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                name = line.split("=", 1)[1].strip('"')
                return f"{name} (kernel {platform.release()})"
    return platform.platform()


def commit_of_robotlib() -> str:
    """The checked-out commit, noting changes to robotlib/ not committed yet."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPOSITORY), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPOSITORY), "status", "--porcelain", "--", "robotlib"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f"{commit} (robotlib/ modified)" if dirty else commit


def _chromium() -> str:
    """The Chromium robots launch (``rpa browser``'s choice) and its version."""
    try:
        from robotlib.launcher import find_chromium
        from robotlib.settings import Settings

        found = find_chromium(settings=Settings(), headless=True)
    except Exception as exc:  # any failure only means "not known" here
        return f"not found ({type(exc).__name__})"
    if found.path is None:
        return "Playwright's own Chromium"
    try:
        version = subprocess.run(
            [str(found.path), "--version"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        version = "version unknown"
    return f"{version or 'version unknown'} ({found.path})"
