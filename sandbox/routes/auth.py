"""Login, logout and the start page."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from sandbox import store
from sandbox.web import DB, SESSION_COOKIE, render, sandbox_of

router = APIRouter()

_WRONG = "Wrong username or password."


@router.get("/")
def start(request: Request) -> Response:
    """Send a visitor to patient search (which asks for a login when needed).

    With ``ui="spa"`` the visitor goes to the single-page application instead.
    """
    if sandbox_of(request).config.ui == "spa":
        return RedirectResponse("/spa", status_code=303)
    return RedirectResponse("/patients/search", status_code=303)


@router.get("/login")
def login_page(request: Request, expired: int = 0, next: str = "") -> Response:
    """Show the login form."""
    message = "Your session has expired. Please log in again." if expired else None
    return render(request, "login.html", {"message": message, "next": _safe(next)})


@router.post("/login")
def login(
    request: Request,
    db: DB,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Check the credentials; lock the account after too many failures."""
    config = sandbox_of(request).config
    user = store.find_user(db, username.strip())
    error = _WRONG
    if user is not None and user["locked_until"] and user["locked_until"] > time.time():
        error = _locked_message(config.lockout_minutes)
    elif user is not None and store.check_password(user, password):
        token = store.open_session(db, user)
        response = RedirectResponse(_safe(next) or "/patients/search", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax")
        return response
    elif user is not None and store.record_failed_login(
        db,
        user,
        lockout_after=config.lockout_after,
        lockout_s=config.lockout_minutes * 60,
    ):
        error = _locked_message(config.lockout_minutes)
    return render(
        request,
        "login.html",
        {"error": error, "username": username, "next": _safe(next)},
        status_code=401,
    )


@router.post("/logout")
def logout(request: Request, db: DB) -> Response:
    """End the session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        store.close_session(db, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _locked_message(minutes: float) -> str:
    return (
        "This account is locked after too many failed logins. "
        f"Try again in {minutes:g} minutes or contact the service desk."
    )


def _safe(next_url: str) -> str:
    """Keep only local paths, so the login cannot redirect elsewhere."""
    return (
        next_url if next_url.startswith("/") and not next_url.startswith("//") else ""
    )
