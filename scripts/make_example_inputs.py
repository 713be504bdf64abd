"""Write the example robots' input files in robots/inputs/ (run: make inputs).

The rows name fictitious patients of the sandbox's default seed (2026); some are
meant to end as business exceptions, as the comments say.
"""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

INPUTS = Path(__file__).resolve().parents[1] / "robots" / "inputs"

LAB_HEADERS = [
    "CPR-nummer",
    "Analysekode",
    "Værdi",
    "Enhed",
    "Prøvetidspunkt",
    "Kommentar",
]
LAB_ROWS: list[list[object]] = [
    ["170551-4514", "NPU02319", 8.4, "mmol/L", datetime(2026, 11, 20, 8, 0), ""],
    ["220209-4002", "NPU03429", 141, "mmol/L", "20-11-2026 08:15", "Fastende"],
    ["211217-9215", "NPU19748", "12,5", "mg/L", "20.11.2026 09:30", ""],
    ["090505-9525", "NPU02192", "5,6", "mmol/L", datetime(2026, 11, 19, 7, 45), ""],
    # no such patient in the EPJ: business exception
    ["010101-0000", "NPU02319", 7.9, "mmol/L", datetime(2026, 11, 20, 10, 0), ""],
    # outside the plausible range: the EPJ refuses it
    ["290191-0570", "NPU02319", 99, "mmol/L", datetime(2026, 11, 20, 11, 0), ""],
    # wrong unit for the code: the EPJ refuses it
    ["070396-4472", "NPU03230", "4,1", "mg/L", datetime(2026, 11, 20, 12, 0), ""],
    # not a CPR number (no such date): rejected when the file is read
    ["310299-1234", "NPU02319", 7.2, "mmol/L", datetime(2026, 11, 20, 13, 0), ""],
    # the same row twice: loaded once
    ["170551-4514", "NPU02319", 8.4, "mmol/L", datetime(2026, 11, 20, 8, 0), ""],
]


def write_lab_results(path: Path) -> None:
    """The laboratory's spreadsheet for the lab_results robot."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Resultater"
    sheet.append(LAB_HEADERS)
    for row in LAB_ROWS:
        sheet.append(row)
    for cell in sheet["E"][1:]:
        if isinstance(cell.value, datetime):
            cell.number_format = "dd-mm-yyyy hh:mm"
    book.properties.created = book.properties.modified = datetime(2026, 11, 20)
    book.save(path)


def main() -> None:
    """Write every example input: lab_results here, the others' from example_inputs/.

    Each ``scripts/example_inputs/<robot>.py`` has ``write(folder: Path) -> None``.
    """
    INPUTS.mkdir(parents=True, exist_ok=True)
    write_lab_results(INPUTS / "lab_results.xlsx")
    for module_path in sorted((Path(__file__).parent / "example_inputs").glob("*.py")):
        spec = importlib.util.spec_from_file_location(module_path.stem, module_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.write(INPUTS)
    print(f"wrote {INPUTS}")


if __name__ == "__main__":
    main()
