"""Patient search by CPR number and the patient page."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from sandbox import store
from sandbox.catalog import DEPARTMENTS, LAB_CODES, QUESTIONNAIRES
from sandbox.web import DB, User, render

router = APIRouter()

_CPR = re.compile(r"(\d{6})-?(\d{4})")


@router.get("/patients/search")
def search_page(request: Request, user: User) -> Response:
    """Show the CPR search form."""
    return render(request, "search.html", user=user)


@router.post("/patients/search")
def search(
    request: Request, db: DB, user: User, cpr: Annotated[str, Form()] = ""
) -> Response:
    """Find a patient by CPR number (with or without the dash)."""
    match = _CPR.fullmatch(cpr.strip())
    if match is None:
        error = "Enter a CPR number as DDMMYY-SSSS."
    else:
        patient = store.find_patient_by_cpr(db, f"{match[1]}-{match[2]}")
        if patient is not None:
            return RedirectResponse(f"/patients/{patient['id']}", status_code=303)
        error = "No patient found with that CPR number."
    return render(
        request, "search.html", {"error": error, "cpr": cpr}, user=user, status_code=404
    )


@router.get("/patients/{patient_id}")
def patient_page(request: Request, db: DB, user: User, patient_id: int) -> Response:
    """Show a patient with lab results, questionnaires and documents."""
    patient = find_patient(db, patient_id)
    return render(
        request,
        "patient.html",
        {
            "patient": patient,
            "department": DEPARTMENTS[patient["department"]],
            "lab_results": store.patient_lab_results(db, patient_id),
            "lab_codes": LAB_CODES,
            "pro_answers": store.patient_pro_answers(db, patient_id),
            "questionnaires": QUESTIONNAIRES,
            "documents": store.patient_documents(db, patient_id),
        },
        user=user,
    )


def find_patient(db: DB, patient_id: int) -> store.Row:
    """Return the patient or answer 404."""
    patient = store.get_patient(db, patient_id)
    if patient is None:
        raise HTTPException(status_code=404, detail="No such patient.")
    return patient
