"""Reads and writes of the sandbox's data: the only module with SQL but the schema."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sandbox.database import hash_password

__all__ = [
    "DuplicateError",
    "WorklistFilter",
]

Row = sqlite3.Row


class DuplicateError(Exception):
    """The same registration exists already; ``existing_id`` is its id."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"already registered (id {existing_id})")
        self.existing_id = existing_id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# Users and sessions --------------------------------------------------------------


def find_user(db: sqlite3.Connection, username: str) -> Row | None:
    """Return the user called ``username``."""
    row: Row | None = db.execute(
        "SELECT * FROM users WHERE username = ?", (username,)
    ).fetchone()
    return row


def check_password(user: Row, password: str) -> bool:
    """Return whether ``password`` is the user's password."""
    expected = hash_password(password, salt=user["username"])
    return secrets.compare_digest(expected, user["password_hash"])


def record_failed_login(
    db: sqlite3.Connection, user: Row, *, lockout_after: int, lockout_s: float
) -> bool:
    """Count a failed login; lock the account at the limit. Returns whether locked."""
    now = time.time()
    lockout_over = user["locked_until"] is not None and user["locked_until"] <= now
    attempts = (0 if lockout_over else user["failed_attempts"]) + 1
    locked_until = now + lockout_s if attempts >= lockout_after else None
    db.execute(
        "UPDATE users SET failed_attempts = ?, locked_until = ? WHERE id = ?",
        (attempts, locked_until, user["id"]),
    )
    return locked_until is not None


def open_session(db: sqlite3.Connection, user: Row) -> str:
    """Reset the user's failed logins and return a new session token."""
    token = secrets.token_urlsafe(24)
    db.execute(
        "UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = ?",
        (user["id"],),
    )
    db.execute(
        "INSERT INTO sessions (token, user_id, last_seen) VALUES (?, ?, ?)",
        (token, user["id"], time.time()),
    )
    return token


def touch_session(db: sqlite3.Connection, token: str, *, idle_s: float) -> Row | None:
    """Return the session's user and mark it used; None if unknown or idle too long."""
    row: Row | None = db.execute(
        "SELECT s.last_seen, u.* FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token = ?",
        (token,),
    ).fetchone()
    if row is None:
        return None
    now = time.time()
    if now - row["last_seen"] > idle_s:
        close_session(db, token)
        return None
    db.execute("UPDATE sessions SET last_seen = ? WHERE token = ?", (now, token))
    return row


def close_session(db: sqlite3.Connection, token: str) -> None:
    """Forget a session."""
    db.execute("DELETE FROM sessions WHERE token = ?", (token,))


# Patients ------------------------------------------------------------------------


def find_patient_by_cpr(db: sqlite3.Connection, cpr: str) -> Row | None:
    """Return the patient with this CPR number (``DDMMYY-SSSS``)."""
    row: Row | None = db.execute(
        "SELECT * FROM patients WHERE cpr = ?", (cpr,)
    ).fetchone()
    return row


def get_patient(db: sqlite3.Connection, patient_id: int) -> Row | None:
    """Return a patient with their bed label."""
    row: Row | None = db.execute(
        "SELECT p.*, b.label AS bed FROM patients p LEFT JOIN beds b ON b.id = p.bed_id"
        " WHERE p.id = ?",
        (patient_id,),
    ).fetchone()
    return row


def list_patients(db: sqlite3.Connection, *, limit: int, offset: int = 0) -> list[Row]:
    """Return patients in id order."""
    return db.execute(
        "SELECT p.*, b.label AS bed FROM patients p LEFT JOIN beds b ON b.id = p.bed_id"
        " ORDER BY p.id LIMIT ? OFFSET ?",
        (limit, offset),
    ).fetchall()


# Lab results ---------------------------------------------------------------------


def add_lab_result(
    db: sqlite3.Connection,
    *,
    patient_id: int,
    code: str,
    value: float,
    unit: str,
    sampled_at: str,
    comment: str,
    user: str,
) -> int:
    """Save a lab result and return its id.

    Raises:
        DuplicateError: the patient has a result for this code and time already.
    """
    find = (
        "SELECT id FROM lab_results"
        " WHERE patient_id = ? AND code = ? AND sampled_at = ?"
    )
    return _insert_once(
        db,
        find,
        (patient_id, code, sampled_at),
        "INSERT INTO lab_results (patient_id, code, value, unit, sampled_at, comment,"
        " registered_at, registered_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, code, value, unit, sampled_at, comment, _now(), user),
    )


def get_lab_result(db: sqlite3.Connection, result_id: int) -> Row | None:
    """Return one lab result."""
    row: Row | None = db.execute(
        "SELECT * FROM lab_results WHERE id = ?", (result_id,)
    ).fetchone()
    return row


def patient_lab_results(db: sqlite3.Connection, patient_id: int) -> list[Row]:
    """Return a patient's lab results, newest sample first."""
    return db.execute(
        "SELECT * FROM lab_results WHERE patient_id = ?"
        " ORDER BY sampled_at DESC, id DESC",
        (patient_id,),
    ).fetchall()


