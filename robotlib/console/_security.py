"""Who may see and do what in the console: session cookies, roles, CSRF tokens and
the response headers every page gets.

- A session is a random token in an HttpOnly, SameSite=Strict cookie; the database
  keeps only its hash (see ``_accounts``). Every page needs one, else the browser
  is sent to the login page.
- Roles are checked on the server for every request: a viewer's POST is refused
  whatever its form says.
- Every POST carries the session's CSRF token in a hidden field, compared in
  constant time; the login form, before any session, uses a double-submit cookie.
- Pages show patient data: they are never cached, never framed, and load nothing
  from elsewhere.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, Request, Response

from robotlib.console._accounts import AccountStore, Role, Session
from robotlib.console._login_limiter import LoginLimiter

if TYPE_CHECKING:
    from robotlib.project import Project

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "Admin",
    "Console",
    "CsrfError",
    "ForbiddenError",
    "LoginRequiredError",
    "Operator",
    "Viewer",
    "check_csrf",
    "client_address",
    "console_of",
    "current_session",
    "login_redirect_target",
    "new_login_token",
    "require",
    "safe_next",
    "security_headers",
    "set_cookie",
]

SESSION_COOKIE = "rpa_console_session"
LOGIN_CSRF_COOKIE = "rpa_console_login"

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Console:
    """What every request of one console app shares."""

    project: Project
    accounts: AccountStore
    limiter: LoginLimiter
    secure_cookies: bool
    clock: Callable[[], datetime]


class LoginRequiredError(Exception):
    """No valid session: the browser goes to the login page (a POST gets 401)."""


class ForbiddenError(Exception):
    """A logged-in user whose role does not allow this."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfError(Exception):
    """A POST without the right CSRF token."""


def console_of(request: Request) -> Console:
    """The console this request belongs to."""
    console: Console = request.app.state.console
    return console


def current_session(request: Request) -> Session:
    """The request's session (a FastAPI dependency); raises LoginRequiredError."""
    token = request.cookies.get(SESSION_COOKIE)
    session = console_of(request).accounts.session(token) if token else None
    if session is None:
        raise LoginRequiredError()
    request.state.session = session
    return session


def require(needed: Role) -> Callable[[Request], Session]:
    """A dependency: the session, if its role allows ``needed`` (else 403)."""

    def dependency(request: Request) -> Session:
        session = current_session(request)
        if not Role(session.role).allows(needed):
            raise ForbiddenError(
                f"{session.user} is a {session.role}: this needs the {needed} role"
            )
        return session

    return dependency


#: A route's session, for the role it needs (a FastAPI parameter type).
Viewer = Annotated[Session, Depends(require(Role.VIEWER))]
Operator = Annotated[Session, Depends(require(Role.OPERATOR))]
Admin = Annotated[Session, Depends(require(Role.ADMIN))]


def set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    *,
    path: str,
    samesite: Literal["strict", "lax"] = "strict",
) -> None:
    """Set one of the console's cookies: HttpOnly, ``Secure`` when served over HTTPS."""
    response.set_cookie(
        name,
        value,
        path=path,
        httponly=True,
        samesite=samesite,
        secure=console_of(request).secure_cookies,
    )


def check_csrf(session: Session, token: str | None) -> None:
    """Raise CsrfError unless ``token`` is the session's CSRF token."""
    if not token or not hmac.compare_digest(token, session.csrf_token):
        raise CsrfError()


def new_login_token() -> str:
    """A token for the login form's double-submit cookie."""
    return secrets.token_urlsafe(32)


def client_address(request: Request) -> str:
    """The client's address, for login rate limiting (the socket's peer)."""
    return request.client.host if request.client else "unknown"


def login_redirect_target(request: Request) -> str:
    """``/login?next=...`` back to the page asked for (paths on this site only)."""
    wanted = request.url.path
    if request.url.query:
        wanted += "?" + request.url.query
    return "/login?next=" + quote(wanted, safe="")


def safe_next(target: str | None) -> str:
    """A post-login target on this site: a path, never ``//host`` or a URL."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"
    return target


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Middleware: the headers every console response gets."""
    response = await call_next(request)
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response
