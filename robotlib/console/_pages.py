"""How the console's pages are drawn: the templates, their filters, the page's
language, notices that show once, and the error pages.

Every page is rendered by :func:`render`, which hands the template the session,
the request's catalogue (``_``, ``gettext``, ``ngettext``) and the notice waiting
in the session. Route modules translate what they say through
:func:`catalogue_of`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.exceptions import HTTPException as StarletteHTTPException

from robotlib.console._accounts import Role, Session
from robotlib.console._i18n import (
    ENGLISH,
    N_,
    Catalogue,
    choose_language,
    template_callables,
    translations,
)
from robotlib.console._masking import shown_text
from robotlib.console._security import (
    SESSION_COOKIE,
    CsrfError,
    ForbiddenError,
    LoginRequiredError,
    console_of,
    login_redirect_target,
    safe_next,
)
from robotlib.settings import DISPLAY_TZ

__all__ = [
    "TEMPLATES",
    "add_error_pages",
    "back_to",
    "catalogue_of",
    "error_page",
    "human",
    "local",
    "not_found",
    "render",
]

_HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=_HERE / "templates")
TEMPLATES.env.add_extension("jinja2.ext.i18n")
TEMPLATES.env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts them
TEMPLATES.env.newstyle_gettext = True  # type: ignore[attr-defined]
TEMPLATES.env.globals.update(template_callables(ENGLISH))


def add_error_pages(app: FastAPI) -> None:
    """Answer refusals and HTTP errors with the console's own pages."""
    app.add_exception_handler(LoginRequiredError, _to_login)  # type: ignore[arg-type]
    app.add_exception_handler(ForbiddenError, _forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfError, _csrf_refused)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _error_page)  # type: ignore[arg-type]


# Rendering ----------------------------------------------------------------------------


def local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time in the hospital's zone, with the zone named (``2026-12-04 07:30 CET``)."""
    if moment is None:
        return ""
    return moment.astimezone(DISPLAY_TZ).strftime(f"{fmt} %Z")


#: States, outcomes and run statuses as people read them (translated when shown).
_HUMAN = {
    "new": N_("new"),
    "in_progress": N_("in progress"),
    "done": N_("done"),
    "business_exception": N_("business exception"),
    "failed": N_("failed"),
    "resolved": N_("resolved"),
    "retried": N_("retried"),
    "running": N_("running"),
    "completed": N_("completed"),
    "completed_with_failures": N_("completed with failures"),
    "stopped": N_("stopped"),
    "crashed": N_("crashed"),
    "interrupted": N_("interrupted"),
    "active": N_("active"),
    "skipped": N_("skipped"),
    "missed": N_("missed"),
    "viewer": N_("viewer"),
    "operator": N_("operator"),
    "admin": N_("admin"),
}


def human(value: object, catalogue: Catalogue) -> str:
    """A state, outcome or status by its name for people (``business exception``)."""
    text = "" if value is None else str(value)
    if text in _HUMAN:
        return catalogue.gettext(_HUMAN[text])
    return text.replace("_", " ")


def _catalogue(context: Context) -> Catalogue:
    """The catalogue of the page being rendered (English outside a request)."""
    found = context.get("catalogue")
    return found if isinstance(found, Catalogue) else ENGLISH


@pass_context
def _human_filter(context: Context, value: object) -> str:
    return human(value, _catalogue(context))


@pass_context
def _duration(context: Context, seconds: float | None) -> str:
    if seconds is None:
        return ""
    gettext = _catalogue(context).gettext
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return gettext("%(hours)d h %(minutes)02d min") % {
            "hours": hours,
            "minutes": minutes,
        }
    if minutes:
        return gettext("%(minutes)d min %(seconds)02d s") % {
            "minutes": minutes,
            "seconds": secs,
        }
    return gettext("%(seconds)d s") % {"seconds": secs}


def _masked(text: object) -> str:
    """Free text typed by people (notes, reasons): CPR numbers masked."""
    return shown_text(None if text is None else str(text), clear=False)


TEMPLATES.env.filters["local"] = local
TEMPLATES.env.filters["duration"] = _duration
TEMPLATES.env.filters["masked"] = _masked
TEMPLATES.env.filters["human"] = _human_filter


def language_of(request: Request) -> str:
    """The request's language: the user's choice, the browser's, or the project's."""
    session: Session | None = getattr(request.state, "session", None)
    return choose_language(
        session.language if session is not None else None,
        request.headers.get("accept-language", ""),
        console_of(request).project.settings.locale,
    )


def catalogue_of(request: Request) -> Catalogue:
    """The catalogue of the request's language: its ``gettext`` and ``ngettext``."""
    return translations(language_of(request))


def render(
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
    language = language_of(request)
    catalogue = translations(language)
    context = {
        "session": session,
        "may_act": session is not None and session.role.allows(Role.OPERATOR),
        "is_admin": session is not None and session.role.allows(Role.ADMIN),
        "message": notice,
        "language": language,
        "catalogue": catalogue,
        **template_callables(catalogue),
        **page,
    }
    return TEMPLATES.TemplateResponse(
        request, template, context, status_code=status_code
    )


def back_to(request: Request, path: str, message: str) -> RedirectResponse:
    """Post/redirect/get: back to ``path``, whose page shows ``message`` once.

    The message waits in the session, server-side: a URL never carries text for
    the console to show, so no link can put words in its mouth. The caller
    translates it (``catalogue_of(request)``).
    """
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        console_of(request).accounts.set_notice(token, message)
    return RedirectResponse(safe_next(path), status_code=303)


# Errors -------------------------------------------------------------------------------


def error_page(
    request: Request, title: str, text: str, status_code: int
) -> HTMLResponse:
    """The console's error page: a heading, what went wrong, a way back."""
    return render(
        request,
        "error.html",
        {"title": title, "text": text},
        status_code=status_code,
    )


async def _to_login(request: Request, exc: LoginRequiredError) -> Response:
    if request.method != "GET":
        gettext = catalogue_of(request).gettext
        return error_page(
            request,
            gettext("Not logged in"),
            gettext("Log in again, then repeat."),
            401,
        )
    return RedirectResponse(login_redirect_target(request), status_code=303)


async def _forbidden(request: Request, exc: ForbiddenError) -> Response:
    return error_page(
        request, catalogue_of(request).gettext("Not allowed"), exc.message, 403
    )


async def _csrf_refused(request: Request, exc: CsrfError) -> Response:
    gettext = catalogue_of(request).gettext
    return error_page(
        request,
        gettext("Form refused"),
        gettext(
            "The form was not sent from this console's page, or the page "
            "is older than your session. Reload the page and try again."
        ),
        403,
    )


async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
    gettext = catalogue_of(request).gettext
    return error_page(
        request,
        gettext("Error %(status)d") % {"status": exc.status_code},
        # The console's own details come translated; Starlette's are looked up.
        gettext(str(exc.detail)),
        exc.status_code,
    )


def not_found(text: str) -> StarletteHTTPException:
    return StarletteHTTPException(status_code=404, detail=text)


# Starlette's own error details, for the error page to translate.
_STARLETTE_DETAILS = (N_("Not Found"), N_("Method Not Allowed"))
