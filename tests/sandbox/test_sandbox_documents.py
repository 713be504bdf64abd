"""The document archive: uploads of PDF and images, their refusals and downloads."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from html import unescape
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from sandbox.catalog import DOCUMENT_TYPES
from sandbox.forms import local_now
from sandbox.testing import field_errors

PATIENT = 1
URL = f"/patients/{PATIENT}/documents"
TEN_MB = 10 * 1024 * 1024
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(32))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(32))


def _fields(**changes: str) -> dict[str, str]:
    fields = {
        "doc_type": "Epikrise",
        "doc_date": (local_now().date() - timedelta(days=3)).isoformat(),
        "title": "Epikrise fra medicinsk afdeling",
    }
    fields.update(changes)
    return fields


def _upload(
    client: TestClient,
    content: bytes | None = PDF,
    filename: str = "epikrise.pdf",
    **changes: str,
) -> httpx.Response:
    # The browser's content type is deliberately wrong: the sandbox reads the bytes.
    files = None if content is None else {"file": (filename, content, "text/plain")}
    return client.post(
        URL, data=_fields(**changes), files=files, follow_redirects=False
    )


def _stored(client: TestClient) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = client.get("/api/documents").json()
    return documents


def _archived_id(response: httpx.Response) -> int:
    match = re.fullmatch(rf"{URL}\?archived=(\d+)", response.headers["location"])
    assert match is not None
    return int(match[1])


def test_archive_page_shows_the_upload_form(client: TestClient) -> None:
    """The archive page lists no documents yet and offers every document type."""
    response = client.get(URL)
    assert 200 == response.status_code
    assert "No documents." in response.text
    assert list(DOCUMENT_TYPES) == re.findall(
        r"<option >([^<]*)</option>", unescape(response.text)
    )


@pytest.mark.parametrize(
    ("content", "filename", "content_type"),
    [
        (PDF, "epikrise.pdf", "application/pdf"),
        (PNG, "scanning.png", "image/png"),
        (JPEG, "foto.jpg", "image/jpeg"),
    ],
    ids=["pdf", "png", "jpeg"],
)
def test_upload_is_archived_listed_and_downloadable(
    client: TestClient, content: bytes, filename: str, content_type: str
) -> None:
    """A PDF, PNG or JPEG is archived (303), listed, and downloads byte for byte."""
    response = _upload(client, content, filename)
    assert 303 == response.status_code
    document_id = _archived_id(response)
    page = client.get(response.headers["location"])
    assert f'<span id="document-id">{document_id}</span>' in page.text
    link = f'<a href="/documents/{document_id}/file">{filename}</a>'
    assert link in page.text
    assert "Epikrise fra medicinsk afdeling" in page.text
    download = client.get(f"/documents/{document_id}/file")
    assert 200 == download.status_code
    assert content == download.content
    assert content_type == download.headers["content-type"]


def test_upload_is_stored_with_its_metadata(client: TestClient) -> None:
    """The test API lists the document's type, date, stripped title, file and user."""
    fields = _fields(title="  Samtykke  ", doc_type="Samtykkeerklæring")
    document_id = _archived_id(_upload(client, PDF, "samtykke.pdf", **fields))
    [stored] = _stored(client)
    expected = {
        "id": document_id,
        "patient_id": PATIENT,
        "doc_type": "Samtykkeerklæring",
        "doc_date": fields["doc_date"],
        "title": "Samtykke",
        "filename": "samtykke.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "uploaded_by": "robot",
    }
    assert expected == {key: stored[key] for key in expected}


def test_patient_page_counts_the_documents(client: TestClient) -> None:
    """The patient page counts the archived documents."""
    _upload(client, PDF)
    _upload(client, PNG, "b.png")
    page = client.get(f"/patients/{PATIENT}")
    assert "2 document(s) in the archive." in page.text


def test_file_of_exactly_10_mb_is_accepted(client: TestClient) -> None:
    """A file of exactly 10 MB is archived."""
    content = PDF + b"0" * (TEN_MB - len(PDF))
    response = _upload(client, content)
    assert 303 == response.status_code
    assert [TEN_MB] == [d["size"] for d in _stored(client)]


