"""`rpa new ROBOT` writes a robot, its input and its test, which pass as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import robotlib

pytestmark = pytest.mark.browser

MYPY_CONFIG = """\
[mypy]
strict = True
cache_dir = /dev/null

[mypy-robotlib.*,sandbox.*]
follow_imports = silent
"""


def _run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # robotlib is installed editable here, through an import hook mypy cannot
    # follow: MYPYPATH finds it, and MYPY_CONFIG (below) treats it as an installed
    # typed package (py.typed), whose own imports mypy does not report on
    environ["MYPYPATH"] = str(Path(robotlib.__file__).parents[1])
    return subprocess.run(
        command, cwd=cwd, env=environ, capture_output=True, text=True, check=False
    )


def test_a_new_project_s_robot_passes_its_own_test_through_the_plugin(
    tmp_path: Path, rpa_executable: Path
) -> None:
    """In an empty folder: rpa new, rpa check, mypy --strict, and pytest pass.

    The generated test runs in a pytest of its own, which finds robotlib's fixtures
    through the plugin's entry point alone (no conftest.py, no import).
    """
    project = tmp_path / "ward-robots"
    project.mkdir()

    made = _run(str(rpa_executable), "new", "discharge_letters", cwd=project)
    assert 0 == made.returncode, made.stderr
    written = sorted(
        str(path.relative_to(project)) for path in project.rglob("*") if path.is_file()
    )
    assert [
        "robots/__init__.py",
        "robots/discharge_letters.py",
        "robots/inputs/discharge_letters.csv",
        "tests/test_discharge_letters.py",
    ] == written

    checked = _run(str(rpa_executable), "check", cwd=project)
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG, encoding="utf-8")
    typed = _run(
        sys.executable, "-m", "mypy", "--config-file", str(config), "robots",
        cwd=project,
    )  # fmt: skip
    assert 0 == typed.returncode, typed.stdout
    tested = _run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project
    )
    assert 0 == tested.returncode, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout


def test_it_overwrites_nothing_and_refuses_a_bad_name(
    tmp_path: Path, rpa_executable: Path
) -> None:
    """A second `rpa new` of the same name, or a name no robot can have, exits 2."""
    first = _run(str(rpa_executable), "new", "letters", cwd=tmp_path)
    assert 0 == first.returncode, first.stderr
    robot = tmp_path / "robots" / "letters.py"
    robot.write_text("# edited by hand\n", encoding="utf-8")

    again = _run(str(rpa_executable), "new", "letters", cwd=tmp_path)
    assert 2 == again.returncode
    assert "already exist: choose another name" in again.stderr
    assert "# edited by hand\n" == robot.read_text(encoding="utf-8")

    bad = _run(str(rpa_executable), "new", "Discharge-Letters", cwd=tmp_path)
    assert 2 == bad.returncode
    assert "a robot name is lowercase letters" in bad.stderr
