"""The console's review pages: the dashboard, runs, the exception queue and items,
their CSV exports and run files, and the retry and resolve actions.

Reading needs the viewer role; retrying, resolving, revealing a CPR number and
downloading a trace need operator. Every POST checks the session's CSRF token;
retry and resolve write their own audit entries, a reveal and a trace download
call ``record_audit``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from robotlib.console import _reports as reports
from robotlib.console._accounts import Role
from robotlib.console._i18n import N_, Catalogue
from robotlib.console._pages import (
    back_to,
    catalogue_of,
    human,
    local,
    not_found,
    render,
)
from robotlib.console._paging import csv_export, paged
from robotlib.console._security import (
    Console,
    ForbiddenError,
    Operator,
    Viewer,
    check_csrf,
    console_of,
)
from robotlib.errors import ItemNotFoundError, QueueError
from robotlib.settings import DISPLAY_TZ

__all__ = ["TIMELINE_PAGE", "ExceptionFilters", "add_review_routes"]


def add_review_routes(app: FastAPI) -> None:
    """Add the dashboard, run, exception queue and item pages and their actions."""

    @app.get("/", response_class=HTMLResponse)
    def dashboard_page(request: Request, session: Viewer) -> Response:
        console = console_of(request)
        catalogue = catalogue_of(request)
        board = reports.dashboard(
            console.project, now=console.clock(), catalogue=catalogue
        )
        return render(
            request,
            "dashboard.html",
            {
                "title": catalogue.gettext("Dashboard"),
                "board": board,
                "chart": reports.svg_chart(board.nights, catalogue=catalogue),
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
        return render(
            request,
            "run.html",
            {
                "title": catalogue_of(request).gettext("Run %(run)s") % {"run": run_id},
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
        catalogue = catalogue_of(request)
        body = csv_export(
            _columns(_ITEM_COLUMNS, catalogue),
            (_item_cells(item, catalogue) for item in found.items),
        )
        return _csv_response(body, f"run-{found.run.id}-items")

    @app.get("/runs/{run_id}/files/{relative:path}")
    def run_file(
        request: Request, session: Viewer, run_id: str, relative: str
    ) -> Response:
        console = console_of(request)
        try:
            path = reports.run_file(console.project, run_id, relative)
        except (KeyError, ValueError, FileNotFoundError) as exc:
            raise not_found(
                catalogue_of(request).gettext("No such file in this run.")
            ) from exc
        if reports.is_trace(path):  # every page the robot saw, patient data in clear
            if not session.role.allows(Role.OPERATOR):
                raise ForbiddenError(
                    catalogue_of(request).gettext(
                        "%(user)s is a %(role)s: a trace shows patient data in "
                        "clear, so only operators and admins may download it"
                    )
                    % {"user": session.user, "role": session.role}
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
        return render(
            request,
            "exceptions.html",
            {
                "title": catalogue_of(request).gettext("Exception queue"),
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
        catalogue = catalogue_of(request)
        body = csv_export(
            _columns(_EXCEPTION_COLUMNS, catalogue),
            (_exception_cells(row, catalogue) for row in rows),
        )
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
        catalogue = catalogue_of(request)
        if not item:
            return back_to(
                request, back, catalogue.gettext("Select the items to retry first.")
            )
        backend = console_of(request).project.backend
        try:
            done = backend.retry(
                item, actor=session.user, note=note.strip() or "retried in the console"
            )
        except QueueError as exc:  # not an exception item, or gone: nothing changed
            text = catalogue.gettext("Nothing retried: %(reason)s")
            return back_to(request, back, text % {"reason": exc})
        text = catalogue.ngettext(
            "%(num)d item sent back to the queue.",
            "%(num)d items sent back to the queue.",
            len(done),
        )
        return back_to(request, back, text % {"num": len(done)})

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
        catalogue = catalogue_of(request)
        if not item:
            return back_to(
                request, back, catalogue.gettext("Select the items to resolve first.")
            )
        if not note.strip():
            return back_to(
                request,
                back,
                catalogue.gettext(
                    "Nothing resolved: write a note saying how each item was handled."
                ),
            )
        backend = console_of(request).project.backend
        try:
            done = backend.resolve(item, actor=session.user, note=note.strip())
        except QueueError as exc:  # not an exception item, or gone: nothing changed
            text = catalogue.gettext("Nothing resolved: %(reason)s")
            return back_to(request, back, text % {"reason": exc})
        text = catalogue.ngettext(
            "%(num)d item resolved.", "%(num)d items resolved.", len(done)
        )
        return back_to(request, back, text % {"num": len(done)})

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
            text = catalogue_of(request).gettext("No item %(item)d.") % {
                "item": item_id
            }
            raise not_found(text) from exc
        backend.record_audit(
            actor=session.user,
            action="reveal_cpr",
            item_id=item_id,
            note=f"CPR number shown in the console to {session.user}",
        )
        return _item(request, item_id, show_cpr=True)


class ExceptionFilters:
    """The exception queue's filters, read from the query string."""

    def __init__(
        self,
        request: Request,
        robot: str = "",
        state: str = "",
        error: str = "",
        since: str = "",
        until: str = "",
        search: str = "",
    ) -> None:
        self.robot, self.error, self.search = robot, error, search.strip()[:100]
        catalogue = catalogue_of(request)
        if state and state not in ("failed", "business_exception"):
            text = catalogue.gettext("Unknown state %(state)r.")
            raise StarletteHTTPException(400, text % {"state": state[:40]})
        self.state = state
        self.since = _day(since, "since", catalogue)
        self.until = _day(until, "until", catalogue)

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


