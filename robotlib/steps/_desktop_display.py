"""The display desktop steps work on: pyautogui imported once, clear errors without one.

Importing pyautogui connects to the display (and fails without one), so it is
imported when a step first needs it, with its fail-safe on and its pauses off.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from robotlib.errors import ConfigurationError

__all__ = ["NO_DISPLAY", "pyautogui", "require_display", "xauthority_path"]

NO_DISPLAY = (
    "No display: desktop steps need a graphical session; on a server run them "
    "under Xvfb (xvfb-run) or set DISPLAY"
)


def require_display() -> None:
    """Raise the clear error, not pyautogui's KeyError, when there is no display."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise ConfigurationError(NO_DISPLAY)


def pyautogui() -> Any:
    """Import pyautogui (once), with the fail-safe on and without its pauses."""
    require_display()
    first = "pyautogui" not in sys.modules
    gui = _import_pyautogui()
    if first:
        _close_which_pipes()
        atexit.register(_close_display_connections)
    gui.FAILSAFE = True
    gui.PAUSE = 0
    return gui


def _import_pyautogui() -> Any:
    """Import pyautogui, turning a failed display connection into a clear error."""
    with warnings.catch_warnings():
        # pyscreeze and mouseinfo leave `which scrot` pipes open at import.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            return importlib.import_module("pyautogui")
        except ImportError:
            raise
        except Exception as exc:
            failure = _display_error(exc)
        # python-xlib leaves a refused connection open: let it close quietly here.
        gc.collect()
    raise failure


def _close_which_pipes() -> None:
    """pyscreeze and mouseinfo run ``which scrot`` at import and keep its pipes open."""
    for name in ("pyscreeze", "mouseinfo"):
        process = getattr(sys.modules.get(name), "whichProc", None)
        if isinstance(process, subprocess.Popen):
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()


def _close_display_connections() -> None:
    """Close pyautogui's X connections at exit (they live in module globals).

    Only the sockets are closed: the X server may be gone already (a test's Xvfb),
    and python-xlib's own ``close()`` raises then.
    """
    for name in ("pyautogui._pyautogui_x11", "mouseinfo"):
        connection = getattr(sys.modules.get(name), "_display", None)
        sock = getattr(getattr(connection, "display", None), "socket", None)
        if sock is not None:
            sock.close()


def _display_error(exc: Exception) -> ConfigurationError:
    """Say what is wrong when connecting to the display failed inside pyautogui."""
    display = os.environ.get("DISPLAY", "")
    if type(exc).__name__ == "XauthError":
        authority = xauthority_path()
        return ConfigurationError(
            f"Cannot read the X authority file {authority} ({exc}). Set XAUTHORITY "
            "to the display's authority file, or, for a display that needs none "
            "(a bare Xvfb), create an empty one: `touch ~/.Xauthority` or "
            "robotlib.steps.desktop.create_xauthority(). xvfb-run sets one up."
        )
    return ConfigurationError(
        f"Cannot connect to the display {display!r}: {type(exc).__name__}: {exc}"
    )


def xauthority_path() -> Path:
    """The X authority file: ``$XAUTHORITY``, else ``~/.Xauthority``."""
    configured = os.environ.get("XAUTHORITY")
    return Path(configured) if configured else Path.home() / ".Xauthority"
