"""The JSON API for tests: what was registered, faults, reset. Robots never use it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sandbox import database, store
from sandbox.config import Faults
from sandbox.web import DB, sandbox_of

router = APIRouter(prefix="/api", tags=["test API"])


@router.get("/health")
def health() -> dict[str, str]:
    """Answer when the sandbox is up."""
    return {"status": "ok"}


@router.get("/patients")
def patients(db: DB, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """List patients (with CPR numbers, beds and departments)."""
    return [dict(row) for row in store.list_patients(db, limit=limit, offset=offset)]


@router.get("/lab-results")
def lab_results(
    db: DB, cpr: str | None = None, registered_by: str | None = None
) -> list[dict[str, Any]]:
    """List lab results, optionally of one patient or one user."""
    return store.export(db, "lab_results", cpr=cpr, registered_by=registered_by)


@router.get("/questionnaires")
def questionnaires(
    db: DB, cpr: str | None = None, registered_by: str | None = None
) -> list[dict[str, Any]]:
    """List PRO answers."""
    return store.export(db, "questionnaires", cpr=cpr, registered_by=registered_by)


@router.get("/documents")
def documents(
    db: DB, cpr: str | None = None, registered_by: str | None = None
) -> list[dict[str, Any]]:
    """List archived documents (without their content)."""
    return store.export(db, "documents", cpr=cpr, registered_by=registered_by)


@router.get("/board-changes")
def board_changes(
    db: DB, cpr: str | None = None, registered_by: str | None = None
) -> list[dict[str, Any]]:
    """List the changes made on the department board."""
    return store.export(db, "board_changes", cpr=cpr, registered_by=registered_by)


@router.get("/counts")
def counts(db: DB, registered_by: str | None = None) -> dict[str, int]:
    """Count each kind of registration."""
    kinds = ("lab_results", "questionnaires", "documents", "board_changes")
    return {
        kind: len(store.export(db, kind, cpr=None, registered_by=registered_by))
        for kind in kinds
    }


@router.get("/repeats")
def repeats(request: Request) -> list[dict[str, Any]]:
    """Registrations refused because they were there already, since the last reset.

    The sandbox refuses a second lab result for the same patient, code and sample
    time; a real EPJ may not. Each entry is where a robot would have registered
    something twice: ``kind``, ``by`` (the user) and ``existing_id``.
    """
    return list(sandbox_of(request).repeats)


@router.post("/reset")
def reset(request: Request) -> dict[str, str]:
    """Drop everything, seed afresh, and restore the faults the sandbox started with."""
    sandbox = sandbox_of(request)
    config = sandbox.config
    database.reset(
        config.db_path,
        seed=config.seed,
        patients=config.patients,
        history_results=config.history_results,
    )
    sandbox.set_faults(config.faults.model_copy())
    sandbox.repeats.clear()
    return {"status": "reset"}


@router.get("/faults")
def get_faults(request: Request) -> Faults:
    """Return the fault switches in force."""
    return sandbox_of(request).faults


@router.put("/faults")
def set_faults(request: Request, faults: Faults) -> Faults:
    """Replace the fault switches."""
    sandbox_of(request).set_faults(faults)
    return faults