def _day(text: str, name: str, catalogue: Catalogue) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        detail = catalogue.gettext(
            "%(name)s must be a date such as 2026-12-04, not %(text)r."
        )
        raise StarletteHTTPException(
            400, detail % {"name": name, "text": text[:40]}
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
        text = catalogue_of(request).gettext("No run %(run)s.") % {"run": run_id}
        raise not_found(text) from exc
    except ValueError as exc:
        text = catalogue_of(request).gettext("Unknown outcome %(outcome)r.")
        raise StarletteHTTPException(
            400, text % {"outcome": str(outcome)[:40]}
        ) from exc


_ENDED = N_("ended (%(zone)s)")
_EXCEPTION_COLUMNS = (
    *(N_("item"), N_("robot"), N_("reference"), N_("state"), N_("error code")),
    *(N_("reason"), N_("attempts"), _ENDED, N_("run")),
)
_ITEM_COLUMNS = (
    *(N_("item"), N_("reference"), N_("state"), N_("attempts"), N_("error code")),
    *(N_("error"), _ENDED, N_("output")),
)


def _columns(names: tuple[str, ...], catalogue: Catalogue) -> list[str]:
    """A CSV export's column headers in the request's language, the zone named."""
    return [catalogue.gettext(name) % {"zone": DISPLAY_TZ} for name in names]


def _exception_cells(row: reports.ExceptionRow, catalogue: Catalogue) -> list[object]:
    """A row of the exception queue's CSV export, masked as the page shows it."""
    state = human(row.state, catalogue)
    return [
        *(row.item_id, row.robot, row.reference, state, row.error_type),
        *(row.reason, row.attempts, local(row.finished_at), row.run_id or ""),
    ]


def _item_cells(item: reports.ItemRow, catalogue: Catalogue) -> list[object]:
    """A row of a run's items CSV export, masked as the page shows it."""
    output = " ".join(f"{key}={value}" for key, value in item.output.items())
    return [
        *(item.id, item.reference, human(item.state, catalogue), item.attempts),
        *(item.error_type, item.error, local(item.finished_at), output),
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
        text = catalogue_of(request).gettext("No item %(item)d.") % {"item": item_id}
        raise not_found(text) from exc
    return render(
        request,
        "item.html",
        {
            "title": catalogue_of(request).gettext("Item %(item)d") % {"item": item_id},
            "page": page,
            "revealed": show_cpr,
            "back": f"/items/{item_id}",
        },
    )
