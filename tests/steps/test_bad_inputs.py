"""The lab_results robot's reading path survives every file of the bad-input corpus.

Each file in tests/data/bad_inputs/ (written by scripts/make_bad_inputs.py; see its
README.md) either raises an InputError naming file, sheet, row and column where they
apply, or loads with its bad rows as RowErrors naming row and column and every good
row present with the right values. Nothing else may come out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from robotlib import Robot
from robotlib.engine import Engine
from robotlib.errors import InputError
from robotlib.logs import build_redactor, configure_logging
from robotlib.queue import InMemoryBackend
from robotlib.queue.models import ItemState
from robotlib.robot import Row, RowError
from robotlib.settings import Settings
from robotlib.steps.excel import excel_source, read_rows
from robotlib.testing import load_robot

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "bad_inputs"


def _lab_result_model() -> type[BaseModel]:
    """The example robot's own LabResult."""
    model: type[BaseModel] = load_robot("lab_results", project_dir=ROOT).item
    return model


LabResult = _lab_result_model()

G1 = ("170551-4514", "NPU02319", 8.4, "mmol/L", datetime(2026, 11, 20, 8, 0), "")
G2 = (
    "220209-4002",
    "NPU03429",
    141.0,
    "mmol/L",
    datetime(2026, 11, 20, 8, 15),
    "fastende",
)
LAST = ("211217-9215", "NPU19748", 12.5, "mmol/L", datetime(2026, 11, 20, 9, 30), "")
DANISH = "prøve på æble, Århus"
LONG_AT = datetime(2026, 11, 20, 8, 45)


def lab(values: tuple[Any, ...], **changes: Any) -> BaseModel:
    """A LabResult from a row's cells, some fields changed."""
    names = ["cpr", "code", "value", "unit", "sampled_at", "comment"]
    return LabResult.model_validate(
        {**dict(zip(names, values, strict=True)), **changes}, by_name=True
    )


@dataclass(frozen=True)
class Refused:
    """The file raises an InputError whose message holds every text in ``says``."""

    says: tuple[str, ...]
    row: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class Loaded:
    """The file loads: these good rows (row number → item) and these bad ones (row
    number → texts its message holds), nothing else."""

    good: dict[int, BaseModel]
    bad: dict[int, tuple[str, ...]] = field(default_factory=dict)


VALUE = "column 'Værdi'"
CPR = "column 'CPR-nummer'"
NOT_WORKBOOK = "this is not an Excel workbook (.xlsx)"
TWO_GOOD = {2: lab(G1), 3: lab(G2)}

