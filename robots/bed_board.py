"""Carries out the ward's transfer list on the department board.

Per row: give the patient the bed (a bed of another department transfers them; a
blank "Seng" means the first free bed there), then mark the listed tasks done. The
whole row is checked first: an unknown patient, bed or task, or an occupied or no
free bed, is a business exception and the board stays as it was. A patient already
in the bed counts as moved, so a retry never moves anyone twice.

Run it:  rpa run bed_board --input robots/inputs/transfers.xlsx
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator

from robotlib import ApplicationError, BusinessRuleError, Context, Cpr, Robot, Stage
from robotlib.fields import Code, CommaList
from robotlib.steps import browser
from robotlib.steps.excel import excel_source

from ._epj import SYSTEM, TEST_PATIENT, check_test_patient, open_patient

INPUT = Path(__file__).parent / "inputs" / "transfers.xlsx"
MASK = ("#patient-cpr", "#board td:nth-child(-n+3)", "#waiting td")


class Transfer(BaseModel):
    """One row of the transfer list."""

    cpr: Cpr = Field(alias="CPR-nummer")
    department: Code = Field(alias="Til afdeling", pattern=r"^[A-ZÆØÅ]{2,5}$")
    bed: Code | None = Field(default=None, alias="Seng", pattern=r"^[A-ZÆØÅ]+-\d+$")
    tasks: CommaList = Field(default_factory=list, alias="Opgaver afsluttet")

    @model_validator(mode="after")
    def _bed_in_department(self) -> Self:
        if self.bed is not None and not self.bed.startswith(f"{self.department}-"):
            raise ValueError(f"bed {self.bed} is not a bed of {self.department}")
        return self


@dataclass
class Place:
    """Where the board shows a patient: department, bed (None: waiting), open tasks."""

    department: str
    bed: str | None
    tasks: list[str]


def learn_departments(ctx: Context) -> None:
    """Setup: learn the departments (name → code) from the board's tabs."""
    session = browser.session(ctx)
    browser.goto(session, "/board")
    tabs = session.page.locator("nav[aria-label=Departments] a").evaluate_all(
        "links => links.map(a => [a.innerText.trim(), a.getAttribute('href')])"
    )
    if not tabs:
        raise ApplicationError("the board shows no department tabs")
    ctx.state["departments"] = {name: href.rsplit("/", 1)[1] for name, href in tabs}


def assign_bed(ctx: Context, item: Transfer) -> dict[str, Any]:
    """Check the whole row, then move the patient into the bed unless already there."""
    place = _locate(ctx, item.cpr)
    if missing := [task for task in item.tasks if not _shown(task, place.tasks)]:
        raise BusinessRuleError(
            f"{', '.join(missing)}: not an open task of the patient on the board "
            f"(open: {', '.join(place.tasks) or 'none'}); check the transfer list"
        )
    names = {code: name for name, code in ctx.state["departments"].items()}
    if (name := names.get(item.department)) is None:
        raise BusinessRuleError(
            f"No department {item.department} on the board: check the list"
        )
    here = place.department == item.department and place.bed is not None
    if here and item.bed in (None, place.bed):
        return {"bed": place.bed, "bed_assigned": False}
    session = browser.session(ctx)  # on the patient's board: its list has free beds
    offered = browser.options(session, f"[aria-label='Bed for {item.cpr}']").values()
    free = [bed for bed in offered if bed.startswith(f"{item.department}-")]
    if (label := item.bed or next(iter(free), None)) is None:
        raise BusinessRuleError(f"No free bed in {name}: name a bed or try later")
    if label not in free:
        browser.goto(session, f"/board/{item.department}")
        taken = {row["Bed"] for row in browser.read_table(session, "#board")}
        if label in taken:
            raise BusinessRuleError(
                f"Bed {label} is occupied by another patient: choose a free bed in "
                f"{name}"
            )
        beds = sorted(taken | set(free))
        raise BusinessRuleError(
            f"Unknown bed {label}: {name} has beds {beds[0]} to {beds[-1]}"
        )
    browser.select(session, f"Bed for {item.cpr}", label)
    _done(ctx, f"Assign bed to {item.cpr}", "The patient is assigned the bed.")
    return {"bed": label, "bed_assigned": True}


