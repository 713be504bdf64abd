"""The console app (FastAPI, server-rendered Jinja2): login, schedules, the audit
trail and the language, beside the review pages (``_review_pages``) and single
sign-on (``_oidc``).

Reading pages need the viewer role; retrying and resolving exception items,
pausing and resuming schedules and starting runs (``_starting``) need operator;
the audit page needs admin. Every POST checks the session's CSRF token. Every
action lands in the audit table: the queue's retry and resolve write their own
entries, the others call ``record_audit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from robotlib.console._accounts import AccountStore, Session
from robotlib.console._i18n import LANGUAGES, load_catalogues
from robotlib.console._login_limiter import LoginLimiter
from robotlib.console._metrics import add_metrics_route
from robotlib.console._oidc import add_oidc_routes
from robotlib.console._pages import add_error_pages, back_to, catalogue_of, render
from robotlib.console._review_pages import add_review_routes
from robotlib.console._security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Admin,
    Console,
    CsrfError,
    Operator,
    Viewer,
    check_csrf,
    client_address,
    console_of,
    current_session,
    new_login_token,
    safe_next,
    security_headers,
    set_cookie,
)
from robotlib.console._starting import add_start_routes
from robotlib.errors import ConfigurationError
from robotlib.project import Project
from robotlib.queue.base import utc_now
from robotlib.scheduler import ScheduleService

__all__ = ["create_app"]

_HERE = Path(__file__).parent


def create_app(
    project: Project,
    *,
    accounts: AccountStore | None = None,
    limiter: LoginLimiter | None = None,
    secure_cookies: bool = False,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The console app for ``project`` (its queue database holds the accounts).

    Args:
        project: the robot project.
        accounts: the user store; default: the project's database.
        limiter: the login rate limiter; default: 5 failures per 15 minutes.
        secure_cookies: mark cookies ``Secure`` (serve over HTTPS).
        clock: the current UTC time (tests pass a fixed one).
    """
    project.backend  # noqa: B018 - creates or upgrades the tables the accounts use
    load_catalogues()
    app = FastAPI(
        title="robotlib console", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.console = Console(
        project=project,
        accounts=accounts or AccountStore(project.settings.database),
        limiter=limiter or LoginLimiter(),
        secure_cookies=secure_cookies,
        clock=clock,
    )
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    app.middleware("http")(security_headers)
    add_error_pages(app)
    _routes(app)
    add_review_routes(app)
    add_start_routes(app)
    add_oidc_routes(app)
    add_metrics_route(app, project)
    return app


# Routes -------------------------------------------------------------------------------


def _routes(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        token = new_login_token()
        response = render(
            request, "login.html", {"login_token": token, "next": safe_next(next)}
        )
        set_cookie(request, response, LOGIN_CSRF_COOKIE, token, path="/login")
        return response

    @app.post("/login")
    def log_in(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        login_token: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        console = console_of(request)
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not login_token or cookie != login_token:
            raise CsrfError()
        address = client_address(request)
        name = username.strip()[:100]
        wait = console.limiter.check(name, address)
        if wait is not None:
            response = _login_again(
                request,
                catalogue_of(request).gettext(
                    "Too many failed logins: try again in %(minutes)d min."
                )
                % {"minutes": int(wait // 60) + 1},
                next,
                status_code=429,
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        user = console.accounts.authenticate(name, password)
        if user is None:
            console.limiter.failed(name, address)
            console.project.backend.record_audit(
                actor=name or "(blank)", action="login_failed", note=f"from {address}"
            )
            return _login_again(
                request,
                catalogue_of(request).gettext("Wrong user name or password."),
                next,
                status_code=401,
            )
        console.limiter.succeeded(name, address)
        token, _session = console.accounts.start_session(user.name)
        console.project.backend.record_audit(
            actor=user.name, action="login", note=f"from {address}"
        )
        redirect = RedirectResponse(safe_next(next), status_code=303)
        set_cookie(request, redirect, SESSION_COOKIE, token, path="/")
        redirect.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return redirect

    @app.post("/logout")
    def log_out(
        request: Request,
        session: Annotated[Session, Depends(current_session)],
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(session, csrf_token)
        console = console_of(request)
        token = request.cookies.get(SESSION_COOKIE, "")
        console.accounts.end_session(token)
        console.project.backend.record_audit(
            actor=session.user, action="logout", note=""
        )
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/schedules", response_class=HTMLResponse)
    def schedules_page(request: Request, session: Viewer) -> Response:
        console = console_of(request)
        with ScheduleService(console.project) as service:
            jobs, problems = service.status(count=3)
        return render(
            request,
            "schedules.html",
            {
                "title": catalogue_of(request).gettext("Schedules"),
                "jobs": jobs,
                "problems": problems,
            },
        )

    @app.post("/schedules/{job}/pause")
    def pause_job(
        request: Request,
        session: Operator,
        job: str,
        csrf_token: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(session, csrf_token)
        gettext = catalogue_of(request).gettext
        if not note.strip():
            text = gettext("%(job)s not paused: write why in the note.")
            return back_to(request, "/schedules", text % {"job": job})
        try:
            with ScheduleService(console_of(request).project) as service:
                _pause, changed = service.pause(
                    job, actor=session.user, note=note.strip()
                )
        except (ConfigurationError, ValueError) as exc:
            text = gettext("%(job)s not paused: %(reason)s")
            return back_to(
                request, "/schedules", text % {"job": job, "reason": _reason(exc)}
            )
        if not changed:
            text = gettext("%(job)s was paused already.")
            return back_to(request, "/schedules", text % {"job": job})
        return back_to(request, "/schedules", gettext("%(job)s paused.") % {"job": job})

    @app.post("/schedules/{job}/resume")
    def resume_job(
        request: Request,
        session: Operator,
        job: str,
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(session, csrf_token)
        gettext = catalogue_of(request).gettext
        try:
            with ScheduleService(console_of(request).project) as service:
                ended = service.resume(job, actor=session.user)
        except (ConfigurationError, ValueError) as exc:
            text = gettext("%(job)s not resumed: %(reason)s")
            return back_to(
                request, "/schedules", text % {"job": job, "reason": _reason(exc)}
            )
        if ended is None:
            text = gettext("%(job)s was not paused.")
            return back_to(request, "/schedules", text % {"job": job})
        text = gettext("%(job)s resumed.")
        return back_to(request, "/schedules", text % {"job": job})

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(
        request: Request,
        session: Admin,
        actor: str | None = None,
        action: str | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> Response:
        backend = console_of(request).project.backend
        entries = backend.audit_log(
            actor=actor or None, action=action or None, limit=limit
        )
        return render(
            request,
            "audit.html",
            {
                "title": catalogue_of(request).gettext("Audit trail"),
                "entries": entries,
                "actor": actor or "",
                "action": action or "",
            },
        )

    @app.post("/language")
    def set_language(
        request: Request,
        session: Viewer,
        csrf_token: Annotated[str, Form()] = "",
        language: Annotated[str, Form()] = "",
        back: Annotated[str, Form()] = "/",
    ) -> Response:
        """Keep the user's console language (for every later login too)."""
        check_csrf(session, csrf_token)
        if language not in LANGUAGES:
            raise StarletteHTTPException(
                400,
                catalogue_of(request).gettext("Unknown language %(language)r.")
                % {"language": language[:10]},
            )
        console_of(request).accounts.set_language(session.user, language)
        request.state.session = replace(session, language=language)
        text = catalogue_of(request).gettext("The console is now in English.")
        return back_to(request, back, text)


def _login_again(
    request: Request, text: str, next: str, *, status_code: int
) -> HTMLResponse:
    token = new_login_token()
    response = render(
        request,
        "login.html",
        {"login_token": token, "next": safe_next(next), "error": text},
        status_code=status_code,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, path="/login")
    return response


def _reason(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)