EXPECTED: dict[str, Refused | Loaded] = {
    # the wrong kind of file
    "png_named.xlsx": Refused((NOT_WORKBOOK,)),
    "pdf_named.xlsx": Refused((NOT_WORKBOOK,)),
    "pdf_named.csv": Refused(("neither UTF-8 nor Windows-1252",), row=6),
    "legacy.xls": Refused(("old-style .xls workbook", "save it as .xlsx")),
    "legacy_renamed.xlsx": Refused(("old-style .xls workbook",)),
    "truncated.xlsx": Refused(("the workbook is damaged or incomplete",)),
    "encrypted.xlsx": Refused(("password-protected (encrypted)",)),
    "empty.xlsx": Refused(("the file is empty",)),
    "empty.csv": Refused(("the file is empty",)),
    # sheets and headers
    "header_only.xlsx": Loaded({}),
    "header_only.csv": Loaded({}),
    "missing_column.xlsx": Refused(
        ("sheet 'Resultater'", "missing column for 'value'", "'Værdi'"),
        row=1,
        column="value",
    ),
    "missing_column.csv": Refused(
        ("missing column for 'sampled_at'", "'Prøvetidspunkt'"),
        row=1,
        column="sampled_at",
    ),
    "duplicated_column.xlsx": Refused(
        ("sheet 'Resultater'", "(column C) and 'Værdi' (column G)"),
        row=1,
        column="Værdi",
    ),
    "duplicated_column.csv": Refused(
        ("(column 1) and 'CPR-nummer' (column 7)",), row=1, column="CPR-nummer"
    ),
    "renamed_column.xlsx": Refused(
        ("missing column for 'value'", "The header row has:", "'Resultat'"),
        row=1,
        column="value",
    ),
    "renamed_optional_column.xlsx": Loaded({2: lab(G1), 3: lab(G2, comment="")}),
    "missing_sheet.xlsx": Refused(
        ("sheet 'Resultater'", "its sheets are: 'Ark1', 'Noter'")
    ),
    "blank_rows_only.xlsx": Refused(("sheet 'Resultater'", "the sheet is empty")),
    "blank_lines_only.csv": Refused(("the sheet is empty",)),
    "trailing_blank_rows.xlsx": Loaded(TWO_GOOD),
    "trailing_blank_rows.csv": Loaded(TWO_GOOD),
    "extra_cells.xlsx": Loaded(TWO_GOOD),
    "extra_cells.csv": Loaded(
        {2: lab(G1), 4: lab(G2)}, {3: ("the line has 7 values and the header 6",)}
    ),
    "unbalanced_quote.csv": Refused(('a quote (") in this line',), row=3),
    "merged_cells.xlsx": Loaded(
        {2: lab(G1), 4: lab(G2)}, {3: ("column 'Enhed': a value is required",)}
    ),
    "hidden_rows.xlsx": Refused(("rows 2 and 4 are hidden", "hidden_rows='skip'")),
    # values
    "invalid_cpr.xlsx": Loaded(
        {2: lab(G1), 7: lab(G2)},
        {
            3: (CPR, "date does not exist", "value 3102**-**** (10 digits)"),
            4: (CPR, "ten digits", "'12345'"),
            5: (CPR, "ten digits", "'abcdef-ghij'"),
            6: (CPR, "ten digits", "'0101901234567'"),
        },
    ),
    "invalid_cpr.csv": Loaded(
        {2: lab(G1), 7: lab(G2)},
        {
            3: (CPR, "date does not exist"),
            4: (CPR, "'12345'"),
            5: (CPR, "'abcdef-ghij'"),
            6: (CPR, "'0101901234567'"),
        },
    ),
    "future_dates.xlsx": Loaded(
        {2: lab(G1), 5: lab(G2)},
        {
            3: ("column 'Prøvetidspunkt'", "in the future", "2099-01-01 08:00"),
            4: ("column 'Prøvetidspunkt'", "in the future", "'24-12-2099 10:00'"),
        },
    ),
    "text_in_numeric.xlsx": Loaded(
        {2: lab(G1), 8: lab(G2)},
        {
            3: (VALUE, "valid number", "'høj'"),
            4: (VALUE, "'7,5 mmol'"),
            5: (VALUE, "'<0,5'"),
            6: (VALUE, "a value is required"),
            7: ("column 'Prøvetidspunkt'", "a number, not a date"),
        },
    ),
    "text_in_numeric.csv": Loaded(
        {2: lab(G1), 6: lab(G2)},
        {3: (VALUE, "'høj'"), 4: (VALUE, "'7,5 mmol'"), 5: (VALUE, "'<0,5'")},
    ),
    "formula_errors.xlsx": Loaded(
        {2: lab(G1), 6: lab(G2)},
        {
            3: ("formula error #DIV/0!", VALUE),
            4: ("formula error #REF!", VALUE),
            5: ("formula error #N/A", "column 'Prøvetidspunkt'"),
        },
    ),
    "formula_errors.csv": Loaded(
        {2: lab(G1), 5: lab(G2)},
        {3: ("formula error #DIV/0!", VALUE), 4: ("formula error #REF!", "'Enhed'")},
    ),
    "bad_analysis_code.xlsx": Loaded(
        {2: lab(G1), 6: lab(G2)},
        {
            3: ("column 'Analysekode'", "'NPU2319'"),
            4: ("column 'Analysekode'", "'npu02319'"),
            5: ("column 'Analysekode'", "'DNK05472'"),
        },
    ),
    # Excel (and openpyxl, which wrote the file) stop at 32,767 characters a cell
    "huge_strings.xlsx": Loaded(
        {2: lab(G1), 6: lab(G1, comment="k" * 32_767, sampled_at=LONG_AT), 7: lab(G2)},
        {
            3: (CPR, "... (32767 characters)"),
            4: ("column 'Analysekode'", "... (32767 characters)"),
            5: (VALUE, "... (32767 characters)"),
        },
    ),
    "huge_strings.csv": Loaded(
        {2: lab(G1), 5: lab(G1, comment="k" * 100_000, sampled_at=LONG_AT), 6: lab(G2)},
        {3: (CPR, "... (100000 characters)"), 4: (VALUE, "... (100004 characters)")},
    ),
    "huge_header.xlsx": Refused(
        ("missing column for 'value'", "... (32767 characters), 'Enhed'"),
        row=1,
        column="value",
    ),
    # encodings and delimiters
    "windows_1252.csv": Loaded({2: lab(G1, comment=DANISH), 3: lab(G2)}),
    "utf8_bom.csv": Loaded({2: lab(G1, comment=DANISH), 3: lab(G2)}),
    "semicolon.csv": Loaded(TWO_GOOD),
    "comma.csv": Loaded(TWO_GOOD),
    "comma_decimal_commas.csv": Loaded(TWO_GOOD),
}
#: Messages longer than this would not be clear: a long cell must be cut short.
LONGEST_MESSAGE = 600


def read(path: Path) -> list[Row | RowError]:
    """Read a corpus file as the robot would, from the sheet 'Resultater'."""
    sheet = "Resultater" if path.suffix == ".xlsx" else None
    return list(read_rows(path, model=LabResult, sheet=sheet))


