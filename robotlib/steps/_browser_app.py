"""Steps for single-page applications: pages that load once and then work over XHR.

A page step waits for a page to load; an application has loaded long ago and
changes under the robot: it fetches, renders again, shows a modal dialog. These
steps wait for what such an application does (no request in flight, a response, a
condition), and read what it shows *now* without waiting:

```python
browser.click(session, "Search")
answer = browser.click_for_response(session, "Search", url="/api/patients")
hits = answer.json["hits"]  # what the server said, not the list still on screen
browser.wait_until_idle(session)
if browser.is_shown(session, "[role=alertdialog]"):
    ...
values = browser.read_fields(session, ["Value", "Unit"])
```

``BrowserOptions(application=True)`` makes ``fill_form`` wait for the application
to settle and then read back every field: a value the application discarded (a
form rendered again after its defaults arrived) is typed again once, else the step
fails, so that a lost value is never saved. ``BrowserOptions(dialogs=AppDialogs())``
turns the application's own modal dialogs into business or system exceptions.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field

from robotlib.errors import BusinessRuleError, StepTimeoutError, TargetSystemError
from robotlib.steps._browser_fields import SELECTOR, as_text, clickable, field, put
from robotlib.steps._playwright_errors import playwright_errors
from robotlib.steps._registry import step

if TYPE_CHECKING:
    from playwright.sync_api import Locator

    from robotlib.steps._browser_session import BrowserSession

__all__ = [
    "Answer",
    "AppDialogs",
    "check_dialogs",
    "click_for_response",
    "dismiss_dialog",
    "evaluate",
    "fill_application_form",
    "in_frame",
    "is_shown",
    "open_dialog_error",
    "press",
    "read_field",
    "read_fields",
    "repeat_reads",
    "texts",
    "wait_until",
    "wait_until_idle",
]

log = structlog.get_logger("robotlib.browser")
_waits = itertools.count(1)

#: Counts the page's fetch and XMLHttpRequest calls in flight (an init script:
#: it runs before the application's own code in every document).
NETWORK_SCRIPT = """
(() => {
  if (window.__rpaNet) return;
  const net = window.__rpaNet = { pending: 0, last: Date.now() };
  const begin = () => { net.pending += 1; net.last = Date.now(); };
  const end = () => { net.pending -= 1; net.last = Date.now(); };
  const fetch = window.fetch;
  if (fetch) {
    window.fetch = function (...args) {
      begin();
      return fetch.apply(this, args).finally(end);
    };
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    begin();
    this.addEventListener("loadend", end, { once: true });
    return send.apply(this, args);
  };
})();
"""

#: Idle: no request in flight, none for ``settleMs`` since the later of the last
#: one and the start of this wait (an action's first request may come a moment
#: after the click), and no busy indicator visible.
_IDLE = """([settleMs, busy, wait]) => {
  const net = window.__rpaNet;
  if (net) {
    if (net.wait !== wait) { net.wait = wait; net.since = Date.now(); }
    const quiet = Date.now() - Math.max(net.last, net.since);
    if (net.pending > 0 || quiet < settleMs) return false;
  }
  if (!busy) return true;
  return ![...document.querySelectorAll(busy)].some(
    (e) => !e.hidden && e.getClientRects().length > 0);
}"""

_SHOWN_VALUE = """e => e.tagName === 'SELECT'
  ? [e.value, e.selectedIndex >= 0 ? e.options[e.selectedIndex].text.trim() : '']
  : e.type === 'checkbox' || e.type === 'radio'
    ? [String(e.checked), String(e.checked)] : [e.value, e.value]"""


class AppDialogs(BaseModel):
    """An application's own modal dialogs, and what each kind means for the item.

    A dialog of a ``business`` kind (by its ``kind_attribute``) is a
    :class:`~robotlib.errors.BusinessRuleError` with its text; any other (an
    error, a dialog without a kind) a :class:`~robotlib.errors.TargetSystemError`.
    Either way it is dismissed first, so that the next item finds a usable page.

    Example:
        >>> AppDialogs(business=("validation",), dismiss="OK")
        AppDialogs(...)  # doctest: +SKIP
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    selector: str = "[role=alertdialog], [role=dialog][aria-modal=true]"
    kind_attribute: str = Field(
        default="data-kind", description="The attribute that names a dialog's kind."
    )
    business: tuple[str, ...] = Field(
        default=("validation", "warning"),
        description="Kinds whose text an operator acts on: business exceptions.",
    )
    dismiss: str = Field(default="OK", description="The name of the closing button.")


