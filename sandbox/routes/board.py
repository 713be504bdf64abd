"""The department board: beds, patients waiting for a bed, and open tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from sandbox import store
from sandbox.catalog import DEPARTMENTS
from sandbox.web import DB, User, render

router = APIRouter()

_MESSAGES = {
    "task_done": "The task is marked done.",
    "bed_assigned": "The patient is assigned the bed.",
}


@router.get("/board")
def board_start() -> Response:
    """Open the first department's board."""
    return RedirectResponse(f"/board/{next(iter(DEPARTMENTS))}", status_code=303)


@router.get("/board/{department}")
def board_page(
    request: Request, db: DB, user: User, department: str, msg: str = ""
) -> Response:
    """Show a department's beds, waiting patients and open tasks."""
    return _render_board(request, db, user, department, message=_MESSAGES.get(msg))


@router.post("/board/tasks/{task_id}/done")
def complete_task(request: Request, db: DB, user: User, task_id: int) -> Response:
    """Mark a task done; doing it twice is refused."""
    task = store.get_task(db, task_id)
    if task is None:
        raise HTTPException(status_code=404, detail="No such task.")
    if task["done_at"] is not None:
        return _render_board(
            request,
            db,
            user,
            task["department"],
            error=f"The task was already done at {task['done_at']}.",
            status_code=409,
        )
    store.complete_task(db, task, user=user["username"])
    return RedirectResponse(
        f"/board/{task['department']}?msg=task_done", status_code=303
    )


@router.post("/board/patients/{patient_id}/bed")
def assign_bed(
    request: Request,
    db: DB,
    user: User,
    patient_id: int,
    bed_id: Annotated[str, Form()] = "",
) -> Response:
    """Move a patient into a free bed (a bed in another department transfers them)."""
    patient = store.get_patient(db, patient_id)
    if patient is None:
        raise HTTPException(status_code=404, detail="No such patient.")
    text = bed_id.strip()
    # isdecimal, not isdigit: int() refuses "²"; 18 digits fit SQLite's INTEGER.
    bed = store.get_bed(db, int(text)) if text.isdecimal() and len(text) <= 18 else None
    error = None
    if bed is None:
        error = "Choose a bed."
    elif bed["patient_id"] == patient_id:
        error = f"The patient is already in bed {bed['label']}."
    elif bed["patient_id"] is not None:
        error = f"Bed {bed['label']} is occupied by another patient."
    if error is not None or bed is None:
        return _render_board(
            request, db, user, patient["department"], error=error, status_code=409
        )
    store.assign_bed(db, patient, bed, user=user["username"])
    return RedirectResponse(
        f"/board/{bed['department']}?msg=bed_assigned", status_code=303
    )


def _render_board(
    request: Request,
    db: DB,
    user: store.Row,
    department: str,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    if department not in DEPARTMENTS:
        raise HTTPException(status_code=404, detail="No such department.")
    beds, waiting = store.board(db, department)
    free = {code: store.free_beds(db, code) for code in DEPARTMENTS}
    return render(
        request,
        "board.html",
        {
            "departments": DEPARTMENTS,
            "department": DEPARTMENTS[department],
            "beds": beds,
            "waiting": waiting,
            "tasks": store.open_tasks(db, department),
            "free_beds": free,
            "message": message,
            "error": error,
        },
        user=user,
        status_code=status_code,
    )
