"""The console's pages and form actions (FastAPI, server-rendered Jinja2).

Reading pages need the viewer role; retrying and resolving exception items and
pausing and resuming schedules need operator; the audit page needs admin. Every
POST checks the session's CSRF token. Every action lands in the audit table: the
queue's retry and resolve write their own entries, the others call
``record_audit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from robotlib.console import _reports as reports
from robotlib.console._accounts import AccountStore, LoginLimiter, Role, Session
from robotlib.console._masking import shown_text
from robotlib.console._security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Console,
    CsrfError,
    ForbiddenError,
    LoginRequiredError,
    check_csrf,
    client_address,
    console_of,
    current_session,
    login_redirect_target,
    new_login_token,
    require,
    safe_next,
    security_headers,
)
from robotlib.errors import (
    ConfigurationError,
    ItemNotFoundError,
    QueueError,
)
from robotlib.project import Project
from robotlib.queue.base import utc_now
from robotlib.scheduler import Scheduler

__all__ = ["create_app"]

_HERE = Path(__file__).parent
#: The time zone pages show times in (the hospital's).
LOCAL_TZ = ZoneInfo("Europe/Copenhagen")
TEMPLATES = Jinja2Templates(directory=_HERE / "templates")

Viewer = Annotated[Session, Depends(require(Role.VIEWER))]
Operator = Annotated[Session, Depends(require(Role.OPERATOR))]
Admin = Annotated[Session, Depends(require(Role.ADMIN))]


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
    app.add_exception_handler(LoginRequiredError, _to_login)  # type: ignore[arg-type]
    app.add_exception_handler(ForbiddenError, _forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfError, _csrf_refused)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _error_page)  # type: ignore[arg-type]
    _routes(app)
    return app


# Rendering ----------------------------------------------------------------------------


def _local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if moment is None else moment.astimezone(LOCAL_TZ).strftime(fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _masked(text: object) -> str:
    """Free text typed by people (notes, reasons): CPR numbers masked."""
    return shown_text(None if text is None else str(text), clear=False)


TEMPLATES.env.filters["local"] = _local
TEMPLATES.env.filters["duration"] = _duration
TEMPLATES.env.filters["masked"] = _masked


def _render(
    request: Request,
    template: str,
    page: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    session: Session | None = getattr(request.state, "session", None)
    context = {
        "session": session,
        "may_act": session is not None and session.role.allows(Role.OPERATOR),
        "is_admin": session is not None and session.role.allows(Role.ADMIN),
        "message": request.query_params.get("message", ""),
        **page,
    }
    return TEMPLATES.TemplateResponse(
        request, template, context, status_code=status_code
    )


def _back(path: str, message: str) -> RedirectResponse:
    """Post/redirect/get: back to ``path`` with a message to show."""
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(
        f"{path}{joiner}{urlencode({'message': message})}", status_code=303
    )


# Errors -------------------------------------------------------------------------------


async def _to_login(request: Request, exc: LoginRequiredError) -> Response:
    if request.method != "GET":
        return _render(
            request,
            "error.html",
            {"title": "Not logged in", "text": "Log in again, then repeat."},
            status_code=401,
        )
    return RedirectResponse(login_redirect_target(request), status_code=303)


async def _forbidden(request: Request, exc: ForbiddenError) -> Response:
    return _render(
        request,
        "error.html",
        {"title": "Not allowed", "text": exc.message},
        status_code=403,
    )


async def _csrf_refused(request: Request, exc: CsrfError) -> Response:
    return _render(
        request,
        "error.html",
        {
            "title": "Form refused",
            "text": "The form was not sent from this console's page, or the page "
            "is older than your session. Reload the page and try again.",
        },
        status_code=403,
    )


async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
    return _render(
        request,
        "error.html",
        {"title": f"Error {exc.status_code}", "text": str(exc.detail)},
        status_code=exc.status_code,
    )


def _not_found(text: str) -> StarletteHTTPException:
    return StarletteHTTPException(status_code=404, detail=text)


# Routes -------------------------------------------------------------------------------


def _routes(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        token = new_login_token()
        response = _render(
            request, "login.html", {"login_token": token, "next": safe_next(next)}
        )
        _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, path="/login")
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
                f"Too many failed logins: try again in {int(wait // 60) + 1} min.",
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
                request, "Wrong user name or password.", next, status_code=401
            )
        console.limiter.succeeded(name, address)
        token, _session = console.accounts.start_session(user.name)
        console.project.backend.record_audit(
            actor=user.name, action="login", note=f"from {address}"
        )
        redirect = RedirectResponse(safe_next(next), status_code=303)
        _set_cookie(request, redirect, SESSION_COOKIE, token, path="/")
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

    @app.get("/", response_class=HTMLResponse)
    def dashboard_page(request: Request, session: Viewer) -> Response:
        console = console_of(request)
        board = reports.dashboard(console.project, now=console.clock())
        return _render(
            request,
            "dashboard.html",
            {
                "title": "Dashboard",
                "board": board,
                "chart": reports.svg_chart(board.nights),
            },
        )

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(
        request: Request,
        session: Viewer,
        run_id: str,
        outcome: str | None = None,
        search: str | None = None,
        steps: bool = False,
    ) -> Response:
        console = console_of(request)
        try:
            page = reports.run_page(
                console.project,
                run_id,
                outcome=outcome or None,
                search=search or None,
            )
        except KeyError as exc:
            raise _not_found(f"No run {run_id}.") from exc
        except ValueError as exc:
            raise StarletteHTTPException(400, f"Unknown outcome {outcome!r}.") from exc
        timeline = [
            event for event in page.timeline if steps or event.event != "step_finished"
        ]
        return _render(
            request,
            "run.html",
            {
                "title": f"Run {run_id}",
                "page": page,
                "timeline": timeline,
                "steps": steps,
                "outcome": outcome or "",
                "search": search or "",
            },
        )

    @app.get("/runs/{run_id}/files/{relative:path}")
    def run_file(
        request: Request, session: Viewer, run_id: str, relative: str
    ) -> Response:
        console = console_of(request)
        try:
            path = reports.run_file(console.project, run_id, relative)
        except (KeyError, ValueError, FileNotFoundError) as exc:
            raise _not_found("No such file in this run.") from exc
        inline = path.suffix.lower() in (".png", ".jpg", ".jpeg")
        return FileResponse(
            path,
            filename=None if inline else path.name,
            content_disposition_type="inline" if inline else "attachment",
        )

    @app.get("/exceptions", response_class=HTMLResponse)
    def exceptions_page(
        request: Request, session: Viewer, robot: str | None = None
    ) -> Response:
        console = console_of(request)
        rows = reports.exception_queue(
            console.project, robot=robot or None, now=console.clock()
        )
        robots = sorted({row.robot for row in rows})
        return _render(
            request,
            "exceptions.html",
            {
                "title": "Exception queue",
                "rows": rows,
                "robot": robot or "",
                "robots": robots,
            },
        )

    @app.post("/exceptions/retry")
    def retry_items(
        request: Request,
        session: Operator,
        csrf_token: Annotated[str, Form()] = "",
        item: Annotated[list[int] | None, Form()] = None,
        note: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(session, csrf_token)
        if not item:
            return _back("/exceptions", "Select the items to retry first.")
        backend = console_of(request).project.backend
        try:
            done = backend.retry(
                item, actor=session.user, note=note.strip() or "retried in the console"
            )
        except QueueError as exc:  # not an exception item, or gone: nothing changed
            return _back("/exceptions", f"Nothing retried: {exc}")
        return _back("/exceptions", f"{len(done)} item(s) sent back to the queue.")

    @app.post("/exceptions/resolve")
    def resolve_items(
        request: Request,
        session: Operator,
        csrf_token: Annotated[str, Form()] = "",
        item: Annotated[list[int] | None, Form()] = None,
        note: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(session, csrf_token)
        if not item:
            return _back("/exceptions", "Select the items to resolve first.")
        if not note.strip():
            return _back(
                "/exceptions",
                "Nothing resolved: write a note saying how each item was handled.",
            )
        backend = console_of(request).project.backend
        try:
            done = backend.resolve(item, actor=session.user, note=note.strip())
        except QueueError as exc:  # not an exception item, or gone: nothing changed
            return _back("/exceptions", f"Nothing resolved: {exc}")
        return _back("/exceptions", f"{len(done)} item(s) resolved.")

    @app.get("/items/{item_id}", response_class=HTMLResponse)
    def item_page(request: Request, session: Viewer, item_id: int) -> Response:
        console = console_of(request)
        try:
            page = reports.item_page(console.project, item_id)
        except (KeyError, ItemNotFoundError) as exc:
            raise _not_found(f"No item {item_id}.") from exc
        return _render(request, "item.html", {"title": f"Item {item_id}", "page": page})

    @app.get("/schedules", response_class=HTMLResponse)
    def schedules_page(request: Request, session: Viewer) -> Response:
        console = console_of(request)
        with _scheduler(console.project) as service:
            jobs, problems = service.status(count=3)
        return _render(
            request,
            "schedules.html",
            {"title": "Schedules", "jobs": jobs, "problems": problems},
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
        if not note.strip():
            return _back("/schedules", f"{job} not paused: write why in the note.")
        try:
            with _scheduler(console_of(request).project) as service:
                _pause, changed = service.pause(
                    job, actor=session.user, note=note.strip()
                )
        except (ConfigurationError, ValueError) as exc:
            return _back("/schedules", f"{job} not paused: {_reason(exc)}")
        if not changed:
            return _back("/schedules", f"{job} was paused already.")
        return _back("/schedules", f"{job} paused.")

    @app.post("/schedules/{job}/resume")
    def resume_job(
        request: Request,
        session: Operator,
        job: str,
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(session, csrf_token)
        try:
            with _scheduler(console_of(request).project) as service:
                ended = service.resume(job, actor=session.user)
        except (ConfigurationError, ValueError) as exc:
            return _back("/schedules", f"{job} not resumed: {_reason(exc)}")
        if ended is None:
            return _back("/schedules", f"{job} was not paused.")
        return _back("/schedules", f"{job} resumed.")

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
        return _render(
            request,
            "audit.html",
            {
                "title": "Audit trail",
                "entries": entries,
                "actor": actor or "",
                "action": action or "",
            },
        )


def _login_again(
    request: Request, text: str, next: str, *, status_code: int
) -> HTMLResponse:
    token = new_login_token()
    response = _render(
        request,
        "login.html",
        {"login_token": token, "next": safe_next(next), "error": text},
        status_code=status_code,
    )
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, path="/login")
    return response


def _set_cookie(
    request: Request, response: Response, name: str, value: str, *, path: str
) -> None:
    response.set_cookie(
        name,
        value,
        path=path,
        httponly=True,
        samesite="strict",
        secure=console_of(request).secure_cookies,
    )


@contextmanager
def _scheduler(project: Project) -> Iterator[Scheduler]:
    """The scheduler service, read and act only (it fires nothing here)."""
    service = Scheduler(project, notifiers=[])
    try:
        yield service
    finally:
        service.close()


def _reason(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)
