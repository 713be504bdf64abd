"""Types lab results from the laboratory's spreadsheet into the legacy lab client.

The client is a desktop program with no web page and no API: the robot types each
result into its form as an operator would and reads the outcome from the window
title (``Legacy Lab Client - Saved as LAB-3`` or ``... - Error: Unknown test
code``). The client has no duplicate check: the robot looks a result up in the
client's JSON-lines store (``[legacy_lab] store`` in credentials.toml, default
``legacy_lab_store.jsonl``), which also verifies each save.

It needs a display; on a server:  xvfb-run rpa run legacy_desktop
"""

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from robotlib import ApplicationError, BusinessRuleError, Context, Cpr, Robot
from robotlib.fields import Code, DecimalText
from robotlib.steps.excel import excel_source

INPUT = Path(__file__).parent / "inputs" / "legacy_lab.xlsx"
TITLE = "Legacy Lab Client"
OUTCOME = f"{TITLE} - "  # the title's start once the client shows an outcome


class LabValue(BaseModel):
    """One row of the laboratory's spreadsheet: one result to type in."""

    cpr: Cpr = Field(alias="CPR-nummer")
    code: Code = Field(alias="Analysekode")
    value: DecimalText = Field(alias="Værdi")
    unit: str = Field(alias="Enhed")

    def stored(self) -> tuple[str, str, float | None, str]:
        """The record as the client stores it (the value as a number, if one)."""
        try:
            number: float | None = float(self.value.strip().replace(",", "."))
        except ValueError:
            number = None
        return self.cpr, self.code, number, self.unit.strip()


def open_client(ctx: Context) -> None:
    """Start the legacy lab client on its store file; it has the keyboard then."""
    from robotlib.steps.desktop import DesktopSession

    lab = ctx.credentials("legacy_lab", optional=True)
    store = lab.extra.get("store") if lab else None
    path = Path(store if isinstance(store, str) else "legacy_lab_store.jsonl")
    ctx.state["store"] = path = ctx.settings.project_dir / path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    session = ctx.state["client"] = DesktopSession()
    ctx.open_application(session)  # first: closed by the engine if launch fails
    client = [sys.executable, "-m", "sandbox.legacy_client", "--store", str(path)]
    session.launch(client, window_title=TITLE, timeout_s=30)
    ctx.log.info("legacy_client_started", store=str(path))


def register_result(ctx: Context, item: LabValue) -> dict[str, Any]:
    """Type the result into a new entry, save it and read the outcome from the title."""
    from robotlib.steps import desktop

    if not any(process.poll() is None for process in ctx.state["client"].processes):
        raise ApplicationError("the legacy lab client is no longer running")
    # Escape starts a new entry: an empty form, the CPR field focused and the bare
    # title, so the outcome waited for below cannot be the previous item's.
    desktop.press("esc")
    desktop.wait_for_window(TITLE, timeout_s=10)
    fields = (item.cpr, item.code, item.value, item.unit)
    desktop.fill_fields([text.strip() for text in fields], then="enter")
    title = desktop.wait_for_window(OUTCOME, prefix=True, timeout_s=10)
    outcome = title.removeprefix(OUTCOME)
    if saved := re.fullmatch(r"Saved as (LAB-\d+)", outcome):
        return {"lab_id": saved[1]}
    if outcome.startswith("Error: "):
        raise BusinessRuleError(
            "The legacy lab client refused the result: "
            f"{outcome.removeprefix('Error: ')}",
            code="refused",
        )
    raise ApplicationError(f"the legacy lab client shows an unknown outcome: {title!r}")


def already_registered(ctx: Context, item: LabValue) -> dict[str, Any] | None:
    """Precheck: the id of a record in the client's store with this CPR, code, value."""
    for lab_id, record in _records(ctx.state["store"]).items():
        if record[:3] == item.stored()[:3]:
            return {"lab_id": lab_id}
    return None


def read_back(ctx: Context, item: LabValue, output: dict[str, Any]) -> None:
    """Verify: the client's store holds the saved record with the row's values."""
    lab_id = output["lab_id"]
    record = _records(ctx.state["store"]).get(lab_id)
    if record is None:
        raise ApplicationError(
            f"the legacy lab client said it saved {lab_id}, but its store does not "
            "hold it"
        )
    if record != item.stored():
        raise BusinessRuleError(
            f"The legacy lab client holds {lab_id} with other values "
            f"({record[1]} {record[2]:g} {record[3]}) than the spreadsheet "
            f"({item.code} {item.value} {item.unit}): check which is right",
            code="differs",
        )


def _records(store: Path) -> dict[str, tuple[str, str, float, str]]:
    """The client's registrations by id, oldest first (none before the first save)."""
    lines = store.read_text(encoding="utf-8").splitlines() if store.exists() else []
    records = [json.loads(line) for line in lines if line.strip()]
    fields = ("cpr", "test_code", "value", "unit")
    return {r["id"]: tuple(r[name] for name in fields) for r in records}


robot = Robot(
    name="legacy_desktop",
    item=LabValue,
    source=excel_source(INPUT, model=LabValue),
    reference=["cpr", "code", "value"],
    setup=open_client,
    process=register_result,
    precheck=already_registered,
    verify=read_back,
    outputs=("lab_id",),
)
