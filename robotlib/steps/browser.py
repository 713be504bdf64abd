"""Browser steps on top of Playwright: log in, navigate, fill forms, read tables.

Every step takes the robot's :class:`BrowserSession` (``session(ctx)``: the browser
the robot declares with ``Robot(browser=BrowserOptions(...), login="system")``, or
one its setup opened with :func:`open_browser`), is logged with its name and
duration, turns Playwright's timeouts into :class:`~robotlib.errors.StepTimeoutError`
and its other errors into :class:`~robotlib.errors.TargetSystemError` (both system
exceptions: the item is retried), and checks that the page did not answer with a
server error. For anything else, ``session.page`` is the plain Playwright page.

Example:
    >>> def register(ctx, item):  # doctest: +SKIP
    ...     page = session(ctx)
    ...     goto(page, "/patients/search")
    ...     fill_form(page, {"CPR number": item.cpr})
    ...     click(page, "Search")
    >>> robot = Robot(..., browser=BrowserOptions(mask=("#cpr",)), login="sandbox")
    ... # doctest: +SKIP
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from robotlib.errors import (
    ConfigurationError,
    CredentialsError,
    StepTimeoutError,
    TargetSystemError,
)
from robotlib.retrying import retrying
from robotlib.steps._browser_app import (
    Answer,
    AppDialogs,
    check_dialogs,
    click_for_response,
    dismiss_dialog,
    evaluate,
    fill_application_form,
    in_frame,
    is_shown,
    press,
    read_field,
    read_fields,
    repeat_reads,
    texts,
    wait_until,
    wait_until_idle,
)
from robotlib.steps._browser_checks import (
    ColumnsCheck,
    PageCheck,
    expect_columns,
    expect_elements,
    expect_page,
)
from robotlib.steps._browser_fields import clickable, field, put
from robotlib.steps._browser_session import (
    BrowserOptions,
    BrowserSession,
    Notice,
    open_browser,
)
from robotlib.steps._browser_tables import (
    expect_accepted,
    expect_option,
    expect_row,
    find_row,
    options,
    read_table,
)
from robotlib.steps._playwright_errors import playwright_errors
from robotlib.steps._registry import step

if TYPE_CHECKING:
    from robotlib.context import Context
    from robotlib.credentials import SystemCredentials

__all__ = [
    "Answer",
    "AppDialogs",
    "BrowserOptions",
    "BrowserSession",
    "ColumnsCheck",
    "Notice",
    "PageCheck",
    "check_dialogs",
    "click",
    "click_for_response",
    "download",
    "evaluate",
    "expect_accepted",
    "expect_columns",
    "expect_elements",
    "expect_option",
    "expect_page",
    "expect_row",
    "expect_text",
    "fill_form",
    "find_row",
    "goto",
    "in_frame",
    "is_shown",
    "login",
    "open_browser",
    "options",
    "press",
    "read_field",
    "read_fields",
    "read_table",
    "screenshot",
    "select",
    "session",
    "texts",
    "upload",
    "wait_for",
    "wait_until",
    "wait_until_idle",
]

log = structlog.get_logger("robotlib.browser")


def session(ctx: Context) -> BrowserSession:
    """The robot's browser session: the one open in this run, else opened now.

    A robot that declares ``Robot(browser=BrowserOptions(...), login="sandbox")``
    has its browser opened and logged in before setup; a robot whose setup calls
    :func:`open_browser` gets that one.

    Raises:
        ConfigurationError: no browser is open and the robot declares none.
    """
    for application in reversed(ctx.applications):
        if isinstance(application, BrowserSession):
            return application
    options = ctx.robot.browser
    if not isinstance(options, BrowserOptions):
        raise ConfigurationError(
            f"robot {ctx.robot.name!r} has no browser: declare one with "
            "Robot(browser=browser.BrowserOptions(...)), or open one in setup"
        )
    return open_declared(ctx, options)


def open_declared(ctx: Context, options: BrowserOptions) -> BrowserSession:
    """Open the robot's declared browser; log in to ``ctx.robot.login`` if named."""
    system = ctx.robot.login
    credentials = ctx.credentials(system) if system is not None else None
    if credentials is not None and options.base_url is None and credentials.url:
        options = options.model_copy(update={"base_url": credentials.url})
    opened = open_browser(ctx, options)
    if credentials is not None:
        login(opened, credentials)
    return opened


