"""Preflight checks as data: the pages, fields and table columns a robot needs.

A robot lists them in ``Robot(preflight=[...])``; ``rpa preflight`` runs each in
order on the robot's browser session, and the first one that fails says what is
missing, where:

```python
preflight=[
    browser.expect_page("the patient search", goto="/patients/search",
                        fields=["CPR number"], buttons=["Search"]),
    browser.expect_columns("#lab-results", ["Test code", "Value"],
                           where="the patient page"),
]
```

They only open pages and look: a check never saves anything.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from robotlib.errors import TargetSystemError
from robotlib.steps._registry import step

if TYPE_CHECKING:
    from robotlib.context import Context
    from robotlib.steps._browser_session import BrowserSession

__all__ = [
    "PREFLIGHT_TIMEOUT_S",
    "ColumnsCheck",
    "PageCheck",
    "expect_columns",
    "expect_elements",
    "expect_page",
]

#: How long a check waits for the elements of a page to show.
PREFLIGHT_TIMEOUT_S = 5.0


@step(log_args=False)
def expect_elements(
    session: BrowserSession,
    where: str,
    *,
    fields: Sequence[str] = (),
    buttons: Sequence[str] = (),
    links: Sequence[str] = (),
    selectors: Sequence[str] = (),
    timeout_s: float = PREFLIGHT_TIMEOUT_S,
) -> None:
    """Wait until each element shows on the page; name every one missing.

    Args:
        session: the browser session, on the page to check.
        where: the page, for the message (``"the lab result form"``).
        fields: labels of fields.
        buttons: names of buttons.
        links: names of links.
        selectors: CSS selectors (tables, texts the robot reads).
        timeout_s: how long to wait for all of them together.

    Raises:
        TargetSystemError: some are missing after ``timeout_s``; the message names
            them and the page's address.
    """
    page = session.scope
    wanted = [
        (f"field {label!r}", page.get_by_label(label, exact=True)) for label in fields
    ]
    wanted += [
        (f"button {name!r}", page.get_by_role("button", name=name, exact=True))
        for name in buttons
    ]
    wanted += [
        (f"link {name!r}", page.get_by_role("link", name=name, exact=True))
        for name in links
    ]
    wanted += [(selector, page.locator(selector)) for selector in selectors]
    deadline = time.monotonic() + timeout_s
    while True:
        missing = [name for name, locator in wanted if not locator.first.is_visible()]
        if not missing or time.monotonic() >= deadline:
            break
        page.wait_for_timeout(100)
    session.check()
    if missing:
        raise TargetSystemError(
            f"{where} ({page.url}) has no {', '.join(missing)}: has the system "
            "changed? The robot needs them"
        )


@dataclass(frozen=True)
class PageCheck:
    """A preflight check of one page: made by ``browser.expect_page``."""

    where: str
    goto: str | None = None
    click: str | None = None
    fields: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    selectors: tuple[str, ...] = ()
    timeout_s: float = PREFLIGHT_TIMEOUT_S

    def __call__(self, ctx: Context) -> None:
        """Go to the page (``goto``, then ``click``), then look for the elements."""
        from robotlib.steps import browser

        session = browser.session(ctx)
        if self.goto is not None:
            browser.goto(session, self.goto)
        if self.click is not None:
            browser.click(session, self.click)
        expect_elements(
            session,
            self.where,
            fields=self.fields,
            buttons=self.buttons,
            links=self.links,
            selectors=self.selectors,
            timeout_s=self.timeout_s,
        )


@dataclass(frozen=True)
class ColumnsCheck:
    """A preflight check of a table's header: made by ``browser.expect_columns``."""

    table: str
    columns: tuple[str, ...]
    where: str
    timeout_s: float = PREFLIGHT_TIMEOUT_S

    def __call__(self, ctx: Context) -> None:
        """Raise TargetSystemError naming the columns the table lacks."""
        from robotlib.steps import browser

        session = browser.session(ctx)
        expect_elements(
            session, self.where, selectors=[self.table], timeout_s=self.timeout_s
        )
        headers: list[str] = session.scope.locator(
            f"{self.table} thead th"
        ).evaluate_all("cells => cells.map(c => c.innerText.trim())")
        if missing := [column for column in self.columns if column not in headers]:
            raise TargetSystemError(
                f"the table {self.table} of {self.where} has no column "
                f"{', '.join(missing)} (it has {', '.join(headers)}): has the system "
                "changed? The robot reads them"
            )


def expect_page(
    where: str,
    *,
    goto: str | None = None,
    click: str | None = None,
    fields: Sequence[str] = (),
    buttons: Sequence[str] = (),
    links: Sequence[str] = (),
    selectors: Sequence[str] = (),
    timeout_s: float = PREFLIGHT_TIMEOUT_S,
) -> PageCheck:
    """A preflight check: open a page and wait for the elements the robot uses.

    Args:
        where: the page, for the message (``"the lab result form"``).
        goto: open this address first (relative to the base URL).
        click: then click this button or link (by its name).
        fields: labels of fields that must show.
        buttons: names of buttons.
        links: names of links.
        selectors: CSS selectors (tables, texts the robot reads).
        timeout_s: how long to wait for all of them.

    Example:
        >>> expect_page("the search", goto="/search", fields=["CPR number"])
        PageCheck(where='the search', goto='/search', ...)  # doctest: +SKIP
    """
    return PageCheck(
        where,
        goto,
        click,
        tuple(fields),
        tuple(buttons),
        tuple(links),
        tuple(selectors),
        timeout_s,
    )


def expect_columns(
    table: str,
    columns: Sequence[str],
    *,
    where: str,
    timeout_s: float = PREFLIGHT_TIMEOUT_S,
) -> ColumnsCheck:
    """A preflight check: the table ``table`` (a selector) has each of ``columns``.

    It looks at the page the previous check left open.
    """
    return ColumnsCheck(table, tuple(columns), where, timeout_s)
