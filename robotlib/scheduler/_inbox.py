"""A watched folder's files after their run: filed away, so none is read twice.

A file the run loaded moves to ``processed/<date>/`` beside it; one the run refused
as input (exit code 2, nothing loaded) to ``rejected/``, with
``<name>.reason.txt`` saying why. A run that recorded no outcome (killed, crashed)
leaves the file where it is: the next firing reads it again, and loading it again
adds nothing that is queued already.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import structlog

from robotlib.engine import EXIT_INVALID
from robotlib.logs import display_masker

__all__ = ["file_away", "json_report"]

log = structlog.get_logger("robotlib.scheduler")


def json_report(text: str) -> dict[str, Any] | None:
    """The JSON object a child's ``--json`` printed (indented) among its log lines
    (one JSON object each, not indented); None if there is none."""
    start = text.find("{\n")
    while start >= 0:
        try:
            found, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            start = text.find("{\n", start + 1)
            continue
        return found if isinstance(found, dict) else None
    return None


def file_away(path: Path, report: Mapping[str, Any] | None, day: date) -> Path | None:
    """Move ``path`` as its run's ``report`` says; return where it went (None: left)."""
    if report is None:
        log.warning("input_left", file=str(path), reason="its run recorded no outcome")
        return None
    if report.get("loaded") is not None:
        target = _free(path.parent / "processed" / day.isoformat(), path.name)
    elif report.get("exit_code") == EXIT_INVALID:
        target = _free(path.parent / "rejected", path.name)
        note = display_masker().redact(str(report.get("note", "")))  # read by anyone
        reason = f"{note}\n(run {report.get('run_id', '?')})\n"
        target.with_name(f"{target.name}.reason.txt").write_text(reason, "utf-8")
    else:
        log.warning("input_left", file=str(path), reason="its run loaded nothing")
        return None
    path.replace(target)
    log.info("input_filed", file=str(path), to=str(target))
    return target


def _free(folder: Path, name: str) -> Path:
    """``folder / name``, or ``name-2``, ``-3``... when a file of that name is there."""
    folder.mkdir(parents=True, exist_ok=True)
    candidate = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{stem}-{number}{suffix}"
    return candidate
