"""Finding a page's fields and buttons, and putting values in them, for the steps.

A key is a field's label, its ``name``, or a selector; a target a button's or a
link's name, or a selector. Shared by the page steps and the application steps.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Locator

    from robotlib.steps._browser_session import BrowserSession

__all__ = ["SELECTOR", "as_text", "clickable", "field", "kind_of", "put"]

SELECTOR = re.compile(r"^(css=|xpath=|text=|#|\.|\[|//)")
#: Playwright's errors for a value put the wrong way: fill on a select, a select
#: on an input, a datetime in the wrong format for the input.
_WRONG_KIND = re.compile(r"not an <input>|not a <select>|Malformed value")


def put(session: BrowserSession, key: str, field: Locator, value: Any) -> None:
    """Fill or select ``value``: one round trip once the field's kind is known.

    Whether a field is a select is learned from the field the first time and
    remembered for the page; a field that turns out different is asked again and
    the value put once more. A datetime always asks the field its type (date or
    datetime-local): Chromium takes a datetime in the wrong format silently as an
    empty value, so a remembered type that went stale would lose it.
    """
    from playwright.sync_api import Error

    slot = session.form_key(key)
    if isinstance(value, datetime):
        kind: str | None = kind_of(field)
    else:
        kind = session.field_kinds.get(slot)
    try:
        _put_as(field, value, kind)
    except Error as exc:
        if not _WRONG_KIND.search(str(exc)):
            raise
        learned = kind_of(field)
        if learned == kind:
            raise
        kind = learned
        _put_as(field, value, kind)
    session.field_kinds[slot] = kind or "text"


def _put_as(field: Locator, value: Any, kind: str | None) -> None:
    if kind == "select":
        field.select_option(str(value))
    else:
        field.fill(as_text(value, kind or ""))


def kind_of(field: Locator) -> str:
    """The field's kind: "select", or its type ("text", "date", "datetime-local")."""
    return str(
        field.evaluate(
            "e => e.tagName === 'SELECT' ? 'select' : (e.type || 'text').toLowerCase()"
        )
    )


def field(session: BrowserSession, key: str) -> Locator:
    """The field labelled or named ``key`` (the first on the page); a selector as is.

    One locator for both, so that using it waits for whichever shows up first,
    without a round trip to the browser per way of finding it.
    """
    page = session.scope
    if SELECTOR.match(key):
        return page.locator(key).first
    name = key.replace("\\", "\\\\").replace('"', '\\"')
    by_name = page.locator(f'[name="{name}"]')
    return page.get_by_label(key, exact=True).or_(by_name).first


def clickable(session: BrowserSession, target: str) -> Locator:
    """A selector as it is, else the first button, link or tab named ``target``.

    One locator for the three roles: clicking it waits for any to appear, without
    a round trip per role to look first.
    """
    page = session.scope
    if SELECTOR.match(target):
        return page.locator(target).first
    button = page.get_by_role("button", name=target, exact=True)
    link = page.get_by_role("link", name=target, exact=True)
    tab = page.get_by_role("tab", name=target, exact=True)
    return button.or_(link).or_(tab).first


def as_text(value: Any, input_type: str) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M" if input_type != "date" else "%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)
