"""Files scanned documents in the patients' document archive, from an index sheet.

The input is a folder of scanned files (PDF, PNG or JPEG) with an index workbook
beside them: one row per file, with "Fil", "CPR-nummer", "Dokumenttype",
"Dokumentdato" and "Titel". For each row: find the patient by CPR number, open the
archive, upload the file with its metadata, and read the archive's list back. A
missing file, an unknown patient, a document type the archive does not have, or a
file the archive refuses is a business exception carrying the archive's own message.
The archive has no duplicate check of its own: a retried row is first looked for in
the patient's archive, so that nothing is filed twice.

Run it against the sandbox:

    rpa run document_filing --input robots/inputs/documents/index.xlsx

Check that it can still log in and find the archive:  rpa preflight document_filing
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from _epj import (
    PATIENT_FIELDS,
    check_patient_search,
    expect_columns,
    expect_elements,
    log_in,
    open_patient,
)
from pydantic import BaseModel, Field

from robotlib import (
    BusinessRuleError,
    Context,
    RetryPolicy,
    Robot,
    Row,
    RowError,
    Stage,
)
from robotlib.cpr import Cpr
from robotlib.steps import browser
from robotlib.steps.excel import excel_source

INDEX = Path(__file__).parent / "inputs" / "documents" / "index.xlsx"


class Document(BaseModel):
    """One row of the index: one file to archive for one patient."""

    file: str = Field(alias="Fil", min_length=1)
    cpr: Cpr = Field(alias="CPR-nummer")
    doc_type: str = Field(alias="Dokumenttype")
    doc_date: date = Field(alias="Dokumentdato")
    title: str = Field(alias="Titel", min_length=1)
    folder: str = Field(default="", description="The index's folder (the source's).")

    model_config = {"populate_by_name": True}

    @property
    def path(self) -> Path:
        """The file, relative to the index's folder."""
        return Path(self.folder) / self.file

    @property
    def name(self) -> str:
        """The file's name, as the archive lists it."""
        return Path(self.file).name


_read_sheet = excel_source(INDEX, model=Document)


def read_index(input_path: Path | None) -> Iterator[Row | RowError]:
    """The index's rows, each knowing the folder its file is in."""
    index = (input_path or INDEX).resolve()
    for row in _read_sheet(index):
        if isinstance(row, Row) and isinstance(row.values, Document):
            located = row.values.model_copy(update={"folder": str(index.parent)})
            row = Row(located, row.location)
        yield row


def open_archive(ctx: Context) -> None:
    """Open a browser on the EPJ and log in as the robot user."""
    log_in(ctx, mask=(*PATIENT_FIELDS, "#documents"))


def file_document(ctx: Context, item: Document) -> dict[str, Any]:
    """Upload the file with its type, date and title to the patient's archive."""
    session: browser.BrowserSession = ctx.state["browser"]
    page = session.page
    if not item.path.is_file():
        raise BusinessRuleError(
            f"The file {item.name} is not in the folder of the index: scan it again "
            "or correct the index",
            code="missing_file",
        )
    _open_archive(session, item.cpr)
    types: list[str] = page.locator("#doc_type option").evaluate_all(
        "options => options.map(o => o.value).filter(Boolean)"
    )
    if item.doc_type not in types:
        raise BusinessRuleError(
            f"The archive has no document type {item.doc_type!r} (it has "
            f"{', '.join(types)}): correct the index",
            code="unknown_document_type",
        )
    browser.upload(session, "File (PDF, PNG or JPEG)", item.path)
    browser.fill_form(
        session,
        {
            "Document type": item.doc_type,
            "Document date": item.doc_date,
            "Title": item.title,
        },
    )
    browser.click(session, "Upload")
    errors = page.locator(".field-error")
    if errors.count():
        raise BusinessRuleError(
            f"The archive refused {item.name}: " + "; ".join(errors.all_inner_texts())
        )
    return {"document_id": int(page.locator("#document-id").inner_text())}


def already_filed(ctx: Context, item: Document) -> dict[str, Any] | None:
    """Precheck: the document id if the patient's archive lists this document."""
    session: browser.BrowserSession = ctx.state["browser"]
    _open_archive(session, item.cpr)
    for row in _documents(session):
        if _shown(row) == _expected(item):
            return {"document_id": int(row["Id"])}
    return None


def read_back(ctx: Context, item: Document, output: dict[str, Any]) -> None:
    """Verify: the patient's archive lists the document with the index's metadata."""
    session: browser.BrowserSession = ctx.state["browser"]
    _open_archive(session, item.cpr)
    document_id = output["document_id"]
    row = {row["Id"]: row for row in _documents(session)}.get(str(document_id))
    if row is None:
        raise BusinessRuleError(f"Document {document_id} is not in the archive")
    if _shown(row) != _expected(item):
        raise BusinessRuleError(
            f"The archive holds document {document_id} as {_shown(row)}, not as the "
            f"index says {_expected(item)}: check which is right"
        )


def check_archive(ctx: Context) -> None:
    """Preflight: the test patient's archive lists documents and has the upload form.

    Uploads nothing.
    """
    session: browser.BrowserSession = ctx.state["browser"]
    check_patient_search(session)
    expect_elements(session, "the patient page", links=["Documents"])
    browser.click(session, "Documents", role="link")
    expect_columns(
        session, "the archive", "#documents", ["Id", "Date", "Type", "Title", "File"]
    )
    expect_elements(
        session,
        "the archive's upload form",
        fields=["File (PDF, PNG or JPEG)", "Document type", "Document date", "Title"],
        buttons=["Upload"],
    )


def _open_archive(session: browser.BrowserSession, cpr: str) -> None:
    open_patient(session, cpr, fix="correct the index")
    browser.click(session, "Documents", role="link")


def _documents(session: browser.BrowserSession) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = browser.read_table(
        session, "#documents", next_page=None
    )
    return rows


def _shown(row: dict[str, str]) -> tuple[str, str, str, str]:
    file_name = row["File"].rsplit(" (", 1)[0]  # "scan.pdf (0.6 kB)"
    return row["Date"], row["Type"], row["Title"], file_name


def _expected(item: Document) -> tuple[str, str, str, str]:
    return item.doc_date.isoformat(), item.doc_type, item.title.strip(), item.name


robot = Robot(
    name="document_filing",
    description="Files scanned documents in the patients' archive from an index sheet.",
    item=Document,
    source=read_index,
    reference=["cpr", "file", "title"],
    setup=open_archive,
    process=[Stage("file document", file_document)],
    precheck=already_filed,
    verify=read_back,
    preflight=check_archive,
    retry=RetryPolicy(attempts=3, backoff_s=(2, 10)),
    stop_after_system_errors=5,
    outputs=("document_id",),
    not_compared=("folder",),
)
