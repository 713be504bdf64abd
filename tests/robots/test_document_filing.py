"""The document_filing robot files exactly the right documents in the sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from robotlib import ApplicationError, Context, RetryPolicy, Stage
from robotlib.pytest_plugin import Sandbox
from robotlib.testing import ItemState, load_robot

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).resolve().parents[2]
ROBOTS = PROJECT / "robots"
FOLDER = ROBOTS / "inputs" / "documents"
FILED = {
    ("161275-0014", "Henvisning", "2026-11-18", "Henvisning fra egen læge",
     "henvisning-0001.pdf"),
    ("130440-0240", "Epikrise", "2026-11-20", "Epikrise fra kardiologisk afdeling",
     "epikrise-0002.pdf"),
    ("090968-9473", "Samtykkeerklæring", "2026-11-19", "Samtykke til operation",
     "samtykke-0003.pdf"),
}  # fmt: skip


def _filed(run: Any, rpa_sandbox: Sandbox) -> list[tuple[str, str, str, str, str]]:
    """The robot's documents, sorted: a document filed twice shows twice."""
    return sorted(
        (d["cpr"], d["doc_type"], d["doc_date"], d["title"], d["filename"])
        for d in rpa_sandbox.api("/documents?registered_by=robot")
    )


def test_documents_exceptions_and_sizes(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """Good rows are filed once with their files; bad ones carry a reason to act on."""
    run = run_robot("document_filing")
    assert 0 == run.result.exit_code, run.result.note

    assert sorted(FILED) == _filed(run, rpa_sandbox)
    sizes = {d["filename"]: d["size"] for d in rpa_sandbox.api("/documents")}
    assert {name: (FOLDER / name).stat().st_size for *_, name in FILED} == sizes

    items = run.backend.items("document_filing")
    assert 7 == len(items)  # eight rows, one of them twice
    by_file = {item.payload["file"]: item for item in items}
    done = {f for f, i in by_file.items() if i.state is ItemState.DONE}
    assert {name for *_, name in FILED} == done
    documents = {d["filename"]: d["id"] for d in rpa_sandbox.api("/documents")}
    assert documents == {f: by_file[f].output["document_id"] for f in done}
    reasons = {
        file: item.error_message or ""
        for file, item in by_file.items()
        if item.state is ItemState.BUSINESS_EXCEPTION
    }
    assert 4 == len(reasons)
    assert (
        "The file scanning-0004.pdf is not in the folder of the index: scan it "
        "again or correct the index" == reasons["scanning-0004.pdf"]
    )
    assert "No patient found with that CPR number." in reasons["henvisning-0005.pdf"]
    assert (
        "The archive has no document type 'Røntgenbillede' (it has Henvisning, "
        "Epikrise, Samtykkeerklæring, Laboratoriesvar, Korrespondance, Andet): "
        "correct the index" == reasons["roentgen-0006.pdf"]
    )
    assert (
        "The archive refused notat-0007.txt: Only PDF, PNG and JPEG files can be "
        "archived." == reasons["notat-0007.txt"]
    )


def test_second_run_files_nothing_more(
    run_robot: Callable[..., Any], tmp_path: Path, rpa_sandbox: Sandbox
) -> None:
    """The same index again, even from another folder, adds no item and no document."""
    run_robot("document_filing")
    filed = rpa_sandbox.api("/documents")
    copy = shutil.copytree(FOLDER, tmp_path / "scans")
    second = run_robot("document_filing", input=copy / "index.xlsx")
    assert (0, 0) == (second.result.exit_code, second.result.loaded.added)
    assert filed == rpa_sandbox.api("/documents")


def test_precheck_finds_a_document_uploaded_before_a_system_exception(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """A row whose upload went through before a system exception is filed once."""
    real = load_robot("document_filing", project_dir=PROJECT).process[0]
    calls: list[str] = []

    def upload_then_fail(ctx: Context, item: Any) -> Any:
        output = real.run(ctx, item)
        calls.append(item.file)
        if len(calls) == 1:
            raise ApplicationError("the archive did not answer after the upload")
        return output

    run = run_robot(
        "document_filing",
        process=(Stage(real.name, upload_then_fail),),
        retry=RetryPolicy(attempts=3, backoff_s=(0,)),
    )
    assert 0 == run.result.exit_code, run.result.note

    assert sorted(FILED) == _filed(run, rpa_sandbox)
    first = calls[0]
    [item] = [
        i for i in run.backend.items("document_filing") if i.payload["file"] == first
    ]
    assert (ItemState.DONE, 2) == (item.state, item.attempts)
    [document] = [d for d in rpa_sandbox.api("/documents") if d["filename"] == first]
    assert {"document_id": document["id"]} == item.output
    notes = [entry.note for entry in run.backend.history(item.id)]
    assert "done already (precheck)" in notes
