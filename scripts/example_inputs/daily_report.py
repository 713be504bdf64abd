"""The daily_report robot's input: robots/inputs/daily_report.csv.

One row per department and period, in the Danish CSV dialect (``;``, UTF-8 with a
BOM). The dates are relative ("i dag-30" to "i går": the last 30 days), because the
sandbox seeds its lab results over the 60 days before the day it starts; a nightly
schedule would use "i går" to "i går". The comments say what each row ends as.
"""

from __future__ import annotations

import csv
from pathlib import Path

HEADERS = ["Afdeling", "Fra", "Til"]
ROWS: list[list[str]] = [
    ["MED", "i dag-30", "i går"],
    ["KIR", "i dag-30", "i går"],
    ["AKM", "i dag-30", "i går"],
    ["KAR", "i dag-30", "i går"],
    ["ORT", "i dag-30", "i går"],
    # no such department in the worklist: business exception
    ["XYZ", "i dag-30", "i går"],
    # the period ends before it starts: rejected when read
    ["MED", "i går", "i dag-30"],
]


def write(folder: Path) -> None:
    """Write daily_report.csv into ``folder``."""
    with (folder / "daily_report.csv").open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADERS)
        writer.writerows(ROWS)


if __name__ == "__main__":
    write(Path(__file__).resolve().parents[2] / "robots" / "inputs")