class WorklistFilter:
    """Which lab results the worklist shows: a sample date range and a department."""

    def __init__(
        self, *, date_from: date | None, date_to: date | None, department: str | None
    ) -> None:
        self.date_from = date_from
        self.date_to = date_to
        self.department = department

    def where(self) -> tuple[str, list[Any]]:
        """Return the SQL condition and its parameters."""
        clauses, params = ["1 = 1"], []
        if self.date_from is not None:
            clauses.append("r.sampled_at >= ?")
            params.append(self.date_from.isoformat())
        if self.date_to is not None:
            clauses.append("r.sampled_at < ?")
            params.append(f"{self.date_to.isoformat()}T99")
        if self.department:
            clauses.append("p.department = ?")
            params.append(self.department)
        return " AND ".join(clauses), params


def worklist(
    db: sqlite3.Connection,
    where: WorklistFilter,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[int, list[Row]]:
    """Return the total count and one page of lab results with their patients."""
    condition, params = where.where()
    base = (
        f" FROM lab_results r JOIN patients p ON p.id = r.patient_id WHERE {condition}"
    )
    total = int(db.execute(f"SELECT COUNT(*){base}", params).fetchone()[0])
    page = " LIMIT ? OFFSET ?" if limit is not None else ""
    page_params = [limit, offset] if limit is not None else []
    rows = db.execute(
        "SELECT r.*, p.cpr, p.first_name, p.last_name, p.department"
        f"{base} ORDER BY r.sampled_at, r.id{page}",
        [*params, *page_params],
    ).fetchall()
    return total, rows


# PRO questionnaires --------------------------------------------------------------


def add_pro_answers(
    db: sqlite3.Connection,
    *,
    patient_id: int,
    questionnaire: str,
    answered_on: str,
    answers: Sequence[int],
    user: str,
) -> int:
    """Save a questionnaire's answers and return the id.

    Raises:
        DuplicateError: the patient answered this questionnaire that day already.
    """
    return _insert_once(
        db,
        "SELECT id FROM pro_answers WHERE patient_id = ? AND questionnaire = ?"
        " AND answered_on = ?",
        (patient_id, questionnaire, answered_on),
        "INSERT INTO pro_answers (patient_id, questionnaire, answered_on, answers,"
        " registered_at, registered_by) VALUES (?, ?, ?, ?, ?, ?)",
        (
            patient_id,
            questionnaire,
            answered_on,
            json.dumps(list(answers)),
            _now(),
            user,
        ),
    )


def _insert_once(
    db: sqlite3.Connection,
    find: str,
    key: Sequence[Any],
    insert: str,
    values: Sequence[Any],
) -> int:
    """Insert a row unless one with the same key exists; a race ends the same way."""
    existing = db.execute(find, key).fetchone()
    if existing is None:
        try:
            return int(db.execute(insert, values).lastrowid or 0)
        except sqlite3.IntegrityError:
            existing = db.execute(find, key).fetchone()
            if existing is None:
                raise
    raise DuplicateError(existing["id"])


def patient_pro_answers(db: sqlite3.Connection, patient_id: int) -> list[Row]:
    """Return a patient's questionnaire answers, newest first."""
    return db.execute(
        "SELECT * FROM pro_answers WHERE patient_id = ?"
        " ORDER BY answered_on DESC, id DESC",
        (patient_id,),
    ).fetchall()


# Documents -----------------------------------------------------------------------


def add_document(
    db: sqlite3.Connection,
    *,
    patient_id: int,
    doc_type: str,
    doc_date: str,
    title: str,
    filename: str,
    content_type: str,
    content: bytes,
    user: str,
) -> int:
    """Archive a document for a patient and return its id."""
    cursor = db.execute(
        "INSERT INTO documents (patient_id, doc_type, doc_date, title, filename,"
        " content_type, content, uploaded_at, uploaded_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, doc_type, doc_date, title, filename, content_type, content,
         _now(), user),
    )  # fmt: skip
    return int(cursor.lastrowid or 0)


def patient_documents(db: sqlite3.Connection, patient_id: int) -> list[Row]:
    """Return a patient's documents without their content, newest first."""
    return db.execute(
        "SELECT id, patient_id, doc_type, doc_date, title, filename, content_type,"
        " length(content) AS size, uploaded_at, uploaded_by FROM documents"
        " WHERE patient_id = ? ORDER BY doc_date DESC, id DESC",
        (patient_id,),
    ).fetchall()


def get_document(db: sqlite3.Connection, document_id: int) -> Row | None:
    """Return one document with its content."""
    row: Row | None = db.execute(
        "SELECT * FROM documents WHERE id = ?", (document_id,)
    ).fetchone()
    return row


# Department board ----------------------------------------------------------------


