"""Find a Chromium and launch it headless with flags that work on locked-down machines.

Where the browser comes from, in order:

1. ``RPA_BROWSER_PATH`` (``Settings.browser_path``), when set; a path that does not
   exist is an error, not a reason to look elsewhere.
2. Playwright's own Chromium, where ``playwright install chromium`` has put it.
3. A system Chromium: Debian's ``chromium-headless-shell`` (headless only; about 17 %
   faster than full Chromium), then ``chromium``, ``chromium-browser``,
   ``google-chrome`` and, on Windows, the usual Chrome and Edge install paths.

The robot, not a signal, decides when its browser closes: Ctrl+C in a terminal
reaches every process of the foreground group, and Playwright's driver (a Node
process) would exit on it, taking the browser along in the middle of an item. So
:func:`start_playwright` starts the driver with SIGINT ignored (it still exits when
the robot's process ends, as its pipe closes), and :func:`launch_chromium` tells
Playwright not to close the browser on signals. The robot's own handler then stops
after the current item and closes the browser. SIGTERM must go to the robot's
process alone (the scheduler does so, as does ``kill PID``): the driver handles a
SIGTERM of its own by exiting.

Example:
    >>> playwright = start_playwright()  # doctest: +SKIP
    >>> browser = launch_chromium(playwright, settings=Settings())  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from robotlib.errors import BrowserNotFoundError, ConfigurationError
from robotlib.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

__all__ = [
    "CHROMIUM_FLAGS",
    "ChromiumBinary",
    "find_chromium",
    "launch_chromium",
    "start_playwright",
]

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
    slow_mo_ms: float = 0,
) -> Browser:
    """Find a Chromium and launch it.

    Args:
        playwright: a started Playwright (``sync_playwright().start()``).
        settings: where to look and whether to run headless.
        headless: overrides ``settings.headless``.
        extra_args: more command-line flags after :data:`CHROMIUM_FLAGS`.
        slow_mo_ms: wait this long before every browser action (to watch it).

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
        slow_mo=slow_mo_ms,
        # The robot closes the browser when it has finished its item; see above.
        handle_sigint=False,
        handle_sigterm=False,
        handle_sighup=False,
    )


def start_playwright() -> Playwright:
    """Start Playwright (sync API) with its driver deaf to Ctrl+C.

    SIGINT is ignored while the driver process starts, which it inherits, then our
    handler is restored. Only the main thread can do this; elsewhere Playwright
    starts as usual.
    """
    from playwright.sync_api import sync_playwright

    on_main_thread = threading.current_thread() is threading.main_thread()
    if os.name != "posix" or not on_main_thread:
        return sync_playwright().start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return sync_playwright().start()
    finally:
        signal.signal(signal.SIGINT, previous)


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
