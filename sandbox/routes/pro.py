"""Registration of PRO questionnaire answers (each question answered 0-4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sandbox import store
from sandbox.catalog import QUESTIONNAIRES
from sandbox.forms import FieldError, parse_date
from sandbox.routes.patients import find_patient
from sandbox.web import DB, User, render, sandbox_of

router = APIRouter()


@router.get("/patients/{patient_id}/questionnaires/new")
def pro_form(
    request: Request, db: DB, user: User, patient_id: int, questionnaire: str = ""
) -> Response:
    """Show the questionnaire picker, then the chosen questionnaire's questions."""
    patient = find_patient(db, patient_id)
    chosen = QUESTIONNAIRES.get(questionnaire)
    return render(
        request,
        "pro_form.html",
        {
            "patient": patient,
            "questionnaires": QUESTIONNAIRES,
            "chosen": chosen,
            "form": {},
            "errors": {},
        },
        user=user,
    )


@router.post("/patients/{patient_id}/questionnaires")
async def register_pro(
    request: Request, db: DB, user: User, patient_id: int
) -> Response:
    """Validate and save a questionnaire's answers; one per patient, type and day."""
    patient = find_patient(db, patient_id)
    form = {key: str(value) for key, value in (await request.form()).items()}
    chosen = QUESTIONNAIRES.get(form.get("questionnaire", ""))
    errors: dict[str, str] = {}
    if chosen is None:
        errors["questionnaire"] = "Choose a questionnaire."
    answers: list[int] = []
    for number in range(1, len(chosen.questions) + 1 if chosen else 1):
        raw = form.get(f"q{number}", "").strip()
        if raw not in {"0", "1", "2", "3", "4"}:
            errors[f"q{number}"] = "Answer with 0, 1, 2, 3 or 4."
        else:
            answers.append(int(raw))
    answered_on = ""
    try:
        answered_on = parse_date(
            form.get("answered_on", ""), what="answer date"
        ).isoformat()
    except FieldError as exc:
        errors["answered_on"] = str(exc)
    context: dict[str, Any] = {
        "patient": patient,
        "questionnaires": QUESTIONNAIRES,
        "chosen": chosen,
        "form": form,
        "errors": errors,
    }
    if errors or chosen is None:
        return render(request, "pro_form.html", context, user=user, status_code=422)
    try:
        answer_id = store.add_pro_answers(
            db,
            patient_id=patient_id,
            questionnaire=chosen.code,
            answered_on=answered_on,
            answers=answers,
            user=user["username"],
        )
    except store.DuplicateError as exc:
        sandbox_of(request).record_repeat(
            "questionnaires", user["username"], exc.existing_id
        )
        context["duplicate_id"] = exc.existing_id
        return render(request, "pro_form.html", context, user=user, status_code=409)
    return RedirectResponse(
        f"/patients/{patient_id}?registered=questionnaire&id={answer_id}",
        status_code=303,
    )
