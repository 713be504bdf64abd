"""Notice dialogs ("System notice: planned maintenance tonight ...") dismissed inside
the page, by a script the browser runs in every document the session opens.

Why in the page: Playwright's ``add_locator_handler`` looks for the dialog before
every action, a query across the page each time, which cost a form row about 40 ms
(6%) on the sandbox. The script costs nothing until a notice shows: it watches the
document, and when a visible dialog named like a notice appears it clicks the
notice's button, and again a little later while the dialog stays (the page may
attach its own click handler after the dialog is in the document). Each dismissal
is reported to Python through a console message and logged as
``notice_dismissed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage

    from robotlib.steps._browser_session import Notice

__all__ = ["dismiss_script", "report_dismissal"]

log = structlog.get_logger("robotlib.browser")

#: Console messages starting with this are the script's reports, not the page's.
_REPORT = "robotlib:notice_dismissed:"

#: How many times the script clicks a dialog's button while the dialog stays.
_TRIES = 20

_SCRIPT = """
(() => {
  const notices = %(notices)s;
  const report = %(report)s;
  const tries = %(tries)d;
  const norm = text => (text || "").replace(/\\s+/g, " ").trim().toLowerCase();
  const nameOf = el => {
    const label = el.getAttribute("aria-label");
    if (label) return label;
    const ids = (el.getAttribute("aria-labelledby") || "").split(/\\s+/);
    const named = ids.map(id => id && document.getElementById(id)).filter(Boolean);
    if (named.length) return named.map(n => n.textContent).join(" ");
    const heading = el.querySelector("h1, h2, h3, h4, h5, h6");
    return heading ? heading.textContent : "";
  };
  const visible = el => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== "hidden";
  const buttonText = b => b.getAttribute("aria-label") || b.textContent || b.value;
  const clicks = new WeakMap();
  let queued = false;
  const sweep = () => {
    queued = false;
    const dialogs = document.querySelectorAll(
      '[role="dialog"], [role="alertdialog"], dialog');
    for (const dialog of dialogs) {
      if (!visible(dialog)) { clicks.delete(dialog); continue; }
      const name = norm(nameOf(dialog));
      const notice = notices.find(n => name.includes(norm(n.dialog)));
      if (!notice) continue;
      const button = [...dialog.querySelectorAll(
        'button, [role="button"], input[type="button"], input[type="submit"]')]
        .find(b => norm(buttonText(b)) === norm(notice.button));
      const done = clicks.get(dialog) || 0;
      if (!button || done >= tries) continue;
      clicks.set(dialog, done + 1);
      if (done === 0) console.debug(report + notice.dialog);
      button.click();
      setTimeout(sweep, 50 * (done + 1));
    }
  };
  const soon = () => { if (!queued) { queued = true; setTimeout(sweep, 0); } };
  const watch = () => {
    new MutationObserver(soon).observe(document.documentElement, {
      childList: true, subtree: true, attributes: true,
      attributeFilter: ["open", "hidden", "style", "class"],
    });
    soon();
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watch, { once: true });
  } else {
    watch();
  }
})();
"""


def dismiss_script(notices: Iterable[Notice]) -> str | None:
    """The init script dismissing ``notices``; None when there are none."""
    wanted = [{"dialog": n.dialog, "button": n.button} for n in notices]
    if not wanted:
        return None
    return _SCRIPT % {
        "notices": json.dumps(wanted),
        "report": json.dumps(_REPORT),
        "tries": _TRIES,
    }


def report_dismissal(message: ConsoleMessage | Any) -> None:
    """Log the script's console report of a dismissed notice (others are ignored)."""
    text = str(message.text)
    if text.startswith(_REPORT):
        log.info("notice_dismissed", dialog=text[len(_REPORT) :])
