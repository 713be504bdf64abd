"""The sandbox's SQLite database: schema, connections and fictitious seed data."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sandbox.catalog import DEPARTMENTS, LAB_CODES, Department

__all__ = ["SEED_USERS", "connect", "create", "hash_password", "reset"]

#: username -> (password, full name). Fictitious accounts of the sandbox only.
SEED_USERS: dict[str, tuple[str, str]] = {
    "robot": ("robot-pass-1", "Robot Registrering"),
    "nurse": ("nurse-pass-1", "Sygeplejerske Hansen"),
}

_SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    full_name TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until REAL
);
CREATE TABLE sessions (
    token TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    last_seen REAL NOT NULL
);
CREATE TABLE beds (
    id INTEGER PRIMARY KEY,
    department TEXT NOT NULL,
    label TEXT NOT NULL,
    UNIQUE (department, label)
);
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    cpr TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    department TEXT NOT NULL,
    bed_id INTEGER UNIQUE REFERENCES beds(id)
);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    description TEXT NOT NULL,
    done_at TEXT,
    done_by TEXT
);
CREATE TABLE lab_results (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    code TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    sampled_at TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    registered_at TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    UNIQUE (patient_id, code, sampled_at)
);
CREATE INDEX lab_results_sampled ON lab_results (sampled_at);
CREATE TABLE pro_answers (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    questionnaire TEXT NOT NULL,
    answered_on TEXT NOT NULL,
    answers TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    UNIQUE (patient_id, questionnaire, answered_on)
);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    doc_type TEXT NOT NULL,
    doc_date TEXT NOT NULL,
    title TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content BLOB NOT NULL,
    uploaded_at TEXT NOT NULL,
    uploaded_by TEXT NOT NULL
);
CREATE TABLE board_changes (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    patient_id INTEGER NOT NULL,
    task_id INTEGER,
    bed_id INTEGER,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL
);
"""

_FIRST_NAMES = (
    "Anna", "Mette", "Kirsten", "Hanne", "Helle", "Susanne", "Lene", "Maria", "Camilla",
    "Ida", "Emma", "Sofie", "Peter", "Jens", "Lars", "Michael", "Henrik", "Thomas",
    "Søren", "Jan", "Niels", "Rasmus", "Mikkel", "Frederik", "Oliver", "William",
    "Karen", "Inge", "Bent", "Poul", "Aksel", "Freja", "Astrid", "Mads", "Jørgen",
)  # fmt: skip
_LAST_NAMES = (
    "Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen",
    "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen",
    "Thomsen", "Christiansen", "Poulsen", "Johansen", "Møller", "Mortensen",
    "Østergaard",
)  # fmt: skip
_TASKS = (
    "Blodprøver", "Medicingennemgang", "Tilsyn af læge", "Mobilisering",
    "Udskrivningssamtale", "Sårpleje", "Ernæringsscreening", "Røntgen af thorax",
)  # fmt: skip


def hash_password(password: str, *, salt: str) -> str:
    """Return the PBKDF2 hash the sandbox stores for a password."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 50_000)
    return f"{salt}${digest.hex()}"


def connect(path: Path) -> sqlite3.Connection:
    """Open the database in autocommit mode, with rows as mappings and a lock wait."""
    connection = sqlite3.connect(
        path, timeout=30, check_same_thread=False, isolation_level=None
    )
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def create(path: Path, *, seed: int, patients: int, history_results: int) -> None:
    """Create and seed the database at ``path`` unless it holds the schema already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(path)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'"
        ).fetchone()
        if exists is None:
            _rebuild(db, seed=seed, patients=patients, history_results=history_results)
    finally:
        db.close()


def reset(path: Path, *, seed: int, patients: int, history_results: int) -> None:
    """Drop all data and seed the database afresh (while the server keeps running)."""
    db = connect(path)
    try:
        _rebuild(db, seed=seed, patients=patients, history_results=history_results)
    finally:
        db.close()


def _rebuild(
    db: sqlite3.Connection, *, seed: int, patients: int, history_results: int
) -> None:
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("BEGIN IMMEDIATE")
    try:
        tables = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for (table,) in tables:
            db.execute(f'DROP TABLE "{table}"')
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        _seed(db, random.Random(seed), patients, history_results)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    db.execute("PRAGMA foreign_keys = ON")


def _seed(
    db: sqlite3.Connection, rng: random.Random, patients: int, history_results: int
) -> None:
    for username, (password, full_name) in SEED_USERS.items():
        db.execute(
            "INSERT INTO users (username, password_hash, full_name) VALUES (?, ?, ?)",
            (username, hash_password(password, salt=username), full_name),
        )
    free_beds = {code: _seed_beds(db, dept) for code, dept in DEPARTMENTS.items()}
    cprs: set[str] = set()
    for _ in range(patients):
        cpr = _fictitious_cpr(rng, cprs)
        department = rng.choice(list(DEPARTMENTS))
        beds = free_beds[department]
        bed_id = (
            beds.pop(rng.randrange(len(beds))) if beds and rng.random() < 0.6 else None
        )
        patient_id = db.execute(
            "INSERT INTO patients (cpr, first_name, last_name, department, bed_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                cpr,
                rng.choice(_FIRST_NAMES),
                rng.choice(_LAST_NAMES),
                department,
                bed_id,
            ),
        ).lastrowid
        for task in rng.sample(_TASKS, rng.randint(0, 3)):
            db.execute(
                "INSERT INTO tasks (patient_id, description) VALUES (?, ?)",
                (patient_id, task),
            )
    _seed_history(db, rng, patients, history_results)


def _seed_beds(db: sqlite3.Connection, department: Department) -> list[int]:
    ids = []
    for number in range(1, department.beds + 1):
        cursor = db.execute(
            "INSERT INTO beds (department, label) VALUES (?, ?)",
            (department.code, f"{department.code}-{number:02d}"),
        )
        ids.append(int(cursor.lastrowid or 0))
    return ids


def _seed_history(
    db: sqlite3.Connection, rng: random.Random, patients: int, count: int
) -> None:
    today = datetime.now(UTC).date()
    codes = list(LAB_CODES.values())
    for _ in range(count):
        lab = rng.choice(codes)
        day = today - timedelta(days=rng.randint(1, 60))
        hour, minute = rng.randint(6, 21), rng.choice((0, 15, 30, 45))
        sampled = f"{day.isoformat()}T{hour:02d}:{minute:02d}"
        value = round(rng.uniform(lab.low, lab.low + (lab.high - lab.low) / 5), 2)
        db.execute(
            "INSERT OR IGNORE INTO lab_results (patient_id, code, value, unit,"
            " sampled_at, registered_at, registered_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rng.randint(1, patients), lab.code, value, lab.unit, sampled,
             f"{day.isoformat()}T23:00:00+00:00", "lab-import"),
        )  # fmt: skip


def _fictitious_cpr(rng: random.Random, taken: set[str]) -> str:
    """Return a well-formed CPR number not in ``taken``: a real date and serial."""
    while True:
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(365 * 94))
        if born.year < 2000:
            first = (
                rng.choice((0, 1, 2, 3)) if born.year < 1937 else rng.choice((0, 4, 9))
            )
        else:
            first = rng.choice((4, 9)) if born.year <= 2036 else 5
        serial = first * 1000 + rng.randrange(1000)
        cpr = f"{born:%d%m%y}-{serial:04d}"
        if cpr not in taken:
            taken.add(cpr)
            return cpr
