"""The browser session a robot's setup opens: one Chromium per worker, a fresh
context per setup, a page recycled every N items, a Playwright trace per item kept
only when the item ends in a system exception."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from robotlib.errors import TargetSystemError
from robotlib.steps._browser_app import NETWORK_SCRIPT, AppDialogs
from robotlib.steps._notices import dismiss_script, report_dismissal
from robotlib.traces import scrub_trace

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        Frame,
        Page,
        Request,
        Response,
        Route,
    )

    from robotlib.context import Context
    from robotlib.queue.models import WorkItem

__all__ = ["BrowserOptions", "BrowserSession", "Notice", "TracePolicy", "open_browser"]

#: Which attempts of an item record a Playwright trace (see BrowserOptions.trace).
TracePolicy = Literal["retries", "always", "off"]

log = structlog.get_logger("robotlib.browser")

_SHARED_KEY = "robotlib.browser"
#: What block_resources keeps from loading: images, fonts and media.
_BLOCKED_TYPES = "png jpg jpeg gif webp svg ico woff woff2 ttf otf mp4 webm".split()
_BLOCKED = re.compile(rf"\.({'|'.join(_BLOCKED_TYPES)})(\?.*)?$")
#: The same, as DevTools' resource types.
_BLOCKED_RESOURCE_TYPES = ("Image", "Font", "Media")


class Notice(BaseModel):
    """A notice dialog the session dismisses as soon as it shows.

    The dialog is matched by its accessible name (``aria-label``, the text of
    ``aria-labelledby``, or its heading; case and spacing ignored, part of the name
    is enough), the button by its text or ``aria-label`` (whole text). A script in
    the page clicks the button, so it costs the robot's actions nothing.
    """

    model_config = ConfigDict(frozen=True)

    dialog: str = Field(description="The dialog's accessible name.")
    button: str = Field(description="The button that dismisses it.")


class BrowserOptions(BaseModel):
    """How a robot's browser behaves. Every field has a safe default.

    Example:
        >>> BrowserOptions(base_url="http://127.0.0.1:8765", recycle_every=25)
        BrowserOptions(...)  # doctest: +SKIP
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = None
    name: str = Field(
        default="the web application",
        description="What business messages call the application: 'the EPJ'.",
    )
    headless: bool | None = Field(
        default=None, description="None: the project's setting (headless by default)."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Actions and waits.")
    navigation_timeout_s: float = Field(default=30.0, gt=0)
    recycle_every: int = Field(
        default=25,
        ge=0,
        description="Open a fresh page after this many items (0: never). A long-lived "
        "page grows by megabytes per navigation; a fresh one keeps memory flat.",
    )
    trace: TracePolicy = Field(
        default="retries",
        description="Which attempts record a Playwright trace, saved when the attempt "
        "ends in a system exception: 'retries' (an item's attempts after its first "
        "system exception: the success path pays nothing), 'always' (every attempt; "
        "it slows a robot by about a quarter) or 'off'.",
    )
    block_resources: bool = Field(
        default=True,
        description="Do not load images, fonts and media: forms do not need them.",
    )
    mask: tuple[str, ...] = Field(
        default=(),
        description="Selectors of patient-data fields blacked out in screenshots.",
    )
    notices: tuple[Notice, ...] = (Notice(dialog="System notice", button="OK"),)
    application: bool = Field(
        default=False,
        description="A single-page application: fill_form waits for it to settle "
        "and reads every field back (typing again once what it discarded), and clicks "
        "wait for its requests to finish.",
    )
    settle_s: float = Field(
        default=0.3,
        ge=0,
        description="How long no fetch/XHR must be in flight for the application to "
        "count as idle.",
    )
    busy: str | None = Field(
        default=None, description="A selector of the application's busy indicator."
    )
    dialogs: AppDialogs | None = Field(
        default=None,
        description="The application's modal dialogs: a step they block fails with "
        "their text, as a business or system exception by their kind.",
    )
    login_path: str = Field(
        default="/login", description="A page at this path means the session expired."
    )
    transient_retries: int = Field(
        default=2,
        ge=0,
        description="How many times a page that answered HTTP 5xx to a GET is loaded "
        "again (0.5 s, then 1 s later), and a login that failed that way is tried "
        "again, before the step fails. A POST is never sent again by the steps: "
        "whether it went through is unknown.",
    )

    def open(self, ctx: Context) -> BrowserSession:
        """Open a session with these options; log in to the robot's ``login``.

        The engine calls it before setup when a robot declares
        ``Robot(browser=BrowserOptions(...))``.
        """
        from robotlib.steps.browser import open_declared

        return open_declared(ctx, self)

    @field_validator("trace", mode="before")
    @classmethod
    def _trace_flag(cls, value: Any) -> Any:
        """``trace=True`` / ``False`` as before: every attempt, or none."""
        if isinstance(value, bool):
            return "always" if value else "off"
        return value


class BrowserSession:
    """A browser context and its page, registered with the engine as an application.

    Use ``session.page`` for anything the steps do not cover: it is plain
    Playwright, and the framework's logging, screenshots and retries still apply.
    """

    name = "browser"

    def __init__(self, browser: Browser, options: BrowserOptions) -> None:
        self.options = options
        self._browser = browser
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._items = 0
        self._tracing = False
        self._chunk_open = False
        self._server_error: str | None = None
        #: The GET that answered the last server error, if it was one.
        self._failed_get: str | None = None
        #: The navigation the system sent to the login page: (method, URL).
        self._expired_request: tuple[str, str] | None = None
        self.relogin: Any = None  # set by the login step: log in again
        #: What fill_form learned a field to be ("select", "text", ...), by page
        #: (path, digits dropped) and field, so that the next row's form takes
        #: one round trip per field.
        self.field_kinds: dict[tuple[str, str], str] = {}
        #: The iframes the steps act in, outermost first (see ``browser.in_frame``).
        self.frames: list[str] = []
        #: An application's fetch/XHR requests this item, and their statuses.
        self._calls: list[Request] = []
        self._call_status: dict[Request, int] = {}

    # The page ----------------------------------------------------------------------

    @property
    def context(self) -> BrowserContext:
        """The browser context, created on first use."""
        if self._context is None:
            context = self._browser.new_context(
                base_url=self.options.base_url, accept_downloads=True
            )
            context.set_default_timeout(self.options.timeout_s * 1000)
            context.set_default_navigation_timeout(
                self.options.navigation_timeout_s * 1000
            )
            context.add_init_script(NETWORK_SCRIPT)
            script = dismiss_script(self.options.notices)
            if script is not None:
                context.add_init_script(script)
            self._context = context
        return self._context

    @property
    def page(self) -> Page:
        """The current page, opened on first use (and after a recycle)."""
        if self._page is None:
            page = self.context.new_page()
            if self.options.block_resources:
                _block_resources(self.context, page)
            page.on("response", self._watch_response)
            if self.options.application:
                page.on("request", self._watch_call)
            if self.options.notices:
                page.on("console", report_dismissal)
            self._page = page
        return self._page

    @property
    def scope(self) -> Page | Frame:
        """Where the steps look: the page, or the frame ``browser.in_frame`` entered.

        The frame is found again on every use (waiting for its iframe), so a frame
        the application replaced or reloaded is the new one, not a detached one.
        """
        scope: Page | Frame = self.page
        for selector in self.frames:
            handle = scope.locator(selector).first.element_handle()
            frame = handle.content_frame()
            if frame is None:
                raise TargetSystemError(f"{selector} is not a frame")
            scope = frame
        return scope

    def recycle(self) -> None:
        """Replace the page with a fresh one in the same context (the login stays)."""
        if self._page is not None:
            url = self._page.url
            self._page.close()
            self._page = None
            log.debug("page_recycled", items=self._items)
            if url.startswith("http"):
                self.page.goto(url)

    def check(self) -> None:
        """Raise if the last navigation answered with a server error, or expired."""
        self.check_server_error()
        if self.on_login_page():
            raise TargetSystemError("the session expired (the login page is shown)")

    def check_server_error(self) -> None:
        """Raise if a navigation since the last check answered with HTTP 5xx."""
        if self._server_error is not None:
            message, self._server_error = self._server_error, None
            self._failed_get = None
            raise TargetSystemError(message)

    def take_reloadable_error(self) -> str | None:
        """The pending server error if the page shown is the GET that answered it.

        Loading that page again is safe: a GET changes nothing. The error is
        cleared; None when there is none or it came from a POST.
        """
        if self._server_error is None or self._failed_get is None:
            return None
        if _without_query(self.page.url) != self._failed_get:
            return None
        message, self._server_error, self._failed_get = self._server_error, None, None
        return message

    def take_expired_request(self) -> tuple[str, str] | None:
        """The (method, URL) the system answered with its login page, if any."""
        expired, self._expired_request = self._expired_request, None
        return expired

    def on_login_page(self) -> bool:
        """Whether the page shows the login page (the session has expired).

        An application shows its login form at any URL: there, a visible password
        field is the login page.
        """
        if self._page is None:
            return False
        if self.options.application:  # one URL for every view: a login form shows
            return self._page.locator("input[type=password]").first.is_visible()
        path = re.sub(r"^[a-z]+://[^/]+", "", self._page.url)
        return path.split("?")[0].rstrip("/") == self.options.login_path.rstrip("/")

    def form_key(self, field: str) -> tuple[str, str]:
        """The key of ``field`` on the current page in :attr:`field_kinds`."""
        path = re.sub(r"^[a-z]+://[^/]+", "", self.scope.url).split("?")[0]
        return re.sub(r"\d+", "#", path), field

    def mark_calls(self) -> int:
        """A mark in the application's requests, for :meth:`calls_since`."""
        return len(self._calls)

    def calls_since(self, mark: int) -> list[tuple[str, str, int | None]]:
        """The application's requests since ``mark``: (method, URL, status or None)."""
        return [(r.method, r.url, self._call_status.get(r)) for r in self._calls[mark:]]

    def _watch_call(self, request: Request) -> None:
        if request.resource_type in ("fetch", "xhr"):
            self._calls.append(request)

    def _watch_response(self, response: Response) -> None:
        request = response.request
        if request.resource_type in ("fetch", "xhr") and self.options.application:
            self._call_status[request] = response.status
        if not request.is_navigation_request():
            return
        if response.status >= 500:
            url = _without_query(response.url)
            self._server_error = f"HTTP {response.status} from {request.method} {url}"
            self._failed_get = url if request.method == "GET" else None
        elif 300 <= response.status < 400:
            location = response.headers.get("location", "")
            path = re.sub(r"^[a-z]+://[^/]+", "", location).split("?")[0]
            if path.rstrip("/") == self.options.login_path.rstrip("/"):
                self._expired_request = (request.method, request.url)

    # The engine's hooks ----------------------------------------------------------

    def item_started(self, item: WorkItem) -> None:
        """Start recording this attempt's trace, if the trace policy asks for it."""
        self._server_error = self._failed_get = self._expired_request = None
        self._calls.clear()
        self._call_status.clear()
        policy = self.options.trace
        if policy == "always" or (policy == "retries" and item.attempts > 1):
            if not self._tracing:
                self.context.tracing.start(screenshots=True, snapshots=True)
                self._tracing = True
            self.context.tracing.start_chunk(title=f"item {item.id}")
            self._chunk_open = True

    def item_finished(self, succeeded: bool) -> None:
        """Discard the item's trace; recycle the page every ``recycle_every`` items."""
        if self._chunk_open:
            self.context.tracing.stop_chunk()
            self._chunk_open = False
        self._items += 1
        every = self.options.recycle_every
        if every and self._items % every == 0:
            self.recycle()

    def save_trace(self, path: Path) -> Path | None:
        """Save the failed item's trace chunk to ``path``, its secret fields masked.

        Password fields' values, what was typed into a field labelled like a
        password, token or secret, and cookie and authorization headers are
        replaced by ``***`` (:func:`robotlib.traces.scrub_trace`), so a trace
        saved by anyone is safe to keep. The engine scrubs it again with the text
        of every registered secret hidden too.
        """
        if not self._chunk_open:
            return None
        self.context.tracing.stop_chunk(path=path)
        self._chunk_open = False
        scrub_trace(path)
        return path

    def pause(self) -> None:
        """Open the Playwright Inspector on the page and wait (a headed browser)."""
        if self._page is not None and not self._page.is_closed():
            self._page.pause()

    def screenshot(self, path: Path) -> Path | None:
        """Save the page with the configured patient-data fields masked."""
        if self._page is None or self._page.is_closed():
            return None
        masks = [self._page.locator(selector) for selector in self.options.mask]
        self._page.screenshot(path=path, full_page=True, mask=masks, timeout=5_000)
        return path

    def close(self) -> None:
        """Close the context (the worker's browser stays for the next setup)."""
        if self._context is not None:
            if self._tracing:
                self._context.tracing.stop()
            self._context.close()
        self._context = self._page = None
        self._tracing = self._chunk_open = False


def open_browser(ctx: Context, options: BrowserOptions | None = None) -> BrowserSession:
    """Open a browser session for this setup and register it with the engine.

    The worker's Chromium starts on first use and lives until the run ends; every
    setup (and every restart after a system exception) gets a fresh context.

    Example:
        >>> def setup(ctx):  # doctest: +SKIP
        ...     ctx.state["browser"] = open_browser(ctx, BrowserOptions(base_url=URL))
    """
    options = options or BrowserOptions()
    if ctx.settings.browser_trace is not None:  # rpa run --trace
        options = options.model_copy(update={"trace": ctx.settings.browser_trace})
    session = BrowserSession(_worker_browser(ctx, options), options)
    ctx.open_application(session)
    return session


def _worker_browser(ctx: Context, options: BrowserOptions) -> Browser:
    """The Chromium of this worker: launched once per run, closed at its end."""
    browser: Browser | None = ctx.shared.get(_SHARED_KEY)
    if browser is not None and browser.is_connected():
        return browser
    from robotlib.launcher import launch_chromium, start_playwright

    playwright = start_playwright()
    try:
        browser = launch_chromium(
            playwright,
            settings=ctx.settings,
            # headed when the project says so (rpa run --headed), else as the robot
            headless=ctx.settings.headless and options.headless is not False,
            slow_mo_ms=ctx.settings.browser_slowmo_ms,
        )
    except BaseException:
        playwright.stop()
        raise
    ctx.shared[_SHARED_KEY] = browser
    log.info("browser_started", version=browser.version)

    def stop() -> None:
        browser.close()
        playwright.stop()

    ctx.at_run_end(stop)
    return browser


def _block_resources(context: BrowserContext, page: Page) -> None:
    """Keep images, fonts and media from loading, in the browser itself.

    Chromium's request interception (DevTools ``Fetch``) pauses only requests of
    those types, by the type the page asked for (an image without ``.png`` in its
    address too), and the session fails each at once. The page's other requests
    are not seen at all. A Playwright route pauses every request of the page for
    a round trip to Python, which made a form row about a fifth slower; DevTools'
    ``Network.setBlockedURLs`` needs the Network domain on, which sends every
    network event of the page to Python (116 messages per lab_results row). The
    route remains the way for a browser without DevTools.
    """
    from playwright.sync_api import Error as PlaywrightError

    try:
        devtools = context.new_cdp_session(page)

        def fail(event: dict[str, Any]) -> None:
            try:
                devtools.send(
                    "Fetch.failRequest",
                    {"requestId": event["requestId"], "errorReason": "BlockedByClient"},
                )
            except PlaywrightError as exc:  # the page closed meanwhile
                log.debug("resource_block_skipped", reason=str(exc).splitlines()[0])

        devtools.on("Fetch.requestPaused", fail)
        patterns = [
            {"resourceType": kind, "requestStage": "Request"}
            for kind in _BLOCKED_RESOURCE_TYPES
        ]
        devtools.send("Fetch.enable", {"patterns": patterns})
    except PlaywrightError:
        page.route(_BLOCKED, _abort)


def _abort(route: Route) -> None:
    route.abort()


def _without_query(url: str) -> str:
    return re.sub(r"[?#].*$", "", url)