def test_the_corpus_is_complete() -> None:
    """Every corpus file has an expectation, and every expectation a file."""
    files = {p.name for p in CORPUS.iterdir() if p.name not in ("README.md",)}
    assert set(EXPECTED) | {"row_limit.xlsx"} == files
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert [] == [name for name in files if f"`{name}`" not in readme]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input(name: str) -> None:
    """The file is refused with a clear InputError, or loads with its bad rows as
    RowErrors and all its good rows."""
    path = CORPUS / name
    expected = EXPECTED[name]
    if isinstance(expected, Refused):
        with pytest.raises(InputError) as caught:
            read(path)
        assert InputError is type(caught.value)
        message = str(caught.value)
        assert message.startswith(f"file {name}")
        assert [] == [text for text in expected.says if text not in message]
        assert (expected.row, expected.column) == (
            caught.value.row,
            caught.value.column,
        )
        assert len(message) < LONGEST_MESSAGE
        return
    rows = read(path)
    assert {type(r) for r in rows} <= {Row, RowError}
    place = f"{name}, sheet 'Resultater'" if path.suffix == ".xlsx" else name
    good = {r.location: r.values for r in rows if isinstance(r, Row)}
    assert {f"{place}, row {n}": item for n, item in expected.good.items()} == good
    bad = {r.location: r.message for r in rows if isinstance(r, RowError)}
    assert {f"{place}, row {n}" for n in expected.bad} == set(bad)
    for number, texts in expected.bad.items():
        message = bad[f"{place}, row {number}"]
        assert [] == [text for text in texts if text not in message], message
        assert len(message) < LONGEST_MESSAGE


def test_a_sheet_at_excels_row_limit() -> None:
    """All 1,048,576 rows of a full sheet are read: the good ones on rows 2, 3 and
    1,048,576, and a RowError for each of the 1,048,572 bad ones in between."""
    good: dict[str, BaseModel] = {}
    bad = 0
    where = "row_limit.xlsx, sheet 'Resultater', row"
    for result in read_rows(CORPUS / "row_limit.xlsx", model=LabResult):
        if isinstance(result, Row):
            assert isinstance(result.values, BaseModel)
            good[result.location] = result.values
            continue
        assert RowError is type(result)
        assert result.location == f"{where} {bad + 4}"
        assert result.message.startswith(f"{VALUE}: Input should be a valid number")
        bad += 1
    assert 1_048_572 == bad
    assert {
        f"{where} 2": lab(G1),
        f"{where} 3": lab(G2),
        f"{where} 1048576": lab(LAST),
    } == good


def _load(tmp_path: Path, name: str) -> tuple[InMemoryBackend, int]:
    """Load a corpus file into a queue through the engine, as `rpa load` does."""
    robot = Robot(
        name="lab_results",
        item=LabResult,
        source=excel_source(CORPUS / name, model=LabResult),
        reference=["cpr", "code", "sampled_at"],
        process=lambda ctx, item: None,
    )
    settings = Settings(project_dir=tmp_path)
    redactor = build_redactor(settings)
    configure_logging(settings, redactor=redactor, console_level="ERROR")
    backend = InMemoryBackend()
    engine = Engine(robot, settings=settings, backend=backend, redactor=redactor)
    _, rejected = engine.load(None, "run-1")
    return backend, rejected


@pytest.mark.parametrize(
    "name",
    ["invalid_cpr.xlsx", "formula_errors.xlsx", "extra_cells.csv", "huge_strings.csv"],
)
def test_engine_queues_good_rows_and_rejects_bad_ones(
    tmp_path: Path, name: str
) -> None:
    """Loaded through the engine, each good row is one pending item and each bad row
    one business exception whose reason names its row."""
    expected = EXPECTED[name]
    assert isinstance(expected, Loaded)

    backend, rejected = _load(tmp_path, name)

    assert len(expected.bad) == rejected
    pending = backend.items("lab_results", states=[ItemState.NEW])
    assert sorted(
        (i.model_dump(mode="json") for i in expected.good.values()),
        key=str,
    ) == sorted((item.payload for item in pending), key=str)
    reasons = [
        item.error_message or ""
        for item in backend.items("lab_results", states=[ItemState.BUSINESS_EXCEPTION])
    ]
    assert len(expected.bad) == len(reasons)
    for number in expected.bad:
        assert any(f"row {number}: " in reason for reason in reasons), reasons


@pytest.mark.parametrize("name", ["encrypted.xlsx", "unbalanced_quote.csv"])
def test_engine_queues_nothing_from_a_refused_file(tmp_path: Path, name: str) -> None:
    """A file refused as a whole puts nothing in the queue, not even its first
    rows."""
    with pytest.raises(InputError, match=f"^file {name}"):
        _load(tmp_path, name)
