"""Windows of desktop programs: finding, focusing and waiting for them by title.

On Linux through xdotool (``xdotool search --name`` takes a POSIX regular
expression, so titles are escaped); on Windows through pyautogui's window list.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from robotlib.errors import ApplicationError, ConfigurationError, StepTimeoutError
from robotlib.steps._desktop_display import pyautogui, require_display

__all__ = [
    "await_title",
    "find_windows",
    "focus_window",
    "require_xdotool_for",
    "window_titles",
    "xdotool",
]


def require_xdotool_for(characters: str | None) -> None:
    """Refuse clearly when xdotool is needed (window lists, non-ASCII) but absent.

    ``characters``: the text pyautogui cannot type, or None for listing windows.
    """
    if sys.platform.startswith("linux") and shutil.which("xdotool"):
        return
    if characters is None:
        raise ConfigurationError(
            "Listing windows needs xdotool: sudo apt-get install xdotool "
            "(scripts/ensure-desktop.sh installs it)"
        )
    raise ConfigurationError(
        f"Cannot type {characters!r}: pyautogui types only US-keyboard ASCII"
        + (
            "; install xdotool (sudo apt-get install xdotool) to type the rest"
            if sys.platform.startswith("linux")
            else " on this system"
        )
    )


def xdotool(*args: str) -> None:
    """Run ``xdotool args...``; its failure is an ``ApplicationError``."""
    try:
        done = subprocess.run(
            ["xdotool", *args], capture_output=True, check=False, timeout=30
        )
    except subprocess.TimeoutExpired as exc:
        raise StepTimeoutError(f"xdotool {args[0]} did not finish in 30 s") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise ApplicationError(f"xdotool {args[0]} failed: {message}")


def window_titles(title: str, *, prefix: bool) -> list[str]:
    """The titles of the visible windows with this title, or starting with it."""
    require_display()
    if sys.platform == "win32":
        titles: list[str] = pyautogui().getAllTitles()
        return [
            found
            for found in titles
            if (found.startswith(title) if prefix else found == title)
        ]
    windows = find_windows(title, prefix=prefix)
    if not prefix:
        return [title] * len(windows)
    names = (_window_name(window) for window in windows)
    # A window may close, or change its title, between the search and the read.
    return [name for name in names if name is not None and name.startswith(title)]


def _window_name(window: str) -> str | None:
    """The title of the X window ``window`` (an id), or None when it is gone."""
    found = subprocess.run(
        ["xdotool", "getwindowname", window],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        return None
    return found.stdout.removesuffix("\n")


def find_windows(title: str, *, prefix: bool = False) -> list[str]:
    """The X ids of the visible windows with this title, or starting with it."""
    require_xdotool_for(None)
    pattern = f"^{_posix_regex_escape(title)}" + ("" if prefix else "$")
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", pattern],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0 and found.stderr.strip():
        raise ApplicationError(f"xdotool search failed: {found.stderr.strip()}")
    return found.stdout.split()


def focus_window(title: str) -> None:
    """Give the first window titled ``title`` the keyboard (a no-op on Windows)."""
    if sys.platform == "win32":
        return
    windows = find_windows(title)
    if windows:
        xdotool("windowfocus", "--sync", windows[0])


def _posix_regex_escape(text: str) -> str:
    """Escape text for xdotool's POSIX extended regular expressions."""
    return re.sub(r"([.\[\]{}()\\*+?^$|])", r"\\\1", text)


def await_title(
    title: str,
    timeout_s: float,
    interval_s: float,
    *,
    prefix: bool = False,
    process: subprocess.Popen[bytes] | None = None,
    program: str = "",
) -> str:
    """Wait until a window with the title shows; return its title.

    Raises ``ApplicationError`` when ``process`` (the program launched) ends first,
    ``StepTimeoutError`` after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while not (titles := window_titles(title, prefix=prefix)):
        if process is not None and process.poll() is not None:
            raise ApplicationError(
                f"{Path(program).name} ended with exit code {process.returncode} "
                f"before its window {title!r} showed"
            )
        if time.monotonic() >= deadline:
            kind = "with a title starting with" if prefix else "titled"
            raise StepTimeoutError(
                f"no window {kind} {title!r} appeared within {timeout_s:g} s"
            )
        time.sleep(interval_s)
    return titles[0]
