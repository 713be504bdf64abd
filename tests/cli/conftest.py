"""Fixtures of the `rpa` end-to-end tests: a robot project folder and ways to drive it.

The project holds ``robots/fake_lab.py``, a robot that registers lab results in a
fake lab system kept as JSON files in ``lab_system/`` (its patients and its
registrations), an ``rpa.toml`` and an ``input.json`` export. Its folder name has a
space and brackets, as a synced Windows folder may, so that every path the commands
print is checked to come out as it is.
"""

from __future__ import annotations

import json
import os
import string
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from robotlib.cli import app
from robotlib.queue import QueueBackend, open_backend
from robotlib.settings import load_settings

ROBOT_TEMPLATE = string.Template('''\
"""Registers lab results in a fake lab system: JSON files in the project folder."""

import json
from pathlib import Path

from pydantic import BaseModel

from robotlib import ApplicationError, BusinessRuleError, Context, RetryPolicy, Robot

#: The rows `rpa run` works on without --input.
DEFAULT_ROWS = [{"cpr": "010190-1234", "code": "NPU02319", "value": 7.1}]
#: True: the lab system answers every registration with HTTP 503.
ALWAYS_DOWN = $always_down


class LabResult(BaseModel):
    """One lab result of the export."""

    cpr: str
    code: str
    value: float


def read_export(input_path: Path | None) -> list[dict[str, object]]:
    """The rows of the JSON export given by --input, or the default rows."""
    if input_path is None:
        return DEFAULT_ROWS
    rows: list[dict[str, object]] = json.loads(input_path.read_text("utf-8"))
    return rows


class FakeLabSystem:
    """The target system: its patients and registrations are JSON files."""

    name = "fake-lab"

    def __init__(self, folder: Path) -> None:
        self.patients = folder / "patients.json"
        self.registrations = folder / "registrations.json"

    def register(self, item: LabResult) -> int:
        if ALWAYS_DOWN or item.code == "OFFLINE":
            raise ApplicationError("the lab system answered HTTP 503")
        if item.cpr not in json.loads(self.patients.read_text("utf-8")):
            raise BusinessRuleError(
                f"No patient with CPR {item.cpr} in the lab system: correct the CPR "
                "number in the export or create the patient, then retry the item"
            )
        if not 0 <= item.value <= 50:
            raise BusinessRuleError(
                f"value {item.value} [mmol/L] of {item.code} is outside 0-50: "
                "check the sample"
            )
        done = self.read()
        done.append(item.model_dump())
        self.registrations.write_text(json.dumps(done), "utf-8")
        return len(done)

    def read(self) -> list[dict[str, object]]:
        if not self.registrations.exists():
            return []
        found: list[dict[str, object]] = json.loads(
            self.registrations.read_text("utf-8")
        )
        return found

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(b"\\x89PNG fake")
        return path

    def close(self) -> None:
        pass


def open_lab(ctx: Context) -> None:
    """Open the lab system."""
    lab = FakeLabSystem(ctx.settings.project_dir / "lab_system")
    ctx.state["lab"] = ctx.open_application(lab)


def register_result(ctx: Context, item: LabResult) -> dict[str, int]:
    """Register one result; its output is the registration number."""
    return {"registration": ctx.state["lab"].register(item)}


def check_lab(ctx: Context) -> None:
    """Preflight: the patient list reads; lab_system/preflight_fails fails it."""
    flag = ctx.settings.project_dir / "lab_system" / "preflight_fails"
    if flag.exists():
        raise ApplicationError(flag.read_text("utf-8"))
    json.loads(ctx.state["lab"].patients.read_text("utf-8"))


robot = Robot(
    name="$name",
    description="$description",
    item=LabResult,
    source=read_export,
    reference=["cpr", "code"],
    setup=open_lab,
    process=register_result,
    preflight=$preflight,
    retry=RetryPolicy(attempts=2, backoff_s=(0,)),
    stop_after_system_errors=$stop_after,
)
''')

#: The lab system's patients; 240512-4123 is not one of them.
PATIENTS = ["010190-1234", "020290-2345", "030390-3456", "040490-4567", "050590-5678"]