def close_tasks(ctx: Context, item: Transfer) -> dict[str, Any]:
    """Mark the listed tasks done; one no longer open was done by an earlier try."""
    place = _locate(ctx, item.cpr)
    for task in item.tasks:
        if (shown := _shown(task, place.tasks)) is None:
            ctx.log.info("task_closed_before", task=task)  # "assign bed" saw it open
            continue
        _done(ctx, f"Mark {shown} done for {item.cpr}", "The task is marked done.")
    return {"tasks_closed": item.tasks}


def already_done(ctx: Context, item: Transfer) -> dict[str, Any] | None:
    """Precheck of a retried item: moved, and none of its tasks open any more."""
    if ctx.item is None or "assign bed" not in ctx.item.finished_stages:
        return None  # "assign bed" checks for itself whether the patient is there
    place = _locate(ctx, item.cpr)
    moved = (place.department, place.bed) == (item.department, ctx.output["bed"])
    if moved and all(_shown(task, place.tasks) is None for task in item.tasks):
        return {**ctx.output, "tasks_closed": item.tasks}
    return None


def read_back(ctx: Context, item: Transfer, output: dict[str, Any]) -> None:
    """Verify: the board shows the patient in the bed, and the tasks gone."""
    place = _locate(ctx, item.cpr)
    if (place.department, place.bed) != (item.department, output["bed"]):
        raise BusinessRuleError(
            f"The board shows the patient in {place.bed or 'no bed'} "
            f"({place.department}), not in {output['bed']}: check the board"
        )
    if still := [task for task in item.tasks if _shown(task, place.tasks)]:
        raise BusinessRuleError(f"The board still shows {', '.join(still)} open")


def check_board(ctx: Context) -> None:
    """Preflight: the board shows the test patient with the controls the robot uses."""
    place = _locate(ctx, TEST_PATIENT)
    browser.expect_elements(
        browser.session(ctx),
        f"the board of {place.department}",
        fields=[f"Bed for {TEST_PATIENT}"],
        buttons=[f"Assign bed to {TEST_PATIENT}"],
        selectors=["#board", "#waiting"],
    )


def _locate(ctx: Context, cpr: str) -> Place:
    """Find the patient's department by CPR, then open its board and find them."""
    session = open_patient(ctx, cpr, fix="check the transfer list")
    name = session.page.locator("#patient-department").inner_text()
    department = ctx.state["departments"][name]
    browser.goto(session, f"/board/{department}")
    patient_row = f"tr[data-patient-id]:has(td:text-is('{cpr}'))"
    row = session.page.locator(patient_row)
    if row.count() != 1:
        raise ApplicationError(f"the patient is not on the board of {name}")
    suffix = f" done for {cpr}"
    labels = row.locator(f"button[aria-label$='{suffix}']").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('aria-label'))"
    )
    tasks = [label[len("Mark ") : -len(suffix)] for label in labels]
    in_bed = session.page.locator(f"#board {patient_row}").count() == 1
    bed = row.locator("td").first.inner_text().strip() if in_bed else None
    return Place(department, bed, tasks)


def _done(ctx: Context, button: str, confirmation: str) -> None:
    """Click the button; raise the board's own message if it refused the change."""
    session = browser.session(ctx)
    browser.click(session, button)
    browser.expect_accepted(session, "the change", errors="[role=alert]")
    browser.expect_text(session, confirmation)


def _shown(task: str, open_tasks: list[str]) -> str | None:
    """The open task as the board spells it, or None when it is not open."""
    return next((t for t in open_tasks if t.casefold() == task.casefold()), None)


robot = Robot(
    name="bed_board",
    item=Transfer,
    source=excel_source(INPUT, model=Transfer),
    reference=lambda t: f"{t.cpr}|{t.department}|{t.bed or '*'}|{','.join(t.tasks)}",
    browser=browser.BrowserOptions(name="the board", mask=MASK),
    login=SYSTEM,
    setup=learn_departments,
    process=[Stage("assign bed", assign_bed), Stage("close tasks", close_tasks)],
    precheck=already_done,
    verify=read_back,
    preflight=[check_test_patient, check_board],
    outputs=("bed", "bed_assigned", "tasks_closed"),
)
