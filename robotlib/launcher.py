"""Find a Chromium and launch it headless with flags that work on locked-down machines.

Where the browser comes from, in order:

1. ``RPA_BROWSER_PATH`` (``Settings.browser_path``), when set; a path that does not
   exist is an error, not a reason to look elsewhere.
2. Playwright's own Chromium, where ``playwright install chromium`` has put it.
3. A system Chromium: Debian's ``chromium-headless-shell`` (headless only; about 17 %
   faster than full Chromium), then ``chromium``, ``chromium-browser``,
   ``google-chrome`` and, on Windows, the usual Chrome and Edge install paths.

Example:
    >>> from playwright.sync_api import sync_playwright
    >>> with sync_playwright() as pw:  # doctest: +SKIP
    ...     browser = launch_chromium(pw, settings=Settings())
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from robotlib.errors import BrowserNotFoundError, ConfigurationError
from robotlib.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

__all__ = ["CHROMIUM_FLAGS", "ChromiumBinary", "find_chromium", "launch_chromium"]

#: Flags for machines without a GPU, a user namespace sandbox or internet access.
#: Without the background-networking flags Chromium keeps dialling Google's hosts,
#: which a closed hospital network refuses.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)

_HEADLESS_ONLY_NAMES = ("chromium-headless-shell",)
_SYSTEM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
_HEADLESS_ONLY_PATHS = ("/usr/lib/chromium/chromium-headless-shell",)
_WINDOWS_PATHS = (
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
    r"C:\Program Files\Microsoft\Edge\Application\msedge.exe",
)

Source = Literal["settings", "playwright", "system"]


@dataclass(frozen=True)
class ChromiumBinary:
    """A Chromium found on this machine.

    Attributes:
        source: where it was found: ``settings`` (RPA_BROWSER_PATH), ``playwright``
            (Playwright's own download) or ``system``.
        path: the executable, or None for Playwright's own browser, which Playwright
            locates itself (and runs as its headless shell when headless).
    """

    source: Source
    path: Path | None

    def describe(self) -> str:
        """Return a one-line description for people."""
        if self.path is None:
            return "Playwright's own Chromium"
        return f"{self.path} ({self.source})"


def find_chromium(
    *,
    settings: Settings,
    playwright_executable: str | None = None,
    headless: bool = True,
) -> ChromiumBinary:
    """Return the Chromium to launch.

    Args:
        settings: ``browser_path`` overrides the search.
        playwright_executable: where Playwright expects its own Chromium
            (``playwright.chromium.executable_path``); None skips that place.
        headless: whether headless-only builds are acceptable.

    Raises:
        ConfigurationError: ``RPA_BROWSER_PATH`` names a file that does not exist.
        BrowserNotFoundError: no Chromium anywhere; the message says what to install.
    """
    if settings.browser_path is not None:
        if not settings.browser_path.is_file():
            raise ConfigurationError(
                f"RPA_BROWSER_PATH is {settings.browser_path}, which is not a file. "
                "Point it at a Chrome, Chromium or Edge executable, or unset it."
            )
        return ChromiumBinary("settings", settings.browser_path)

    looked_for = ["RPA_BROWSER_PATH (not set)"]
    if playwright_executable is not None:
        if Path(playwright_executable).is_file():
            return ChromiumBinary("playwright", None)
        looked_for.append(f"Playwright's Chromium at {playwright_executable}")

    for candidate in _system_candidates(headless=headless):
        found = _resolve(candidate)
        if found is not None:
            return ChromiumBinary("system", found)
        looked_for.append(candidate)
    raise BrowserNotFoundError(looked_for=looked_for)


def launch_chromium(
    playwright: Playwright,
    *,
    settings: Settings,
    headless: bool | None = None,
    extra_args: Sequence[str] = (),
) -> Browser:
    """Find a Chromium and launch it.

    Args:
        playwright: a started Playwright (``sync_playwright().start()``).
        settings: where to look and whether to run headless.
        headless: overrides ``settings.headless``.
        extra_args: more command-line flags after :data:`CHROMIUM_FLAGS`.

    Raises:
        BrowserNotFoundError: no Chromium was found.
    """
    run_headless = settings.headless if headless is None else headless
    binary = find_chromium(
        settings=settings,
        playwright_executable=playwright.chromium.executable_path,
        headless=run_headless,
    )
    return playwright.chromium.launch(
        executable_path=binary.path,
        headless=run_headless,
        args=[*CHROMIUM_FLAGS, *extra_args],
    )


def _system_candidates(*, headless: bool) -> list[str]:
    # The binary before its /usr/bin wrapper script, so Playwright owns the process.
    names = [*_HEADLESS_ONLY_PATHS, *_HEADLESS_ONLY_NAMES] if headless else []
    names += _SYSTEM_NAMES
    if sys.platform == "win32":
        names += _WINDOWS_PATHS
    return names


def _resolve(candidate: str) -> Path | None:
    if os.sep in candidate or "/" in candidate:
        path = Path(candidate)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which(candidate)
    return Path(found) if found else None