#: The export: 2 rows register, 3 are business exceptions, 1 fails for good.
INPUT_ROWS: list[dict[str, Any]] = [
    {"cpr": "010190-1234", "code": "NPU02319", "value": 7.1},  # done
    {"cpr": "240512-4123", "code": "NPU02319", "value": 6.0},  # unknown patient
    {"cpr": "020290-2345", "code": "NPU01370", "value": 4.2},  # done
    {"cpr": "030390-3456", "code": "NPU03230", "value": "high"},  # invalid row
    {"cpr": "040490-4567", "code": "NPU19748", "value": 99.0},  # implausible value
    {"cpr": "050590-5678", "code": "OFFLINE", "value": 1.0},  # HTTP 503 twice
]

#: Each input row's reference: "<cpr>|<code>".
REFERENCES = [f"{row['cpr']}|{row['code']}" for row in INPUT_ROWS]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A robot project folder with the fake_lab robot, rpa.toml and input.json."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "lab project [dev]"
    (folder / "robots").mkdir(parents=True)
    (folder / "lab_system").mkdir()
    (folder / "rpa.toml").write_text('cpr_in_logs = "hash"\n', encoding="utf-8")
    (folder / "input.json").write_text(json.dumps(INPUT_ROWS), encoding="utf-8")
    (folder / "lab_system" / "patients.json").write_text(
        json.dumps(PATIENTS), encoding="utf-8"
    )
    (folder / "robots" / "fake_lab.py").write_text(
        robot_text("fake_lab"), encoding="utf-8"
    )
    return folder


def robot_text(
    name: str,
    *,
    always_down: bool = False,
    stop_after: int = 5,
    description: str = "Registers lab results in the fake lab system.",
    preflight: bool = True,
) -> str:
    """The text of a robot file: the fake_lab robot under another name or setup.

    ``preflight=False`` leaves the robot without one; with it, `rpa preflight`
    fails with the text of ``lab_system/preflight_fails`` when that file exists.
    """
    return ROBOT_TEMPLATE.substitute(
        name=name,
        always_down=always_down,
        stop_after=stop_after,
        description=description,
        preflight="check_lab" if preflight else "None",
    )


@pytest.fixture
def add_robot(project: Path) -> Callable[..., Path]:
    """Return a function that adds a robot file like fake_lab to the project."""

    def add(name: str, **options: Any) -> Path:
        path = project / "robots" / f"{name}.py"
        path.write_text(robot_text(name, **options), encoding="utf-8")
        return path

    return add


@pytest.fixture
def input_file(project: Path) -> Path:
    """The project's input.json (the rows of INPUT_ROWS)."""
    return project / "input.json"


@pytest.fixture
def references() -> list[str]:
    """The references of the input rows, in order ("<cpr>|<code>")."""
    return list(REFERENCES)


@pytest.fixture
def rpa(project: Path) -> Callable[..., Result]:
    """Return a function that runs `rpa --project PROJECT ARGS...` in this process.

    An exception other than the command's exit is raised, so no test passes over a
    traceback.
    """
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(
            app,
            ["--project", str(project), *args],
            input=input,
            env={"COLUMNS": "300"},  # wide enough that no table cell wraps
        )
        if result.exception is not None and not isinstance(
            result.exception, SystemExit
        ):
            raise result.exception
        return result

    return invoke


@pytest.fixture
def backend(project: Path) -> Iterator[QueueBackend]:
    """The project's work queue, opened as the commands open it."""
    settings = load_settings(project)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    queue = open_backend(settings.database)
    yield queue
    queue.close()


@pytest.fixture
def registrations(project: Path) -> Callable[[], list[dict[str, Any]]]:
    """Return a function that reads what the fake lab system registered."""

    def read() -> list[dict[str, Any]]:
        path = project / "lab_system" / "registrations.json"
        if not path.exists():
            return []
        found: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return found

    return read


@pytest.fixture
def full_cprs() -> Callable[[str], list[str]]:
    """Return a function listing the full CPR numbers of the input found in a text.

    It looks for the numbers the tests use, with and without the dash (a generic
    pattern would also match a hash token that happens to be all digits).
    """
    numbers = [str(row["cpr"]) for row in INPUT_ROWS] + PATIENTS

    def find(text: str) -> list[str]:
        return sorted({n for n in numbers if n in text or n.replace("-", "") in text})

    return find


@pytest.fixture
def rpa_executable() -> Path:
    """The installed `rpa` console script of this virtualenv."""
    return Path(sys.executable).with_name("rpa")
