"""What every page of the sandbox shares: the database per request, the logged-in user,
and rendering with the realism switches (notice dialog, slow rendering)."""

from __future__ import annotations

import random
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from sandbox import store
from sandbox.config import Faults, SandboxConfig
from sandbox.database import connect

__all__ = ["DB", "SESSION_COOKIE", "LoginRequiredError", "Sandbox", "User", "render"]

SESSION_COOKIE = "sandbox_session"
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


class Sandbox:
    """The running sandbox's state: its config, faults and request counter."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.faults = config.faults.model_copy()
        self.random = random.Random()
        self._lock = threading.Lock()
        self._page_requests = 0
        #: Registrations refused as repeats (a guard a real EPJ may not have):
        #: where a robot would have registered something twice.
        self.repeats: list[dict[str, Any]] = []

    def record_repeat(self, kind: str, user: str, existing_id: int) -> None:
        """Remember a registration refused because it was there already."""
        with self._lock:
            self.repeats.append({"kind": kind, "by": user, "existing_id": existing_id})

    def set_faults(self, faults: Faults) -> None:
        """Switch faults; "every N requests" counts from now."""
        with self._lock:
            self.faults = faults
            self._page_requests = 0

    def count_session_request(self) -> bool:
        """Count a logged-in page request; True when it must expire the session."""
        with self._lock:
            self._page_requests += 1
            every = self.faults.expire_every
            return every > 0 and self._page_requests % every == 0

    def take_planned_failure(self, method: str, path: str) -> bool:
        """Use up a planned failure matching ``METHOD /path``; True if one was due."""
        with self._lock:
            planned = self.faults.fail_next
            for pattern, left in planned.items():
                if left > 0 and re.fullmatch(pattern, f"{method} {path}"):
                    planned[pattern] = left - 1
                    return True
            return False

    def show_notice(self) -> bool:
        """Roll the dice for the occasional "System notice" dialog."""
        return self.random.random() < self.config.notice_probability


class LoginRequiredError(Exception):
    """The request needs a logged-in user; ``expired`` says whether a session ended."""

    def __init__(self, *, expired: bool, next_url: str | None) -> None:
        super().__init__("login required")
        self.expired = expired
        self.next_url = next_url


def sandbox_of(request: Request) -> Sandbox:
    """Return the sandbox state of the app serving ``request``."""
    state: Sandbox = request.app.state.sandbox
    return state


def get_db(request: Request) -> Iterator[sqlite3.Connection]:
    """Open the sandbox database for one request."""
    db = connect(sandbox_of(request).config.db_path)
    try:
        yield db
    finally:
        db.close()


DB = Annotated[sqlite3.Connection, Depends(get_db)]


def require_user(request: Request, db: DB) -> sqlite3.Row:
    """Return the logged-in user, or send the browser to the login page."""
    sandbox = sandbox_of(request)
    next_url = request.url.path if request.method == "GET" else None
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequiredError(expired=False, next_url=next_url)
    idle_s = sandbox.config.session_idle_minutes * 60
    user = store.touch_session(db, token, idle_s=idle_s)
    if user is not None and sandbox.count_session_request():
        store.close_session(db, token)
        user = None
    if user is None:
        raise LoginRequiredError(expired=True, next_url=next_url)
    return user


User = Annotated[sqlite3.Row, Depends(require_user)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: sqlite3.Row | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page with the user, the notice dialog and slow rendering applied."""
    sandbox = sandbox_of(request)
    page: dict[str, Any] = {
        "user": user,
        "show_notice": user is not None and sandbox.show_notice(),
        "slow_render_ms": sandbox.faults.slow_render_ms,
        "spinner_ms": sandbox.config.spinner_ms,
    }
    page.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, page, status_code=status_code)