@dataclass(frozen=True)
class Answer:
    """An answer of the application's server: its status and JSON body (or None)."""

    status: int
    url: str
    json: Any


@step
@playwright_errors
def wait_until_idle(
    session: BrowserSession,
    *,
    settle_s: float | None = None,
    busy: str | None = None,
    timeout_s: float | None = None,
) -> None:
    """Wait until no fetch/XHR has been in flight for ``settle_s`` and no busy
    indicator shows.

    ``wait_for(network_idle=True)`` returns at once on a page that loaded long ago;
    this counts the application's own requests. The quiet time counts from the
    start of the wait too, so a wait right after a click also sees the requests
    the click starts a moment later: each wait takes at least ``settle_s``.

    Args:
        settle_s: how long the network must have been quiet (default: the
            session's ``BrowserOptions.settle_s``).
        busy: a selector of the application's busy indicator (default:
            ``BrowserOptions.busy``); idle only while none of it is visible.
        timeout_s: give up after this long (default: the session's timeout).

    Raises:
        StepTimeoutError: the application kept working for longer.

    Example:
        >>> wait_until_idle(session, busy="#busy")  # doctest: +SKIP
    """
    options = session.options
    settle_ms = 1000 * (options.settle_s if settle_s is None else settle_s)
    indicator = busy if busy is not None else options.busy
    session.page.wait_for_function(
        _IDLE,
        arg=[settle_ms, indicator, next(_waits)],
        polling=50,
        timeout=1000 * (timeout_s or options.timeout_s),
    )


@step
@playwright_errors
def click_for_response(
    session: BrowserSession,
    target: str,
    *,
    url: str,
    method: str | None = None,
    timeout_s: float | None = None,
) -> Answer:
    """Click ``target`` and return the server's answer to the request it causes.

    Read counts and ids from the answer, not from the screen, which may still show
    the previous search for a moment. On an application
    (``BrowserOptions(application=True)``) it returns once the application is
    idle again, so that a dialog the answer opened is there to check.

    Args:
        target: a button's or link's name, or a selector.
        url: a part of the request's URL (``"/api/patients"``), or a regular
            expression in ``re:...``.
        method: the request's method, if it matters (``"POST"``).

    Raises:
        StepTimeoutError: no such request answered in time.

    Example:
        >>> hits = click_for_response(session, "Search", url="/api/patients").json
        ... # doctest: +SKIP
    """
    pattern = re.compile(url[3:]) if url.startswith("re:") else None

    def wanted(response: Any) -> bool:
        request = response.request
        if method is not None and request.method != method.upper():
            return False
        return bool(pattern.search(response.url)) if pattern else url in response.url

    timeout = 1000 * (timeout_s or session.options.timeout_s)
    answers: list[Any] = []

    def act() -> None:
        with session.page.expect_response(wanted, timeout=timeout) as info:
            clickable(session, target).click()
        answers.append(info.value)

    if session.options.application:  # wait for what the client does with it
        repeat_reads(session, act, what=f"click_for_response {target!r}")
        session.check()  # an ended session: the client shows its login form
    else:
        act()
    answer = answers[-1]
    try:
        body = answer.json()
    except Exception:  # not JSON: an error page
        body = None
    return Answer(status=answer.status, url=answer.url, json=body)


def repeat_reads(
    session: BrowserSession, action: Callable[[], None], what: str
) -> None:
    """Do ``action`` on an application, wait until idle; a failed read is done again.

    When every request the action caused was a GET (it only read) and one of them
    answered HTTP 5xx, the client's error dialog is dismissed and the read done
    again, up to ``transient_retries`` times, as a page step loads a failed page
    again: an action that changed the address (a link to ``#/patients/7``) by
    loading that address again (clicking the link again would not change it),
    any other by doing it again. An action that sent anything but GETs is never
    repeated: its error stays for the caller.

    Raises:
        TargetSystemError: the read failed every time (the view it shows is not
            the one asked for: reading it could mislead).
    """
    retries = session.options.transient_retries
    redo = action
    for attempt in range(retries + 1):
        mark, before = session.mark_calls(), session.page.url
        redo()
        wait_until_idle(session)
        if session.page.url != before:  # the address names the view now
            redo = _reload_page(session)
        calls = session.calls_since(mark)
        failed = [(m, u, s) for m, u, s in calls if s is not None and s >= 500]
        if not failed or any(m != "GET" for m, _, _ in calls):
            return
        method, url, status = failed[0]
        path = re.sub(r"^[a-z]+://[^/]+|[?#].*$", "", url)
        reason = f"HTTP {status} from {method} {path}"
        error = open_dialog_error(session)
        if isinstance(error, BusinessRuleError):
            raise error
        if attempt == retries:
            raise TargetSystemError(f"{what}: {reason}, {attempt + 1} times")
        log.warning("request_repeated", action=what, error=reason, attempt=attempt + 1)
        time.sleep(0.5 * 2.0**attempt)


