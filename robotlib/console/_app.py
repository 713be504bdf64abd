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
from datetime import date, datetime
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
from robotlib.console._oidc import add_oidc_routes
from robotlib.console._paging import csv_export, paged
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
    add_oidc_routes(app)
    return app


# Rendering ----------------------------------------------------------------------------


def _local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time in the hospital's zone, with the zone named (``2026-12-04 07:30 CET``)."""
    if moment is None:
        return ""
    return moment.astimezone(LOCAL_TZ).strftime(f"{fmt} %Z")


#: States, outcomes and run statuses as people read them.
_HUMAN = {
    "new": "new",
    "in_progress": "in progress",
    "done": "done",
    "business_exception": "business exception",
    "failed": "failed",
    "resolved": "resolved",
    "retried": "retried",
    "running": "running",
    "completed": "completed",
    "completed_with_failures": "completed with failures",
    "stopped": "stopped",
    "crashed": "crashed",
}


def _human(value: object) -> str:
    """A state, outcome or status by its name for people (``business exception``)."""
    text = "" if value is None else str(value)
    return _HUMAN.get(text, text.replace("_", " "))


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
TEMPLATES.env.filters["human"] = _human


def _render(
    request: Request,
    template: str,
    page: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    session: Session | None = getattr(request.state, "session", None)
    notice = ""
    if session is not None and session.notice:
        notice = session.notice
        console_of(request).accounts.clear_notice(
            request.cookies.get(SESSION_COOKIE, "")
        )
    context = {
        "session": session,
        "may_act": session is not None and session.role.allows(Role.OPERATOR),
        "is_admin": session is not None and session.role.allows(Role.ADMIN),
        "message": notice,
        **page,
    }
    return TEMPLATES.TemplateResponse(
        request, template, context, status_code=status_code
    )


def _back(request: Request, path: str, message: str) -> RedirectResponse:
    """Post/redirect/get: back to ``path``, whose page shows ``message`` once.

    The message waits in the session, server-side: a URL never carries text for
    the console to show, so no link can put words in its mouth.
    """
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        console_of(request).accounts.set_notice(token, message)
    return RedirectResponse(safe_next(path), status_code=303)


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
        page: Annotated[int, Query(ge=1)] = 1,
        events: Annotated[int, Query(ge=1)] = 1,
    ) -> Response:
        found = _run(request, run_id, outcome, search)
        timeline = [
            event for event in found.timeline if steps or event.event != "step_finished"
        ]
        filters = [("outcome", outcome or ""), ("search", search or "")]
        return _render(
            request,
            "run.html",
            {
                "title": f"Run {run_id}",
                "page": found,
                "items": paged(
                    found.items,
                    page,
                    query=[
                        *filters,
                        ("steps", "true" if steps else ""),
                        ("events", str(events)),
                    ],
                ),
                "timeline": paged(
                    timeline,
                    events,
                    size=TIMELINE_PAGE,
                    query=[
                        *filters,
                        ("steps", "true" if steps else ""),
                        ("page", str(page)),
                    ],
                ),
                "steps": steps,
                "outcome": outcome or "",
                "search": search or "",
                "csv": "?" + urlencode([(k, v) for k, v in filters if v]),
            },
        )

    @app.get("/runs/{run_id}/items.csv")
    def run_items_csv(
        request: Request,
        session: Viewer,
        run_id: str,
        outcome: str | None = None,
        search: str | None = None,
    ) -> Response:
        found = _run(request, run_id, outcome, search)
        body = csv_export(_ITEM_COLUMNS, (_item_cells(item) for item in found.items))
        return _csv_response(body, f"run-{found.run.id}-items")

    @app.get("/runs/{run_id}/files/{relative:path}")
    def run_file(
        request: Request, session: Viewer, run_id: str, relative: str
    ) -> Response:
        console = console_of(request)
        try:
            path = reports.run_file(console.project, run_id, relative)
        except (KeyError, ValueError, FileNotFoundError) as exc:
            raise _not_found("No such file in this run.") from exc
        if reports.is_trace(path):  # every page the robot saw, patient data in clear
            if not session.role.allows(Role.OPERATOR):
                raise ForbiddenError(
                    f"{session.user} is a {session.role}: a trace shows patient data "
                    "in clear, so only operators and admins may download it"
                )
            console.project.backend.record_audit(
                actor=session.user,
                action="download_trace",
                item_id=reports.trace_item(path),
                note=f"run {run_id}: {relative}",
            )
        inline = path.suffix.lower() in (".png", ".jpg", ".jpeg")
        return FileResponse(
            path,
            filename=None if inline else path.name,
            content_disposition_type="inline" if inline else "attachment",
        )

    @app.get("/exceptions", response_class=HTMLResponse)
    def exceptions_page(
        request: Request,
        session: Viewer,
        filters: Annotated[ExceptionFilters, Depends()],
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> Response:
        console = console_of(request)
        everything = reports.exception_queue(console.project, now=console.clock())
        rows = paged(filters.rows(console), page, query=filters.query())
        return _render(
            request,
            "exceptions.html",
            {
                "title": "Exception queue",
                "rows": rows,
                "filters": filters,
                "robots": sorted({row.robot for row in everything}),
                "error_types": sorted({r.error_type for r in everything} - {""}),
                "back": "/exceptions" + rows.link(rows.number),
            },
        )

    @app.get("/exceptions.csv")
    def exceptions_csv(
        request: Request,
        session: Viewer,
        filters: Annotated[ExceptionFilters, Depends()],
    ) -> Response:
        console = console_of(request)
        rows = filters.rows(console)
        body = csv_export(_EXCEPTION_COLUMNS, (_exception_cells(r) for r in rows))
        return _csv_response(body, "exceptions")

    @app.post("/exceptions/retry")
    def retry_items(
        request: Request,
        session: Operator,
        csrf_token: Annotated[str, Form()] = "",
        item: Annotated[list[int] | None, Form()] = None,
        note: Annotated[str, Form()] = "",
        back: Annotated[str, Form()] = "/exceptions",
    ) -> Response:
        check_csrf(session, csrf_token)
        if not item:
            return _back(request, back, "Select the items to retry first.")
        backend = console_of(request).project.backend
        try:
            done = backend.retry(
                item, actor=session.user, note=note.strip() or "retried in the console"
            )
        except QueueError as exc:  # not an exception item, or gone: nothing changed
            return _back(request, back, f"Nothing retried: {exc}")
        return _back(request, back, f"{len(done)} item(s) sent back to the queue.")

    @app.post("/exceptions/resolve")
    def resolve_items(
        request: Request,
        session: Operator,
        csrf_token: Annotated[str, Form()] = "",
        item: Annotated[list[int] | None, Form()] = None,
        note: Annotated[str, Form()] = "",
        back: Annotated[str, Form()] = "/exceptions",
    ) -> Response:
        check_csrf(session, csrf_token)
        if not item:
            return _back(request, back, "Select the items to resolve first.")
        if not note.strip():
            return _back(
                request,
                back,
                "Nothing resolved: write a note saying how each item was handled.",
            )
        backend = console_of(request).project.backend
        try:
            done = backend.resolve(item, actor=session.user, note=note.strip())
        except QueueError as exc:  # not an exception item, or gone: nothing changed
            return _back(request, back, f"Nothing resolved: {exc}")
        return _back(request, back, f"{len(done)} item(s) resolved.")

    @app.get("/items/{item_id}", response_class=HTMLResponse)
    def item_page(request: Request, session: Viewer, item_id: int) -> Response:
        return _item(request, item_id, show_cpr=False)

    @app.post("/items/{item_id}/reveal", response_class=HTMLResponse)
    def reveal_cpr(
        request: Request,
        session: Operator,
        item_id: int,
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        """Show one item with its CPR number in clear; the reveal is audited."""
        check_csrf(session, csrf_token)
        backend = console_of(request).project.backend
        try:
            backend.get(item_id)
        except (KeyError, ItemNotFoundError) as exc:
            raise _not_found(f"No item {item_id}.") from exc
        backend.record_audit(
            actor=session.user,
            action="reveal_cpr",
            item_id=item_id,
            note=f"CPR number shown in the console to {session.user}",
        )
        return _item(request, item_id, show_cpr=True)

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
            return _back(
                request, "/schedules", f"{job} not paused: write why in the note."
            )
        try:
            with _scheduler(console_of(request).project) as service:
                _pause, changed = service.pause(
                    job, actor=session.user, note=note.strip()
                )
        except (ConfigurationError, ValueError) as exc:
            return _back(request, "/schedules", f"{job} not paused: {_reason(exc)}")
        if not changed:
            return _back(request, "/schedules", f"{job} was paused already.")
        return _back(request, "/schedules", f"{job} paused.")

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
            return _back(request, "/schedules", f"{job} not resumed: {_reason(exc)}")
        if ended is None:
            return _back(request, "/schedules", f"{job} was not paused.")
        return _back(request, "/schedules", f"{job} resumed.")

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


class ExceptionFilters:
    """The exception queue's filters, read from the query string."""

    def __init__(
        self,
        robot: str = "",
        state: str = "",
        error: str = "",
        since: str = "",
        until: str = "",
        search: str = "",
    ) -> None:
        self.robot, self.error, self.search = robot, error, search.strip()[:100]
        if state and state not in ("failed", "business_exception"):
            raise StarletteHTTPException(400, f"Unknown state {state[:40]!r}.")
        self.state = state
        self.since, self.until = _day(since, "since"), _day(until, "until")

    def query(self) -> list[tuple[str, str]]:
        """The filters as query parameters (for page links and the CSV link)."""
        return [
            ("robot", self.robot),
            ("state", self.state),
            ("error", self.error),
            ("since", self.since.isoformat() if self.since else ""),
            ("until", self.until.isoformat() if self.until else ""),
            ("search", self.search),
        ]

    def rows(self, console: Console) -> list[reports.ExceptionRow]:
        """The exception rows these filters select, oldest first."""
        return reports.exception_queue(
            console.project,
            robot=self.robot or None,
            state=self.state or None,
            error_type=self.error or None,
            since=self.since,
            until=self.until,
            search=self.search or None,
            now=console.clock(),
        )


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise StarletteHTTPException(
            400, f"{name} must be a date such as 2026-12-04, not {text[:40]!r}."
        ) from exc


#: Timeline events per page of a run.
TIMELINE_PAGE = 200


def _run(
    request: Request, run_id: str, outcome: str | None, search: str | None
) -> reports.RunPage:
    try:
        return reports.run_page(
            console_of(request).project,
            run_id,
            outcome=outcome or None,
            search=search or None,
        )
    except KeyError as exc:
        raise _not_found(f"No run {run_id}.") from exc
    except ValueError as exc:
        raise StarletteHTTPException(
            400, f"Unknown outcome {str(outcome)[:40]!r}."
        ) from exc


_EXCEPTION_COLUMNS = (
    *("item", "robot", "reference", "state", "error code", "reason", "attempts"),
    *(f"ended ({LOCAL_TZ})", "run"),
)
_ITEM_COLUMNS = (
    *("item", "reference", "state", "attempts", "error code", "error"),
    *(f"ended ({LOCAL_TZ})", "output"),
)


def _exception_cells(row: reports.ExceptionRow) -> list[object]:
    """A row of the exception queue's CSV export, masked as the page shows it."""
    return [
        *(row.item_id, row.robot, row.reference, _human(row.state), row.error_type),
        *(row.reason, row.attempts, _local(row.finished_at), row.run_id or ""),
    ]


def _item_cells(item: reports.ItemRow) -> list[object]:
    """A row of a run's items CSV export, masked as the page shows it."""
    output = " ".join(f"{key}={value}" for key, value in item.output.items())
    return [
        *(item.id, item.reference, _human(item.state), item.attempts),
        *(item.error_type, item.error, _local(item.finished_at), output),
    ]


def _csv_response(body: bytes, name: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _item(request: Request, item_id: int, *, show_cpr: bool) -> Response:
    console = console_of(request)
    try:
        page = reports.item_page(console.project, item_id, show_cpr=show_cpr)
    except (KeyError, ItemNotFoundError) as exc:
        raise _not_found(f"No item {item_id}.") from exc
    return _render(
        request,
        "item.html",
        {
            "title": f"Item {item_id}",
            "page": page,
            "revealed": show_cpr,
            "back": f"/items/{item_id}",
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
