"""Registration of lab results, with server-side validation beside each field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from sandbox import store
from sandbox.catalog import LAB_CODES
from sandbox.forms import FieldError, parse_decimal, parse_local_datetime
from sandbox.routes.patients import find_patient
from sandbox.web import DB, User, render, sandbox_of

router = APIRouter()

_COMMENT_MAX = 500


@router.get("/patients/{patient_id}/lab-results/new")
def lab_form(request: Request, db: DB, user: User, patient_id: int) -> Response:
    """Show the empty registration form (behind a spinner)."""
    patient = find_patient(db, patient_id)
    return render(
        request,
        "lab_form.html",
        {"patient": patient, "lab_codes": LAB_CODES, "form": {}, "errors": {}},
        user=user,
    )


@router.post("/patients/{patient_id}/lab-results")
def register_lab_result(
    request: Request,
    db: DB,
    user: User,
    patient_id: int,
    code: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
    sampled_at: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Validate and save a lab result; a repeat of the same sample is refused."""
    patient = find_patient(db, patient_id)
    form = {
        "code": code,
        "value": value,
        "unit": unit,
        "sampled_at": sampled_at,
        "comment": comment,
    }
    errors, entry = check_lab_result(form)
    context: dict[str, Any] = {"patient": patient, "lab_codes": LAB_CODES, "form": form}
    if entry is None:
        context["errors"] = errors
        return render(request, "lab_form.html", context, user=user, status_code=422)
    try:
        result_id = store.add_lab_result(
            db,
            patient_id=patient_id,
            **entry,
            user=user["username"],
        )
    except store.DuplicateError as exc:
        sandbox_of(request).record_repeat(
            "lab_results", user["username"], exc.existing_id
        )
        context["errors"] = {}
        context["duplicate_id"] = exc.existing_id
        return render(request, "lab_form.html", context, user=user, status_code=409)
    return RedirectResponse(
        f"/patients/{patient_id}/lab-results/{result_id}", status_code=303
    )


@router.get("/patients/{patient_id}/lab-results/{result_id}")
def lab_confirmation(
    request: Request, db: DB, user: User, patient_id: int, result_id: int
) -> Response:
    """Confirm a registration and show its id."""
    patient = find_patient(db, patient_id)
    result = store.get_lab_result(db, result_id)
    if result is None or result["patient_id"] != patient_id:
        raise HTTPException(status_code=404, detail="No such lab result.")
    return render(
        request,
        "lab_confirmation.html",
        {"patient": patient, "result": result, "lab": LAB_CODES[result["code"]]},
        user=user,
    )


def check_lab_result(
    form: dict[str, str],
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """The EPJ's rules for a lab result: errors by field, or the entry to save.

    ``form`` holds the fields as typed (``code``, ``value``, ``unit``,
    ``sampled_at``, ``comment``); the entry has the stored values.
    """
    code, value, unit = form["code"], form["value"], form["unit"]
    sampled_at, comment = form["sampled_at"], form["comment"]
    errors: dict[str, str] = {}
    lab = LAB_CODES.get(code.strip())
    if lab is None:
        errors["code"] = "Choose a test code."
    number: float | None = None
    try:
        number = parse_decimal(value)
    except FieldError as exc:
        errors["value"] = str(exc)
    if lab is not None and number is not None and not lab.low <= number <= lab.high:
        errors["value"] = (
            f"{number:g} is outside the plausible range for {lab.code} "
            f"({lab.low:g} to {lab.high:g} {lab.unit})."
        )
    if not unit.strip():
        errors["unit"] = "Enter the unit."
    elif lab is not None and unit.strip() != lab.unit:
        errors["unit"] = f"The unit of {lab.code} is {lab.unit}."
    sampled = ""
    try:
        sampled = parse_local_datetime(sampled_at).isoformat(timespec="minutes")
    except FieldError as exc:
        errors["sampled_at"] = str(exc)
    if len(comment) > _COMMENT_MAX:
        errors["comment"] = f"The comment can be at most {_COMMENT_MAX} characters."
    if errors or lab is None or number is None or not sampled:
        return errors, None
    entry = {"code": lab.code, "value": number, "unit": lab.unit}
    return errors, entry | {"sampled_at": sampled, "comment": comment.strip()}
