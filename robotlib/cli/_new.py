"""``rpa new ROBOT``: a robot, a sample input and its test, which pass as written.

The robot looks each patient of its input up in the sandbox's EPJ and records
their department: it reads only, so it is safe to run while learning. It is the
shape every robot has (an item model, a source, a declared browser and login, a
process, preflight checks); its test runs it end to end with robotlib's pytest
plugin against a sandbox the plugin starts.
"""

import re
from pathlib import Path
from typing import Annotated

import typer

from robotlib.cli._app import app, console, fail

_NAME = re.compile(r"[a-z][a-z0-9_]*")

_ROBOT = '''"""Looks each patient of the input up in the EPJ; records their department.

Run it against the sandbox (``rpa sandbox`` in another terminal):

    rpa run {name} --input robots/inputs/{name}.csv

Check that it can log in and find its pages:  rpa preflight {name}
"""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from robotlib import BusinessRuleError, Context, Cpr, Robot
from robotlib.steps import browser
from robotlib.steps.excel import excel_source

INPUT = Path(__file__).parent / "inputs" / "{name}.csv"


class Patient(BaseModel):
    """One row of the input: a patient to look up."""

    cpr: Cpr = Field(alias="CPR-nummer")


def look_up(ctx: Context, item: Patient) -> dict[str, Any]:
    """Search the patient by CPR number; keep the department their page shows."""
    session = browser.session(ctx)
    browser.goto(session, "/patients/search")
    browser.fill_form(session, {{"CPR number": item.cpr}})
    browser.click(session, "Search")
    if (refusal := session.page.locator("#cpr-error")).count():
        raise BusinessRuleError(
            f"The EPJ has no patient {{item.cpr}}: it says "
            f"{{refusal.inner_text()!r}}; check the input"
        )
    department = session.page.locator("#patient-department").inner_text()
    return {{"department": department.strip()}}


robot = Robot(
    name="{name}",
    item=Patient,
    source=excel_source(INPUT, model=Patient),
    reference="cpr",
    browser=browser.BrowserOptions(mask=("#patient-cpr", ".patient-line")),
    login="sandbox",
    process=look_up,
    preflight=[
        browser.expect_page(
            "the patient search",
            goto="/patients/search",
            fields=["CPR number"],
            buttons=["Search"],
        )
    ],
    outputs=("department",),
)
'''

#: Fictitious patients of the sandbox's seed data, and one it does not have.
_INPUT = "CPR-nummer\n170551-4514\n220209-4002\n010101-0000\n"

_TEST = '''"""{name} looks the input's patients up in the sandbox, end to end."""

from pathlib import Path

INPUT = Path(__file__).parents[1] / "robots" / "inputs" / "{name}.csv"


def test_known_patients_are_looked_up_and_an_unknown_one_is_an_exception(
    run_robot, rpa_sandbox
):
    run = run_robot(
        "{name}", input=INPUT, credentials={{"sandbox": rpa_sandbox.credentials}}
    )

    assert run.exit_code == 0
    assert run.outcomes == {{
        "170551-4514": "done",
        "220209-4002": "done",
        "010101-0000": "business_exception",
    }}
    assert run.item("170551-4514").output["department"]
    assert "check the input" in run.item("010101-0000").error_message


def test_preflight_finds_the_search(preflight_robot, rpa_sandbox):
    sandbox = {{"sandbox": rpa_sandbox.credentials}}
    result = preflight_robot("{name}", credentials=sandbox)

    assert result.ok, result.message
'''


@app.command()
def new(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            metavar="ROBOT", help="The new robot's name: lowercase, digits and _."
        ),
    ],
) -> None:
    """Write a new robot, a sample input and its test into the project.

    Writes robots/ROBOT.py (a robot that looks patients up in the sandbox's EPJ),
    robots/inputs/ROBOT.csv and tests/test_ROBOT.py, and robots/__init__.py when
    the project has none. The test runs the robot end to end with robotlib's pytest
    plugin (it starts a sandbox and a headless Chromium): run it with
    `pytest tests/test_ROBOT.py`. Nothing is overwritten.
    """
    if not _NAME.fullmatch(name):
        fail(
            "a robot name is lowercase letters, digits and _ and starts with a "
            f"letter, e.g. 'discharge_letters' (got {name!r})"
        )
    project: Path = ctx.obj if isinstance(ctx.obj, Path) else Path(".")
    files = {
        project / "robots" / f"{name}.py": _ROBOT.format(name=name),
        project / "robots" / "inputs" / f"{name}.csv": _INPUT,
        project / "tests" / f"test_{name}.py": _TEST.format(name=name),
    }
    if taken := [str(path) for path in files if path.exists()]:
        fail(f"{', '.join(taken)} already exist: choose another name")
    package = project / "robots" / "__init__.py"
    if not package.exists():
        files[package] = '"""The project\'s robots."""\n'
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        console.print(f"wrote {path}", markup=False, highlight=False)
    console.print(f"next: rpa check, then pytest tests/test_{name}.py", markup=False)
