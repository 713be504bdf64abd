"""The EPJ as a single-page application: its page at /spa and its JSON API.

The same patients, rules and registrations as the server-rendered pages, behind
what a hospital's JavaScript web clients do (see ``static/spa/app.js``): a bearer
token kept in localStorage, a menu fetched after start, a search that answers
slowly, form defaults fetched after the form is shown, refusals as JSON that
the client turns into modal dialogs, and the archive's document viewer in an
iframe (a page of its own, opened with a ticket in its URL: an iframe sends no
bearer token). The fault switches apply to this API too
(only ``/api/`` and ``/static/`` are exempt).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from sandbox import store
from sandbox.catalog import DEPARTMENTS, LAB_CODES
from sandbox.forms import local_now
from sandbox.routes.lab import check_lab_result
from sandbox.web import DB, render, sandbox_of

router = APIRouter(prefix="/spa")

_PAGE = Path(__file__).resolve().parents[1] / "static" / "spa" / "index.html"
_CPR = re.compile(r"(\d{6})-?(\d{4})")
#: How long the API takes where a real client's backend is slow: a search, and the
#: form's defaults (long enough that typing into the form before they come is lost).
SEARCH_DELAY_S = 0.3
DEFAULTS_DELAY_S = 0.4
#: How long the document viewer takes to open (its iframe is there before it).
VIEWER_DELAY_S = 0.3
_TICKET_KEY = secrets.token_bytes(16)
_ZOOMS = (("Fit", 0.5), ("100 %", 1), ("200 %", 2))


@router.get("", include_in_schema=False)
def page() -> FileResponse:
    """The application's one page; everything else is routed by its hash."""
    return FileResponse(_PAGE, headers={"Cache-Control": "no-store"})


class Login(BaseModel):
    username: str = ""
    password: str = ""


@router.post("/api/login")
def login(request: Request, db: DB, body: Login) -> Response:
    """A bearer token for the user, or 401 with the reason; locks as /login does."""
    config = sandbox_of(request).config
    user = store.find_user(db, body.username.strip())
    locked = f"The account is locked for {config.lockout_minutes:g} minutes."
    if user is not None and (user["locked_until"] or 0) > time.time():
        return JSONResponse({"error": locked}, 401)
    if user is not None and store.check_password(user, body.password):
        token = store.open_session(db, user)
        return JSONResponse({"token": token, "user": user["username"]})
    if user is not None and store.record_failed_login(
        db,
        user,
        lockout_after=config.lockout_after,
        lockout_s=config.lockout_minutes * 60,
    ):
        return JSONResponse({"error": locked}, 401)
    return JSONResponse({"error": "Wrong user name or password."}, 401)


def api_user(
    request: Request, db: DB, authorization: Annotated[str, Header()] = ""
) -> sqlite3.Row:
    """The user of the request's bearer token; 401 when missing or expired."""
    sandbox = sandbox_of(request)
    token = authorization.removeprefix("Bearer ").strip()
    idle_s = sandbox.config.session_idle_minutes * 60
    user = store.touch_session(db, token, idle_s=idle_s) if token else None
    if user is not None and sandbox.count_session_request():
        store.close_session(db, token)
        user = None
    if user is None:
        raise HTTPException(401, detail="Your session has ended. Log in again.")
    return user


ApiUser = Annotated[sqlite3.Row, Depends(api_user)]


@router.get("/api/menu")
async def menu(user: ApiUser) -> list[dict[str, Any]]:
    """The menu tree: top entries, each with its children (loaded after start)."""
    await asyncio.sleep(0.15)
    return [
        {"label": "Patients", "children": [{"label": "Find patient", "route": "#/"}]},
        {
            "label": "Departments",
            "children": [
                {"label": d.name, "route": "#/"} for d in DEPARTMENTS.values()
            ],
        },
    ]


@router.get("/api/patients")
async def search(db: DB, user: ApiUser, cpr: str = "") -> Response:
    """Patients whose CPR number matches, after a while (the list it replaces stays)."""
    await asyncio.sleep(SEARCH_DELAY_S)
    match = _CPR.fullmatch(cpr.strip())
    if match is None:
        return JSONResponse({"error": "Enter a CPR number as DDMMYY-SSSS."}, 422)
    patient = store.find_patient_by_cpr(db, f"{match[1]}-{match[2]}")
    hits = [] if patient is None else [_patient(patient)]
    return JSONResponse({"hits": len(hits), "patients": hits})


