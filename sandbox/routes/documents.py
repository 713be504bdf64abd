"""The document archive: upload a PDF or image with metadata, list and download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from sandbox import store
from sandbox.catalog import DOCUMENT_TYPES
from sandbox.forms import FieldError, parse_date
from sandbox.routes.patients import find_patient
from sandbox.web import DB, User, render

router = APIRouter()

MAX_BYTES = 10 * 1024 * 1024
_MAGIC = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
_TITLE_MAX = 200


@router.get("/patients/{patient_id}/documents")
def documents_page(
    request: Request, db: DB, user: User, patient_id: int, archived: int = 0
) -> Response:
    """List a patient's documents, with the upload form."""
    patient = find_patient(db, patient_id)
    return render(
        request,
        "documents.html",
        {
            "patient": patient,
            "documents": store.patient_documents(db, patient_id),
            "document_types": DOCUMENT_TYPES,
            "archived": archived,
            "form": {},
            "errors": {},
        },
        user=user,
    )


@router.post("/patients/{patient_id}/documents")
async def upload_document(
    request: Request,
    db: DB,
    user: User,
    patient_id: int,
    file: Annotated[UploadFile | None, File()] = None,
    doc_type: Annotated[str, Form()] = "",
    doc_date: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
) -> Response:
    """Validate and archive a document: PDF, PNG or JPEG, at most 10 MB."""
    patient = find_patient(db, patient_id)
    errors: dict[str, str] = {}
    content = await file.read(MAX_BYTES + 1) if file is not None else b""
    content_type = next(
        (kind for magic, kind in _MAGIC.items() if content.startswith(magic)), None
    )
    if file is None or not file.filename or not content:
        errors["file"] = "Choose a file to upload."
    elif len(content) > MAX_BYTES:
        errors["file"] = "The file is larger than 10 MB."
    elif content_type is None:
        errors["file"] = "Only PDF, PNG and JPEG files can be archived."
    if doc_type not in DOCUMENT_TYPES:
        errors["doc_type"] = "Choose a document type."
    day = ""
    try:
        day = parse_date(doc_date, what="document date").isoformat()
    except FieldError as exc:
        errors["doc_date"] = str(exc)
    if not title.strip():
        errors["title"] = "Enter a title."
    elif len(title) > _TITLE_MAX:
        errors["title"] = f"The title can be at most {_TITLE_MAX} characters."
    if errors or file is None or content_type is None:
        return render(
            request,
            "documents.html",
            {
                "patient": patient,
                "documents": store.patient_documents(db, patient_id),
                "document_types": DOCUMENT_TYPES,
                "form": {"doc_type": doc_type, "doc_date": doc_date, "title": title},
                "errors": errors,
            },
            user=user,
            status_code=422,
        )
    document_id = store.add_document(
        db,
        patient_id=patient_id,
        doc_type=doc_type,
        doc_date=day,
        title=title.strip(),
        filename=file.filename or "document",
        content_type=content_type,
        content=content,
        user=user["username"],
    )
    return RedirectResponse(
        f"/patients/{patient_id}/documents?archived={document_id}", status_code=303
    )


@router.get("/documents/{document_id}/file")
def download_document(db: DB, user: User, document_id: int) -> Response:
    """Return a document's file."""
    document = store.get_document(db, document_id)
    if document is None:
        raise HTTPException(status_code=404, detail="No such document.")
    return Response(
        document["content"],
        media_type=document["content_type"],
        headers={"Content-Disposition": f'inline; filename="document-{document_id}"'},
    )