@step(log_args=False)
@playwright_errors
def login(
    session: BrowserSession,
    credentials: SystemCredentials,
    *,
    username_label: str = "Username",
    password_label: str = "Password",
    submit: str = "Log in",
) -> None:
    """Log in through the system's login form and remember how to do it again.

    Args:
        session: the browser session.
        credentials: ``ctx.credentials("system")``; the login page is the
            session's ``login_path`` under its ``base_url`` (usually the
            credentials' ``url``).
        username_label: the label of the user-name field.
        password_label: the label of the password field.
        submit: the name of the button that logs in.

    Raises:
        CredentialsError: the system refused the login; the message is its own.
            Logging in again with the same password would only lock the account,
            so the run stops (exit code 2) instead of retrying.
    """
    if credentials.username is None or credentials.password is None:
        raise CredentialsError(
            f"credentials of {credentials.system!r} need a username and a password"
        )
    retrying(
        (TargetSystemError, StepTimeoutError),
        attempts=session.options.transient_retries + 1,
        wait=lambda failed: _pause_s(failed - 1),
        event="login_retried",
    )(_log_in_once, session, credentials, username_label, password_label, submit)
    session.relogin = functools.partial(
        login.__wrapped__,  # type: ignore[attr-defined]
        session,
        credentials,
        username_label=username_label,
        password_label=password_label,
        submit=submit,
    )


def _log_in_once(
    session: BrowserSession,
    credentials: SystemCredentials,
    username_label: str,
    password_label: str,
    submit: str,
) -> None:
    assert credentials.username is not None and credentials.password is not None
    page = session.page
    response = page.goto(session.options.login_path)
    session.take_expired_request()
    if session.options.application:  # a form rendered twice loses what was typed
        wait_until_idle(session)
    if response is not None and response.status >= 500:
        session.check_server_error()  # clear it: this raise says it
        raise TargetSystemError(f"HTTP {response.status} from the login page")
    page.get_by_label(username_label, exact=True).fill(credentials.username)
    page.get_by_label(password_label, exact=True).fill(
        credentials.password.get_secret_value()
    )
    mark = session.mark_calls()
    page.get_by_role("button", name=submit, exact=True).click()
    if session.options.application:
        wait_until_idle(session)
    else:
        page.wait_for_load_state()
    session.check_server_error()
    if session.on_login_page():
        if any(
            method == "POST" and status is not None and 200 <= status < 300
            for method, _, status in session.calls_since(mark)
        ):  # the login was taken, and the session is gone again
            dismiss_dialog(session)  # the login is tried again
            raise TargetSystemError(
                "the login was accepted, but the session ended at once"
            )
        raise CredentialsError(
            f"login to {credentials.system!r} as {credentials.username!r} was "
            f"refused: {_refusal(session)}"
        )
    session.check()


def _refusal(session: BrowserSession) -> str:
    """Why the login form came back: its alert, or an application's dialog.

    Raises:
        TargetSystemError: no reason shown, or an error dialog (a server error: the
            login is tried again, where a refusal is not).
    """
    if session.options.application:
        dialog = dismiss_dialog(session)
        if dialog is not None and not dialog.business:
            raise dialog.error(session.options.name)
        if dialog is not None:
            return dialog.text
    alert = session.page.get_by_role("alert")
    if not alert.count():
        raise TargetSystemError("the login page came back without a reason")
    return alert.first.inner_text()


@step
@playwright_errors
def goto(session: BrowserSession, url: str) -> None:
    """Open ``url`` (relative to the base URL).

    A page that answers HTTP 5xx is loaded again (``transient_retries`` times); an
    expired session is logged in again and the page opened again. On an
    application it returns once the application is idle.
    """
    if not session.options.application:
        session.page.goto(url)
        _settle(session)
        return
    what = f"goto {_path(url)!r}"
    repeat_reads(session, lambda: _open(session, url), what=what)
    if session.relogin is not None and session.on_login_page():
        session.relogin()  # the client shows its login form at any URL
        log.warning("session_renewed", page=_path(url))
        repeat_reads(session, lambda: _open(session, url), what=what)
    _settle(session)


def _open(session: BrowserSession, url: str) -> None:
    session.page.goto(url)


def _settle(session: BrowserSession) -> None:
    """After a navigation: reload a GET that failed, log in again, then check."""
    page = session.page
    retries = session.options.transient_retries
    for attempt in range(retries + 1):
        expired = session.take_expired_request()
        if expired is not None and session.relogin is not None:
            method, url = expired
            session.relogin()
            if method != "GET":
                raise TargetSystemError(
                    f"the session had expired: {method} {_path(url)} was not "
                    "accepted (logged in again)"
                )
            log.warning("session_renewed", page=_path(url))
            page.goto(url)
            continue
        if attempt == retries:
            break
        failed = session.take_reloadable_error()
        if failed is None:
            break
        log.warning("page_reloaded", error=failed, attempt=attempt + 1)
        time.sleep(_pause_s(attempt))
        page.reload()
    session.check()


