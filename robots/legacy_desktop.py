"""Types lab results from the laboratory's spreadsheet into the legacy lab client.

The legacy lab client is a desktop program with no web page and no API: the robot
types each result into its form, as an operator would (CPR, Tab, test code, Tab,
value, Tab, unit, Enter), and reads the outcome from the window title, which the
client sets to ``Legacy Lab Client - Saved as LAB-3`` or ``Legacy Lab Client -
Error: Unknown test code``. A refusal is a business exception carrying the
client's own message; a saved result is read back from the client's store.

The client keeps its registrations in a JSON-lines store file, its database. The
robot reads it back to look a result up (the client has no duplicate check), and
to verify a registration. Which file it is comes from ``credentials.toml``::

    [legacy_lab]
    store = "legacy_lab_store.jsonl"   # relative to the project folder

or from ``RPA_CRED_LEGACY_LAB_STORE``; without either it is
``legacy_lab_store.jsonl`` in the project folder.

The desktop steps need a display; on a server run the robot under Xvfb:
``xvfb-run rpa run legacy_desktop --input robots/inputs/legacy_lab.xlsx``.
Loading the robot (``rpa check``) needs none: the steps are imported when used.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator

from robotlib import (
    ApplicationError,
    BusinessRuleError,
    Context,
    RetryPolicy,
    Robot,
    Stage,
)
from robotlib.cpr import Cpr
from robotlib.errors import CredentialsError
from robotlib.steps.excel import excel_source

if TYPE_CHECKING:
    from robotlib.steps.desktop import DesktopSession

INPUT = Path(__file__).parent / "inputs" / "legacy_lab.xlsx"
SYSTEM = "legacy_lab"
DEFAULT_STORE = "legacy_lab_store.jsonl"
TITLE = "Legacy Lab Client"
OUTCOME = f"{TITLE} - "  # the title's start once the client shows an outcome
WAIT_S = 10.0


class LabValue(BaseModel):
    """One row of the laboratory's spreadsheet: one result to type in."""

    cpr: Cpr = Field(alias="CPR-nummer")
    code: str = Field(alias="Analysekode")
    value: str = Field(alias="Værdi")
    unit: str = Field(alias="Enhed")

    model_config = {"populate_by_name": True}

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("value", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        """A number cell becomes text as a Danish laboratory writes it: 8,4."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value).replace(".", ",")
        return value

    @property
    def number(self) -> float | None:
        """The value as the client stores it, or None when it is not a number."""
        try:
            return float(self.value.strip().replace(",", "."))
        except ValueError:
            return None


def open_client(ctx: Context) -> None:
    """Start the legacy lab client on its store file; it has the keyboard then."""
    from robotlib.steps.desktop import DesktopSession

    store = store_path(ctx)
    store.parent.mkdir(parents=True, exist_ok=True)
    session = DesktopSession()
    ctx.open_application(session)  # first: closed by the engine if launch fails
    client = [sys.executable, "-m", "sandbox.legacy_client", "--store", str(store)]
    session.launch(client, window_title=TITLE, timeout_s=30)
    ctx.state["client"] = session
    ctx.state["store"] = store
    ctx.log.info("legacy_client_started", store=str(store))


def register_result(ctx: Context, item: LabValue) -> dict[str, Any]:
    """Type the result into a new entry, save it and read the outcome from the title."""
    from robotlib.steps import desktop

    session: DesktopSession = ctx.state["client"]
    if not any(process.poll() is None for process in session.processes):
        raise ApplicationError("the legacy lab client is no longer running")
    # Escape starts a new entry: an empty form, the CPR field focused and the bare
    # title, so the outcome waited for below cannot be the previous item's.
    desktop.press("esc")
    desktop.wait_for_window(TITLE, timeout_s=WAIT_S)
    for number, text in enumerate((item.cpr, item.code, item.value, item.unit)):
        if number:
            desktop.press("tab")
        desktop.type_text(text.strip())
    desktop.press("enter")
    title = desktop.wait_for_window(OUTCOME, prefix=True, timeout_s=WAIT_S)
    outcome = title.removeprefix(OUTCOME)
    saved = re.fullmatch(r"Saved as (LAB-\d+)", outcome)
    if saved:
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
    wanted = (item.cpr, item.code, item.number)
    for record in _records(ctx.state["store"]):
        if (record["cpr"], record["test_code"], record["value"]) == wanted:
            return {"lab_id": record["id"]}
    return None


def read_back(ctx: Context, item: LabValue, output: dict[str, Any]) -> None:
    """Verify: the client's store holds the saved record with the row's values."""
    lab_id = output["lab_id"]
    records = {record["id"]: record for record in _records(ctx.state["store"])}
    record = records.get(lab_id)
    if record is None:
        raise ApplicationError(
            f"the legacy lab client said it saved {lab_id}, but its store does not "
            "hold it"
        )
    stored = (record["cpr"], record["test_code"], record["value"], record["unit"])
    if stored != (item.cpr, item.code, item.number, item.unit.strip()):
        raise BusinessRuleError(
            f"The legacy lab client holds {lab_id} with other values "
            f"({record['test_code']} {record['value']:g} {record['unit']}) than the "
            f"spreadsheet ({item.code} {item.value} {item.unit}): check which is "
            "right",
            code="differs",
        )


def store_path(ctx: Context) -> Path:
    """The client's store file: ``[legacy_lab] store``, else the project default."""
    try:
        store = ctx.credentials(SYSTEM).extra.get("store")
    except CredentialsError as exc:
        if f"no credentials for system {SYSTEM!r}" not in str(exc):
            raise  # an unsafe or broken credentials.toml: say so, do not guess
        store = None
    path = Path(store if isinstance(store, str) else DEFAULT_STORE).expanduser()
    return path if path.is_absolute() else ctx.settings.project_dir / path


def _records(store: Path) -> list[dict[str, Any]]:
    """The client's registrations, oldest first (none before the first save)."""
    if not store.exists():
        return []
    with store.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


robot = Robot(
    name="legacy_desktop",
    description="Types lab results from a spreadsheet into the legacy lab client.",
    item=LabValue,
    source=excel_source(INPUT, model=LabValue),
    reference=["cpr", "code", "value"],
    setup=open_client,
    process=[Stage("register result", register_result)],
    precheck=already_registered,
    verify=read_back,
    retry=RetryPolicy(attempts=3, backoff_s=(2, 10)),
    stop_after_system_errors=5,
    outputs=("lab_id",),
)
