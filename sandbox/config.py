"""Settings of the sandbox: its database, its realism and its fault switches.

``rpa sandbox`` builds one from its flags and their ``SANDBOX_*`` environment
variables; tests build one directly. Faults can also be changed while the sandbox
runs, through ``PUT /api/faults``, so a test can switch them without a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Faults", "SandboxConfig"]


class Faults(BaseModel):
    """Fault injection switches; all off by default."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    latency_ms: int = Field(0, ge=0, description="Added to every page request.")
    latency_jitter_ms: int = Field(
        0, ge=0, description="A random extra latency, 0 to this many milliseconds."
    )
    error_rate: float = Field(
        0.0, ge=0, le=1, description="Probability of HTTP 500 before a request runs."
    )
    error_after_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Probability of HTTP 500 after a request ran (and saved).",
    )
    expire_every: int = Field(
        0, ge=0, description="Expire the session every N page requests (0 = never)."
    )
    slow_render_ms: int = Field(
        0, ge=0, description="Pages show their content only after this long."
    )
    fail_next: dict[str, int] = Field(
        default_factory=dict,
        description="Planned failures for tests: the next N page requests whose "
        "'METHOD /path' matches the pattern (a regular expression, whole match) "
        "answer HTTP 500 before they run, e.g. {'GET /patients/\\d+': 1}.",
    )


class SandboxConfig(BaseModel):
    """How the sandbox is set up: database, seed data, realism and faults."""

    model_config = ConfigDict(extra="forbid")

    db_path: Path = Field(description="The SQLite file; created and seeded if new.")
    seed: int = Field(2026, description="Seed of the fictitious data.")
    patients: int = Field(240, ge=1, description="Number of fictitious patients.")
    history_results: int = Field(
        600, ge=0, description="Lab results seeded over the last 60 days."
    )
    session_idle_minutes: float = Field(
        15.0, gt=0, description="A session expires after this long without requests."
    )
    lockout_after: int = Field(5, ge=1, description="Failed logins before lockout.")
    lockout_minutes: float = Field(15.0, gt=0, description="How long a lockout lasts.")
    spinner_ms: int = Field(
        300, ge=0, description="Spinner time before a registration form is usable."
    )
    notice_probability: float = Field(
        0.0, ge=0, le=1, description="Probability a page opens a 'System notice'."
    )
    ui: Literal["pages", "spa"] = Field(
        "pages",
        description="What / opens: the server-rendered pages, or the single-page "
        "application (served at /spa either way).",
    )
    faults: Faults = Field(default_factory=Faults)
