"""Files scanned documents in the patients' document archive, from an index sheet.

The input is a folder of scanned files (PDF, PNG or JPEG) with an index workbook
beside them: per file a row with "Fil", "CPR-nummer", "Dokumenttype", "Dokumentdato"
and "Titel". For each row: find the patient, upload the file with its metadata to
the archive, and read the archive's list back. The archive has no duplicate check:
a retried row is first looked for in the patient's archive.

Run it:  rpa run document_filing --input robots/inputs/documents/index.xlsx
"""

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from robotlib import BusinessRuleError, Context, Cpr, Robot, Row, RowError
from robotlib.steps import browser
from robotlib.steps.excel import read_rows

from ._epj import PATIENT_FIELDS, SYSTEM, check_test_patient, open_patient, saved_id

INDEX = Path(__file__).parent / "inputs" / "documents" / "index.xlsx"
COLUMNS = ["Id", "Date", "Type", "Title", "File"]
UPLOAD = "File (PDF, PNG or JPEG)"
FIX = "correct the index"


class Document(BaseModel):
    """One row of the index: one file to archive for one patient."""

    file: str = Field(alias="Fil", min_length=1)
    cpr: Cpr = Field(alias="CPR-nummer")
    doc_type: str = Field(alias="Dokumenttype")
    doc_date: date = Field(alias="Dokumentdato")
    title: str = Field(alias="Titel", min_length=1)
    folder: str = Field(default="", description="The index's folder (the source's).")

    @property
    def path(self) -> Path:
        """The file, relative to the index's folder."""
        return Path(self.folder) / self.file

    def shown(self) -> dict[str, str]:
        """The document as the archive lists it."""
        return {
            "Date": self.doc_date.isoformat(),
            "Type": self.doc_type,
            "Title": self.title.strip(),
            "File": self.path.name,
        }


def read_index(input_path: Path | None) -> Iterator[Row | RowError]:
    """The index's rows, each knowing the folder its file is in."""
    index = (input_path or INDEX).resolve()
    for row in read_rows(index, model=Document):
        if isinstance(row, Row) and isinstance(row.values, Document):
            located = row.values.model_copy(update={"folder": str(index.parent)})
            row = Row(located, row.location)
        yield row


def file_document(ctx: Context, item: Document) -> dict[str, Any]:
    """Upload the file with its type, date and title to the patient's archive."""
    if not item.path.is_file():
        raise BusinessRuleError(
            f"The file {item.path.name} is not in the folder of the index: scan it "
            "again or correct the index",
            code="missing_file",
        )
    session = _open_archive(ctx, item.cpr)
    browser.expect_option(
        session, "#doc_type", item.doc_type, what="document type", fix=FIX
    )
    browser.upload(session, UPLOAD, item.path)
    fields = {"Document type": item.doc_type, "Document date": item.doc_date}
    browser.fill_form(session, fields | {"Title": item.title})
    browser.click(session, "Upload")
    return {"document_id": saved_id(session, item.path.name, "#document-id")}


def already_filed(ctx: Context, item: Document) -> dict[str, Any] | None:
    """Precheck: the document id if the patient's archive lists this document."""
    session = _open_archive(ctx, item.cpr)
    row = browser.find_row(session, "#documents", item.shown(), cells=_cells)
    return {"document_id": int(row["Id"])} if row else None


def read_back(ctx: Context, item: Document, output: dict[str, Any]) -> None:
    """Verify: the patient's archive lists the document with the index's metadata."""
    session = _open_archive(ctx, item.cpr)
    key = {"Id": str(output["document_id"])}
    browser.expect_row(
        session, "#documents", key, item.shown(), against="the index", cells=_cells
    )


def _open_archive(ctx: Context, cpr: str) -> browser.BrowserSession:
    session = open_patient(ctx, cpr, fix=FIX)
    browser.click(session, "Documents", role="link")
    return session


def _cells(row: dict[str, str]) -> dict[str, str]:
    """The row with its file's size left out: ``scan.pdf (0.6 kB)``."""
    return row | {"File": row["File"].rsplit(" (", 1)[0]}


robot = Robot(
    name="document_filing",
    item=Document,
    source=read_index,
    reference=["cpr", "file", "title"],
    browser=browser.BrowserOptions(
        name="the archive", mask=(*PATIENT_FIELDS, "#documents")
    ),
    login=SYSTEM,
    process=file_document,
    precheck=already_filed,
    verify=read_back,
    preflight=[
        check_test_patient,
        browser.expect_page("the patient page", links=["Documents"]),
        browser.expect_page(
            "the archive",
            click="Documents",
            fields=[UPLOAD, "Document type", "Document date", "Title"],
            buttons=["Upload"],
        ),
        browser.expect_columns("#documents", COLUMNS, where="the archive"),
    ],
    outputs=("document_id",),
    not_compared=("folder",),
)