def _pause_s(attempt: int) -> float:
    """The pause before trying again after ``attempt`` (0-based) failed."""
    return 0.5 * 2.0**attempt


def _path(url: str) -> str:
    return re.sub(r"^[a-z]+://[^/]+|[?#].*$", "", url)


@step
@playwright_errors
def fill_form(session: BrowserSession, fields: Mapping[str, Any]) -> None:
    """Fill fields found by label, ``name`` or selector; selects and checkboxes too.

    Values are written as people would type them: dates as ``YYYY-MM-DD``,
    datetimes as ``YYYY-MM-DDTHH:MM`` (what date and datetime-local inputs take),
    booleans check or uncheck.

    Example:
        >>> fields = {"Test code": "NPU02319", "Value": "7,5"}
        >>> fill_form(session, fields)  # doctest: +SKIP
    """
    if session.options.application:
        fill_application_form(session, fields)
        return
    for key, value in fields.items():
        found = field(session, key)
        if isinstance(value, bool):
            found.set_checked(value)
        else:
            put(session, key, found, value)


@step
@playwright_errors
def select(
    session: BrowserSession, label: str, value: str, *, by_label: bool = False
) -> None:
    """Choose ``value`` (an option's value or text) in the select labelled ``label``.

    With ``by_label=True`` only an option's text counts: for lists whose values
    are something else (``{"code": "NPU02319"}``) and may look like another
    option's text.
    """
    found = field(session, label)
    if by_label:
        found.select_option(label=value)
    else:
        found.select_option(value)


@step
@playwright_errors
def click(session: BrowserSession, target: str, *, role: str | None = None) -> None:
    """Click a button or link by its name, or an element by selector.

    Without ``role``: the first button or link of that name on the page, waiting
    for one to appear. Another element by its text: ``"text=Worklist"``.

    When the click opens a page (a link, or the page a form's POST redirects to)
    that answers HTTP 5xx to its GET, that page is loaded again, as :func:`goto`
    does. A form's POST is never sent again: if it answers 5xx, or the session had
    expired, the step fails (logged in again, in the second case) and the item is
    retried, its precheck first.
    """
    scope = session.scope

    def act() -> None:
        if role is not None:
            found = scope.get_by_role(role, name=target, exact=True)  # type: ignore[arg-type]
            found.first.click()
        else:
            clickable(session, target).click()
        scope.wait_for_load_state()

    if session.options.application:  # idle first: then an ended session shows
        repeat_reads(session, act, what=f"click {target!r}")
    else:
        act()
    _settle(session)


@step
@playwright_errors
def wait_for(
    session: BrowserSession,
    *,
    text: str | None = None,
    selector: str | None = None,
    network_idle: bool = False,
    timeout_s: float | None = None,
) -> None:
    """Wait until a text or an element is visible, or the network is idle."""
    page = session.scope
    timeout = (timeout_s or session.options.timeout_s) * 1000
    if text is not None:
        page.get_by_text(text).first.wait_for(state="visible", timeout=timeout)
    if selector is not None:
        page.locator(selector).first.wait_for(state="visible", timeout=timeout)
    if network_idle:
        page.wait_for_load_state("networkidle", timeout=timeout)


@step
@playwright_errors
def expect_text(
    session: BrowserSession,
    text: str,
    *,
    selector: str | None = None,
    timeout_s: float | None = None,
) -> str:
    """Wait for ``text`` (in ``selector``, if given) and return the element's text.

    Raises:
        StepTimeoutError: the text did not appear in time.
    """
    page = session.scope
    scope = page.locator(selector) if selector else page.locator("body")
    found = scope.get_by_text(text).first
    found.wait_for(timeout=(timeout_s or session.options.timeout_s) * 1000)
    return found.inner_text()


@step
@playwright_errors
def download(session: BrowserSession, target: str, *, folder: Path) -> Path:
    """Click ``target`` (a link or button name, or a selector) and save the download.

    Returns:
        The saved file, in ``folder`` (the run folder: ``ctx.run_dir``).
    """
    page = session.page
    with page.expect_download() as info:
        clickable(session, target).click()
    name = re.sub(r"[^\w.-]", "_", info.value.suggested_filename) or "download"
    path = folder / name
    info.value.save_as(path)
    return path


@step
@playwright_errors
def upload(session: BrowserSession, label: str, path: Path) -> None:
    """Put a file in the file input labelled ``label``."""
    field(session, label).set_input_files(path)


@step
def screenshot(session: BrowserSession, path: Path) -> Path | None:
    """Save the page, patient-data fields masked, to ``path``."""
    return session.screenshot(path)