def board(db: sqlite3.Connection, department: str) -> tuple[list[Row], list[Row]]:
    """Return the department's beds (with patients) and its patients without a bed."""
    beds = db.execute(
        "SELECT b.id AS bed_id, b.label, p.id AS patient_id, p.cpr, p.first_name,"
        " p.last_name FROM beds b LEFT JOIN patients p ON p.bed_id = b.id"
        " WHERE b.department = ? ORDER BY b.label",
        (department,),
    ).fetchall()
    waiting = db.execute(
        "SELECT id AS patient_id, cpr, first_name, last_name FROM patients"
        " WHERE department = ? AND bed_id IS NULL ORDER BY last_name, first_name, id",
        (department,),
    ).fetchall()
    return beds, waiting


def open_tasks(db: sqlite3.Connection, department: str) -> dict[int, list[Row]]:
    """Return the open tasks of a department's patients, by patient id."""
    rows = db.execute(
        "SELECT t.* FROM tasks t JOIN patients p ON p.id = t.patient_id"
        " WHERE p.department = ? AND t.done_at IS NULL ORDER BY t.id",
        (department,),
    ).fetchall()
    tasks: dict[int, list[Row]] = {}
    for row in rows:
        tasks.setdefault(row["patient_id"], []).append(row)
    return tasks


def get_task(db: sqlite3.Connection, task_id: int) -> Row | None:
    """Return one task with its patient's department."""
    row: Row | None = db.execute(
        "SELECT t.*, p.department FROM tasks t JOIN patients p ON p.id = t.patient_id"
        " WHERE t.id = ?",
        (task_id,),
    ).fetchone()
    return row


def complete_task(db: sqlite3.Connection, task: Row, *, user: str) -> None:
    """Mark a task done and log the board change."""
    db.execute(
        "UPDATE tasks SET done_at = ?, done_by = ? WHERE id = ?",
        (_now(), user, task["id"]),
    )
    _board_change(db, "task_done", task["patient_id"], user, task_id=task["id"])


def get_bed(db: sqlite3.Connection, bed_id: int) -> Row | None:
    """Return a bed with the id of the patient in it, if any."""
    row: Row | None = db.execute(
        "SELECT b.*, p.id AS patient_id FROM beds b"
        " LEFT JOIN patients p ON p.bed_id = b.id WHERE b.id = ?",
        (bed_id,),
    ).fetchone()
    return row


def free_beds(db: sqlite3.Connection, department: str) -> list[Row]:
    """Return the department's empty beds."""
    return db.execute(
        "SELECT b.* FROM beds b WHERE b.department = ? AND NOT EXISTS"
        " (SELECT 1 FROM patients p WHERE p.bed_id = b.id) ORDER BY b.label",
        (department,),
    ).fetchall()


def assign_bed(db: sqlite3.Connection, patient: Row, bed: Row, *, user: str) -> None:
    """Move a patient into a bed (and its department) and log the board change."""
    db.execute(
        "UPDATE patients SET bed_id = ?, department = ? WHERE id = ?",
        (bed["id"], bed["department"], patient["id"]),
    )
    _board_change(db, "bed_assigned", patient["id"], user, bed_id=bed["id"])


def _board_change(
    db: sqlite3.Connection,
    kind: str,
    patient_id: int,
    user: str,
    *,
    task_id: int | None = None,
    bed_id: int | None = None,
) -> None:
    db.execute(
        "INSERT INTO board_changes (kind, patient_id, task_id, bed_id, changed_at,"
        " changed_by) VALUES (?, ?, ?, ?, ?, ?)",
        (kind, patient_id, task_id, bed_id, _now(), user),
    )


# Test API ------------------------------------------------------------------------

_API_QUERIES = {
    "lab_results": "SELECT r.*, p.cpr FROM lab_results r"
    " JOIN patients p ON p.id = r.patient_id",
    "questionnaires": "SELECT a.*, p.cpr FROM pro_answers a"
    " JOIN patients p ON p.id = a.patient_id",
    "documents": "SELECT d.id, d.patient_id, d.doc_type, d.doc_date, d.title,"
    " d.filename, d.content_type, length(d.content) AS size, d.uploaded_at,"
    " d.uploaded_by, p.cpr FROM documents d JOIN patients p ON p.id = d.patient_id",
    "board_changes": "SELECT c.*, p.cpr, b.label AS bed FROM board_changes c"
    " JOIN patients p ON p.id = c.patient_id LEFT JOIN beds b ON b.id = c.bed_id",
}


def export(
    db: sqlite3.Connection, kind: str, *, cpr: str | None, registered_by: str | None
) -> list[dict[str, Any]]:
    """Return every registration of one kind as plain dicts, for the JSON test API.

    Args:
        kind: ``lab_results``, ``questionnaires``, ``documents`` or ``board_changes``.
        cpr: only this patient's.
        registered_by: only those made by this user.
    """
    query = _API_QUERIES[kind]
    user_column = {
        "lab_results": "r.registered_by",
        "questionnaires": "a.registered_by",
        "documents": "d.uploaded_by",
        "board_changes": "c.changed_by",
    }[kind]
    clauses, params = [], []
    if cpr is not None:
        clauses.append("p.cpr = ?")
        params.append(cpr)
    if registered_by is not None:
        clauses.append(f"{user_column} = ?")
        params.append(registered_by)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.execute(f"{query}{where} ORDER BY 1", params).fetchall()
    return [dict(row) for row in rows]