def _reload_page(session: BrowserSession) -> Callable[[], None]:
    def reload() -> None:
        session.page.reload()

    return reload


@step
@playwright_errors
def wait_until(
    session: BrowserSession,
    condition: str,
    arg: Any = None,
    *,
    what: str,
    timeout_s: float | None = None,
) -> Any:
    """Wait until a JavaScript condition on the page holds; return its value.

    Args:
        condition: a function of ``arg``, evaluated in the page until it returns a
            true value, e.g. ``"ref => [...document.querySelectorAll('#rows
            td:first-child')].some(td => td.innerText === ref)"``.
        arg: the function's argument (JSON-serialisable).
        what: the condition in words, for the timeout's message.

    Raises:
        StepTimeoutError: naming ``what``.

    Example:
        >>> wait_until(session, "() => document.title === 'Saved'", what="saved")
        ... # doctest: +SKIP
    """
    from playwright.sync_api import TimeoutError

    timeout = 1000 * (timeout_s or session.options.timeout_s)
    try:
        handle = session.scope.wait_for_function(
            condition, arg=arg, polling=50, timeout=timeout
        )
    except TimeoutError as exc:
        raise StepTimeoutError(
            f"wait_until: {what} did not come true in {timeout / 1000:g} s"
        ) from exc
    return handle.json_value()


@contextmanager
def in_frame(session: BrowserSession, frame: str) -> Iterator[BrowserSession]:
    """Make the steps in the block act inside an iframe (a document viewer, say).

    Args:
        frame: the iframe's ``title`` (``"Document viewer"``), or a selector
            (``"#viewer"``, ``"css=iframe.pdf"``). Blocks nest: a frame in a frame.

    The frame is found again by every step, waiting for it, so one the
    application replaced is followed. Waiting for the application to be idle, its
    dialogs and ``goto`` stay the page's.

    Example:
        >>> with in_frame(session, "Document viewer"):  # doctest: +SKIP
        ...     title = browser.expect_text(session, "Discharge letter")
    """
    if SELECTOR.match(frame):
        selector = frame
    else:
        title = frame.replace("\\", "\\\\").replace('"', '\\"')
        selector = f'iframe[title="{title}"]'
    session.frames.append(selector)
    log.debug("frame_entered", frame=frame)
    try:
        yield session
    finally:
        session.frames.pop()


@step
@playwright_errors
def press(session: BrowserSession, key: str, *, target: str | None = None) -> None:
    """Press a key (``"Enter"``, ``"Tab"``, ``"Control+S"``) in a field, or the page.

    Args:
        key: Playwright's key name.
        target: the field's label, ``name`` or selector; None: where the focus is.

    Example:
        >>> press(session, "Enter", target="Value")  # doctest: +SKIP
    """
    if target is None:
        session.page.keyboard.press(key)
    else:
        field(session, target).press(key)


@step
@playwright_errors
def read_field(session: BrowserSession, key: str) -> str:
    """What a field holds now: an input's value, a select's chosen option's text,
    ``"true"``/``"false"`` for a checkbox.

    Example:
        >>> read_field(session, "Value")  # doctest: +SKIP
        '8,4'
    """
    _, shown = _shown_value(field(session, key))
    return shown


@step
@playwright_errors
def read_fields(session: BrowserSession, keys: Sequence[str]) -> dict[str, str]:
    """What each field holds now, by key (see :func:`read_field`)."""
    return {key: _shown_value(field(session, key))[1] for key in keys}


@step
@playwright_errors
def is_shown(session: BrowserSession, target: str) -> bool:
    """Whether ``target`` (a selector, or a text) is visible now; never waits.

    Example:
        >>> if is_shown(session, "[role=alertdialog]"):  # doctest: +SKIP
        ...     check_dialogs(session)
    """
    scope = session.scope
    by_text = not SELECTOR.match(target)
    found = scope.get_by_text(target) if by_text else scope.locator(target)
    return found.first.is_visible()


@step
@playwright_errors
def texts(
    session: BrowserSession, selector: str, *, attribute: str | None = None
) -> list[str]:
    """The text (or ``attribute``) of every element matching ``selector``, now.

    Example:
        >>> texts(session, "nav a", attribute="href")  # doctest: +SKIP
        ['/board/ORT', '/board/MED']
    """
    script = (
        "(elements, name) => elements.map(e => name === null"
        " ? e.innerText.trim() : (e.getAttribute(name) || ''))"
    )
    found = session.scope.locator(selector).evaluate_all(script, attribute)
    return [str(text) for text in found]