@router.get("/api/patients/{patient_id}")
def patient(db: DB, user: ApiUser, patient_id: int) -> dict[str, Any]:
    """A patient with their lab results, newest sample first."""
    found = _find(db, patient_id)
    results = [
        {
            "id": r["id"],
            "sampled_at": r["sampled_at"].replace("T", " "),
            "code": r["code"],
            "test": LAB_CODES[r["code"]].name,
            "value": f"{r['value']:g}".replace(".", ","),
            "unit": r["unit"],
            "comment": r["comment"],
        }
        for r in store.patient_lab_results(db, patient_id)
    ]
    documents = [
        {
            "id": d["id"],
            "title": d["title"],
            "type": d["doc_type"],
            "date": d["doc_date"],
            "viewer": f"/spa/viewer/{d['id']}?ticket={_ticket(d['id'])}",
        }
        for d in store.patient_documents(db, patient_id)
    ]
    return _patient(found) | {"lab_results": results, "documents": documents}


@router.get("/api/lab-results/form")
async def lab_form(user: ApiUser) -> dict[str, Any]:
    """The form's options and defaults; the options' values are JSON, not codes."""
    await asyncio.sleep(DEFAULTS_DELAY_S)
    codes = [
        {"label": f"{lab.code} {lab.name}", "value": _option_value(lab.code)}
        for lab in LAB_CODES.values()
    ]
    now = local_now().replace(second=0, microsecond=0).isoformat(timespec="minutes")
    return {"codes": codes, "defaults": {"sampled_at": now, "comment": ""}}


class LabEntry(BaseModel):
    code: str = ""  # the chosen option's value: {"code": "NPU02319", ...}
    value: str = ""
    unit: str = ""
    sampled_at: str = ""
    comment: str = ""


@router.post("/api/patients/{patient_id}/lab-results")
def register(
    request: Request, db: DB, user: ApiUser, patient_id: int, body: LabEntry
) -> Response:
    """Save a result: 201 with its id, 422 with errors by field, 409 if there."""
    _find(db, patient_id)
    form = body.model_dump() | {"code": _code_of(body.code)}
    errors, entry = check_lab_result(form)
    if entry is None:
        return JSONResponse({"errors": errors}, 422)
    try:
        result_id = store.add_lab_result(
            db, patient_id=patient_id, **entry, user=user["username"]
        )
    except store.DuplicateError as exc:
        sandbox_of(request).record_repeat(
            "lab_results", user["username"], exc.existing_id
        )
        return JSONResponse({"duplicate_id": exc.existing_id}, 409)
    return JSONResponse({"id": result_id}, 201)


@router.get("/viewer/{document_id}", include_in_schema=False)
async def viewer(
    request: Request, db: DB, document_id: int, ticket: str = ""
) -> HTMLResponse:
    """The document viewer the client shows in an iframe, after a while."""
    await asyncio.sleep(VIEWER_DELAY_S)
    document = _document(db, document_id, ticket)
    context = {
        "document": document,
        "size": len(document["content"]),
        "image": document["content_type"].startswith("image/"),
        "zooms": _ZOOMS,
        "file_url": f"/spa/viewer/{document_id}/file?ticket={ticket}",
    }
    return render(request, "spa_viewer.html", context)


@router.get("/viewer/{document_id}/file", include_in_schema=False)
def viewer_file(db: DB, document_id: int, ticket: str = "") -> Response:
    """The viewed document's file, as a download."""
    document = _document(db, document_id, ticket)
    extension = {"application/pdf": "pdf", "image/png": "png"}.get(
        document["content_type"], "jpg"
    )
    name = f"document-{document_id}.{extension}"
    return Response(
        document["content"],
        media_type=document["content_type"],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _ticket(document_id: int) -> str:
    """What opens one document in the viewer (the client gets it with the patient)."""
    digest = hmac.new(_TICKET_KEY, str(document_id).encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def _document(db: sqlite3.Connection, document_id: int, ticket: str) -> sqlite3.Row:
    if not hmac.compare_digest(ticket, _ticket(document_id)):
        raise HTTPException(403, detail="This viewer link is not valid.")
    document = store.get_document(db, document_id)
    if document is None:
        raise HTTPException(404, detail="No such document.")
    return document


def _option_value(code: str) -> str:
    return json.dumps({"code": code, "v": 1}, separators=(",", ":"))


def _code_of(value: str) -> str:
    """The code in an option's JSON value; anything else stays as sent."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return str(decoded.get("code", "")) if isinstance(decoded, dict) else value


def _find(db: sqlite3.Connection, patient_id: int) -> sqlite3.Row:
    found = store.get_patient(db, patient_id)
    if found is None:
        raise HTTPException(404, detail="No such patient.")
    return found


def _patient(row: sqlite3.Row) -> dict[str, Any]:
    name = DEPARTMENTS[row["department"]].name
    return {
        "id": row["id"],
        "cpr": row["cpr"],
        "name": f"{row['first_name']} {row['last_name']}",
        "department": name,
    }
