"""Reading what a page lists: tables, rows, the options of a list, its errors.

Besides reading, three checks a robot's verify and process stages make on what it
read, each a business exception an operator can act on, naming the application
as ``BrowserOptions(name="the EPJ")`` does:

```python
browser.click(session, "Save result")
browser.expect_accepted(session, "the result")  # "The EPJ refused the result: ..."
browser.expect_row(session, "#lab-results", {"Registration id": "12"},
                   item.shown(), against="the spreadsheet")
types = browser.expect_option(session, "#doc_type", item.doc_type,
                              what="document type", fix="correct the index")
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

import structlog
from pydantic import BaseModel

from robotlib.errors import BusinessRuleError
from robotlib.steps._playwright_errors import playwright_errors
from robotlib.steps._registry import step

if TYPE_CHECKING:
    from robotlib.steps._browser_session import BrowserSession

__all__ = [
    "expect_accepted",
    "expect_option",
    "expect_row",
    "find_row",
    "options",
    "read_table",
]

log = structlog.get_logger("robotlib.browser")

M = TypeVar("M", bound=BaseModel)


@overload
def read_table(
    session: BrowserSession,
    selector: str,
    *,
    model: None = None,
    next_page: str | None = ...,
    max_pages: int = ...,
) -> list[dict[str, str]]: ...


@overload
def read_table(
    session: BrowserSession,
    selector: str,
    *,
    model: type[M],
    next_page: str | None = ...,
    max_pages: int = ...,
) -> list[M]: ...


@step
@playwright_errors
def read_table(
    session: BrowserSession,
    selector: str,
    *,
    model: type[BaseModel] | None = None,
    next_page: str | None = "a[rel=next]",
    max_pages: int = 1000,
) -> list[dict[str, str]] | list[Any]:
    """Read an HTML table into dicts (header → cell text), following pagination.

    Args:
        session: the browser session.
        selector: the table, e.g. ``"#worklist"``.
        model: validate each row into this model (headers match field names or
            aliases).
        next_page: the link to the next page; None reads one page.
        max_pages: a guard against endless pagination.
    """
    page = session.scope
    rows: list[dict[str, str]] = []
    for _ in range(max_pages):
        found = page.locator(selector).evaluate(
            """table => {
              const heads = [...table.querySelectorAll('thead th')]
                .map(th => th.innerText.trim());
              const text = cell => cell.innerText.trim();
              const all = [...table.querySelectorAll('tbody tr')]
                .map(tr => [...tr.querySelectorAll('td')].map(text));
              const whole = all.filter(cells => cells.length === heads.length);
              return {
                rows: whole.map(cells =>
                  Object.fromEntries(heads.map((h, i) => [h, cells[i]]))),
                skipped: all.length - whole.length,
              };
            }"""
        )
        rows.extend(found["rows"])
        if found["skipped"]:
            # rows spanning columns ("No results.", "Free") are not data rows
            log.info("table_rows_skipped", table=selector, rows=found["skipped"])
        link = page.locator(next_page) if next_page else None
        if link is None or link.count() == 0:
            break
        link.first.click()
        page.wait_for_load_state()
        session.check()
    if model is None:
        return rows
    return [model.model_validate(row, by_name=True) for row in rows]


def find_row(
    session: BrowserSession,
    selector: str,
    match: Mapping[str, str],
    *,
    next_page: str | None = None,
    cells: Callable[[dict[str, str]], Mapping[str, str]] = dict,
) -> dict[str, str] | None:
    """The first row of the table ``selector`` whose cells equal ``match``, or None.

    ``cells`` gives a row's cells as they compare with ``match`` (a file's size
    left out of its name, say); the row is returned as it made it.

    Example:
        >>> row = find_row(page, "#lab-results", {"Registration id": "12"})
        ... # doctest: +SKIP
    """
    for found in read_table(session, selector, next_page=next_page):
        row = dict(cells(found))
        if all(row.get(column) == value for column, value in match.items()):
            return row
    return None


@playwright_errors
def options(session: BrowserSession, select: str) -> dict[str, str]:
    """The options of a ``<select>`` (a selector): value → text, blank values left out.

    Example:
        >>> options(page, "#department")  # doctest: +SKIP
        {'KIR': 'Kirurgisk afdeling', 'MED': 'Medicinsk afdeling'}
    """
    found = session.scope.locator(f"{select} option").evaluate_all(
        "options => options.map(o => [o.value, o.innerText.trim()])"
    )
    return {value: text for value, text in found if value}


@step(log_args=False)
def expect_row(
    session: BrowserSession,
    table: str,
    key: Mapping[str, str],
    expected: Mapping[str, str],
    *,
    against: str = "the input",
    cells: Callable[[dict[str, str]], Mapping[str, str]] = dict,
) -> dict[str, str]:
    """Verify: the table lists the row ``key`` with the ``expected`` values.

    Args:
        session: on the page with the table.
        table: the table's selector (``"#lab-results"``).
        key: the cells that find the row (``{"Registration id": "12"}``).
        expected: the cells the row must hold, as ``against`` says.
        against: where ``expected`` comes from, for the message.
        cells: the row's cells as they compare with ``expected`` (a size
            left out of a file name, say).

    Returns:
        The row, as ``cells`` made it.

    Raises:
        BusinessRuleError: the row is missing, or holds other values; the
            message names the row and both values (code ``missing``/``differs``).
    """
    system = _name(session)
    record = ", ".join(f"{column} {value}" for column, value in key.items())
    row = find_row(session, table, key, cells=cells)
    if row is None:
        raise BusinessRuleError(
            f"{system} does not list the record with {record}: check whether it "
            "was saved",
            code="missing",
        )
    shown = {column: row.get(column) for column in expected}
    if shown != expected:
        raise BusinessRuleError(
            f"{system} holds the record with {record} with other values {shown} "
            f"than {against} {dict(expected)}: check which is right",
            code="differs",
        )
    return row


@step(log_args=False)
def expect_option(
    session: BrowserSession,
    select: str,
    value: str,
    *,
    what: str,
    fix: str,
    code: str | None = None,
) -> dict[str, str]:
    """Check: the ``<select>`` offers ``value``; return its options (value → text).

    Args:
        select: the list's selector (``"#doc_type"``).
        value: the option's value the item needs.
        what: what the list offers, for the message (``"document type"``).
        fix: what the operator should do (``"correct the index"``).
        code: the business exception's code (default ``unknown_<what>``).

    Raises:
        BusinessRuleError: ``value`` is not offered; the message lists what is.
    """
    offered = options(session, select)
    if value not in offered:
        raise BusinessRuleError(
            f"{_name(session)} has no {what} {value!r} (it has "
            f"{', '.join(offered) or 'none'}): {fix}",
            code=code or "unknown_" + what.replace(" ", "_"),
        )
    return offered


@step(log_args=False)
@playwright_errors
def expect_accepted(
    session: BrowserSession, what: str, *, errors: str = ".field-error"
) -> None:
    """After a save: raise the application's refusal, if the page shows one.

    Args:
        session: on the page the save answered with.
        what: what was saved, for the message: ``"<Name> refused <what>:
            <reasons>"``, each reason headed by its fieldset's legend if it is in
            one (``"Question 2: choose an answer"``).
        errors: the elements that hold the application's reasons.

    Raises:
        BusinessRuleError: the page shows a reason (code ``refused``).
    """
    reasons: list[str] = session.scope.locator(errors).evaluate_all(
        """errors => errors.map(e => {
             const legend = e.closest('fieldset')?.querySelector('legend');
             return (legend ? legend.innerText.trim() + ': ' : '') + e.innerText.trim();
           })"""
    )
    if reasons:
        raise BusinessRuleError(
            f"{_name(session)} refused {what}: " + "; ".join(reasons), code="refused"
        )


def _name(session: BrowserSession) -> str:
    """The application's name, to begin a sentence: ``The EPJ``."""
    name = session.options.name
    return name[:1].upper() + name[1:]