@pytest.mark.parametrize(
    ("content", "filename", "expected"),
    [
        (None, "", {"file": "Choose a file to upload."}),
        (b"", "", {"file": "Choose a file to upload."}),
        (b"", "tom.pdf", {"file": "Choose a file to upload."}),
        (
            b"Just some text\n",
            "note.txt",
            {"file": "Only PDF, PNG and JPEG files can be archived."},
        ),
        (
            b"plain text pretending to be a PDF",
            "fake.pdf",
            {"file": "Only PDF, PNG and JPEG files can be archived."},
        ),
        (
            PDF + b"0" * (TEN_MB + 1 - len(PDF)),
            "big.pdf",
            {"file": "The file is larger than 10 MB."},
        ),
    ],
    ids=["no-file", "empty-no-name", "empty", "text", "text-named-pdf", "too-big"],
)
def test_bad_file_is_refused(
    client: TestClient,
    content: bytes | None,
    filename: str,
    expected: dict[str, str],
) -> None:
    """A missing, empty, non-PDF/image or over-10-MB file answers 422, not stored."""
    response = _upload(client, content, filename)
    assert 422 == response.status_code
    assert expected == field_errors(response.text)
    assert [] == _stored(client)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": ""}, {"title": "Enter a title."}),
        ({"title": "   "}, {"title": "Enter a title."}),
        ({"title": "x" * 201}, {"title": "The title can be at most 200 characters."}),
        ({"doc_type": ""}, {"doc_type": "Choose a document type."}),
        ({"doc_type": "Recept"}, {"doc_type": "Choose a document type."}),
        ({"doc_type": "epikrise"}, {"doc_type": "Choose a document type."}),
        ({"doc_date": ""}, {"doc_date": "Enter the document date."}),
        (
            {"doc_date": "22.11.2026"},
            {"doc_date": "Enter the document date as YYYY-MM-DD."},
        ),
        (
            {"doc_date": "2026-13-01"},
            {"doc_date": "Enter the document date as YYYY-MM-DD."},
        ),
    ],
)
def test_bad_field_is_refused(
    client: TestClient, changes: dict[str, str], expected: dict[str, str]
) -> None:
    """A bad title, document type or date answers 422 beside the field, not stored."""
    response = _upload(client, **changes)
    assert 422 == response.status_code
    assert expected == field_errors(response.text)
    assert "The document was not archived." in response.text
    assert [] == _stored(client)


def test_future_date_is_refused(client: TestClient) -> None:
    """A document date after today answers 422 with the future message."""
    tomorrow = (local_now().date() + timedelta(days=1)).isoformat()
    response = _upload(client, doc_date=tomorrow)
    assert 422 == response.status_code
    expected = {"doc_date": "The document date cannot be in the future."}
    assert expected == field_errors(response.text)
    assert [] == _stored(client)


def test_title_of_200_characters_is_accepted(client: TestClient) -> None:
    """A title of exactly 200 characters is accepted."""
    response = _upload(client, title="x" * 200)
    assert 303 == response.status_code


def test_every_error_is_shown_at_once(client: TestClient) -> None:
    """A form wrong in every field shows all four messages together."""
    response = _upload(client, b"text", "a.txt", doc_type="", doc_date="", title="")
    assert 422 == response.status_code
    expected = {"file", "doc_type", "doc_date", "title"}
    assert expected == set(field_errors(response.text))


def test_refused_form_keeps_the_metadata(client: TestClient) -> None:
    """A refused upload keeps the type, date and title entered."""
    fields = _fields()
    response = _upload(client, b"text", "a.txt")
    assert "<option selected>Epikrise</option>" in response.text
    assert f'value="{fields["doc_date"]}"' in response.text
    assert 'value="Epikrise fra medicinsk afdeling"' in response.text


def test_unknown_document_is_a_404(client: TestClient) -> None:
    """Downloading an unknown document answers 404."""
    response = client.get("/documents/999999/file")
    assert 404 == response.status_code


def test_unknown_patient_is_a_404(client: TestClient) -> None:
    """Uploading for an unknown patient answers 404 and stores nothing."""
    response = client.post(
        "/patients/999999/documents",
        data=_fields(),
        files={"file": ("a.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert 404 == response.status_code
    assert [] == _stored(client)


def test_download_needs_a_login(make_client: Callable[..., TestClient]) -> None:
    """An anonymous download is sent to the login page."""
    client = make_client()
    document_id = _archived_id(_upload(client))
    client.post("/logout")
    response = client.get(f"/documents/{document_id}/file", follow_redirects=False)
    assert 303 == response.status_code
    assert response.headers["location"].startswith("/login?next=")