@step
@playwright_errors
def evaluate(session: BrowserSession, expression: str, arg: Any = None) -> Any:
    """Run JavaScript in the page and return its (JSON-serialisable) result.

    The escape hatch for what no step does, logged like any step. Prefer a step:
    an ``evaluate`` knows nothing of waits, dialogs or the session.

    Example:
        >>> evaluate(session, "() => localStorage.length")  # doctest: +SKIP
        1
    """
    return session.scope.evaluate(expression, arg)


@step
@playwright_errors
def check_dialogs(session: BrowserSession, dialogs: AppDialogs | None = None) -> None:
    """Raise for the application's modal dialog, if one is open now (dismissing it).

    Call it after a save, once the application is idle. The steps call it
    themselves when an action fails while ``BrowserOptions(dialogs=...)`` is set: a
    click blocked by a dialog then fails with the dialog's text.

    Raises:
        BusinessRuleError: a dialog of a business kind, with its text.
        TargetSystemError: any other dialog, with its text.
    """
    error = open_dialog_error(session, dialogs)
    if error is not None:
        raise error


@dataclass(frozen=True)
class Dialog:
    """A dialog the application showed (and that was dismissed)."""

    kind: str
    text: str
    business: bool

    def error(self, system: str) -> BusinessRuleError | TargetSystemError:
        """What the dialog means for the item, in ``system``'s words."""
        if self.business:
            return BusinessRuleError(
                f"{system.capitalize()} says: {self.text}", code=self.kind
            )
        return TargetSystemError(f"{system} showed an error dialog: {self.text}")


def dismiss_dialog(
    session: BrowserSession, dialogs: AppDialogs | None = None
) -> Dialog | None:
    """The application's open modal dialog, after dismissing it; None if none."""
    spec = dialogs or session.options.dialogs or AppDialogs()
    dialog = session.page.locator(spec.selector).first
    if not dialog.is_visible():
        return None
    kind = dialog.get_attribute(spec.kind_attribute) or ""
    lines = [line.strip() for line in dialog.inner_text().splitlines()]
    text = "; ".join(line for line in lines if line and line != spec.dismiss)
    dialog.get_by_role("button", name=spec.dismiss, exact=True).click()
    log.info("dialog_dismissed", kind=kind)
    return Dialog(kind=kind, text=text, business=kind in spec.business)


def open_dialog_error(
    session: BrowserSession, dialogs: AppDialogs | None = None
) -> BusinessRuleError | TargetSystemError | None:
    """The exception the open dialog means, after dismissing it; None if none."""
    dialog = dismiss_dialog(session, dialogs)
    return None if dialog is None else dialog.error(session.options.name)


def fill_application_form(session: BrowserSession, fields: Mapping[str, Any]) -> None:
    """``fill_form`` on an application: settle, fill, settle, re-read; fill once more.

    Raises:
        TargetSystemError: a field still does not hold its value: the application
            kept discarding it (the value itself is not in the message: it may be
            a CPR number).
    """
    wait_until_idle(session)
    for key, value in fields.items():
        _put_checked(session, key, value)
    wait_until_idle(session)
    lost = [key for key, value in fields.items() if not _holds(session, key, value)]
    if not lost:
        return
    log.warning("fields_lost", fields=lost)
    for key in lost:
        _put_checked(session, key, fields[key])
    wait_until_idle(session)
    if still := [key for key in lost if not _holds(session, key, fields[key])]:
        raise TargetSystemError(
            f"{session.options.name} did not keep what was typed into "
            f"{', '.join(map(repr, still))}, also when typed again: nothing was saved"
        )


def _put_checked(session: BrowserSession, key: str, value: Any) -> None:
    found = field(session, key)
    if isinstance(value, bool):
        found.set_checked(value)
    else:
        put(session, key, found, value)


def _holds(session: BrowserSession, key: str, value: Any) -> bool:
    found = field(session, key)
    raw, shown = _shown_value(found)
    if isinstance(value, bool):
        return raw == str(value).lower()
    kind = session.field_kinds.get(session.form_key(key), "text")
    wanted = as_text(value, kind)
    return wanted in (raw, shown)


def _shown_value(found: Locator) -> tuple[str, str]:
    raw, shown = found.evaluate(_SHOWN_VALUE)
    return str(raw), str(shown)
