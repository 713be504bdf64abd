"""Desktop steps: keyboard, mouse and screen images for programs without a web page.

Built on pyautogui, which is imported only when a step first needs it: importing it
connects to the display, and fails without one. On a server, run desktop robots
under a virtual display (``xvfb-run rpa run legacy_desktop``, or an Xvfb you start
yourself); ``scripts/ensure-desktop.sh`` installs Xvfb, xauth, xdotool and scrot.

The steps never sleep for you. pyautogui's own 0.1 s pause after every call is
switched off (``pyautogui.PAUSE = 0``): with it, a click-type-click cycle takes
~300 ms instead of ~6 ms, and a fixed pause is either too long or, on a slow day,
too short. Wait for what the application shows instead: :func:`wait_for_image`,
:func:`wait_for_window`, or the result your application writes. pyautogui's
fail-safe stays on: moving the mouse into a corner of the screen stops the robot.

Example:
    >>> session = DesktopSession()
    >>> session.launch(["legacy-lab"], window_title="Legacy Lab Client")
    >>> type_text("010190-1234")
    >>> press("tab")
    >>> hotkey("ctrl", "s")
    >>> wait_for_image(Path("images/saved.png"), timeout_s=5)
    >>> session.close()
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from robotlib.errors import ApplicationError, ConfigurationError, StepTimeoutError
from robotlib.steps import _screen
from robotlib.steps._desktop_display import (
    NO_DISPLAY,
    pyautogui,
    require_display,
    xauthority_path,
)
from robotlib.steps._desktop_windows import (
    await_title,
    focus_window,
    require_xdotool_for,
    window_titles,
    xdotool,
)
from robotlib.steps._registry import step
from robotlib.steps._screen import Box

__all__ = [
    "NO_DISPLAY",
    "Box",
    "DesktopSession",
    "click",
    "click_image",
    "create_xauthority",
    "fill_fields",
    "hotkey",
    "press",
    "screenshot",
    "type_text",
    "wait_for_image",
    "wait_for_window",
    "window_exists",
]

_FAILSAFE = (
    "pyautogui's fail-safe stopped the robot: the mouse was moved into a corner of "
    "the screen (a person taking over, or a step that moved it there)"
)
_XDOTOOL_DELAY_MS = 12  # xdotool's default: with 0, remapped keys get lost


# Public API ---------------------------------------------------------------------------


@step(log_args=False)
def type_text(text: str, *, interval_s: float = 0.0) -> None:
    """Type ``text`` into the window that has the keyboard focus.

    The text is never logged: it may be a password or a CPR number. Characters
    pyautogui cannot type (``µ``, ``æøå``: it knows only US-keyboard ASCII) are
    typed with xdotool on Linux; elsewhere they are refused before anything is
    typed, so that no half value ends up in a field.

    Args:
        text: what to type; ``\\n`` presses Enter, ``\\t`` Tab.
        interval_s: seconds between two key presses (slow applications).

    Raises:
        ConfigurationError: no display, or characters this machine cannot type.

    Example:
        >>> type_text("NPU02319")
    """
    gui = pyautogui()
    runs = _typable_runs(gui, text)
    if any(not typable for typable, _ in runs):
        require_xdotool_for("".join(run for typable, run in runs if not typable))
    delay_ms = str(max(_XDOTOOL_DELAY_MS, round(interval_s * 1000)))
    with _failsafe(gui):
        for typable, run in runs:
            if typable:
                gui.write(run, interval=interval_s)
            else:
                xdotool("type", "--delay", delay_ms, "--", run)


@step(log_args=False)
def fill_fields(
    values: Sequence[str], *, between: str = "tab", then: str | None = None
) -> None:
    """Type each value into a field of a form, pressing ``between`` to move on.

    The form's first field must have the keyboard focus. Each value is typed as
    :func:`type_text` types it (never logged); after the last, ``then`` is pressed
    (``"enter"`` to submit), if given.

    Args:
        values: one text per field, in the order the form's fields take the focus.
        between: the key that moves to the next field.
        then: a key to press after the last value, or None.

    Raises:
        ConfigurationError: no display, or a key or characters this machine cannot
            type; checked before anything is typed.

    Example:
        >>> fill_fields(["010190-1234", "NPU02319", "8,4", "mmol/L"], then="enter")
    """
    gui = pyautogui()
    _check_keys(gui, [between] if then is None else [between, then])
    for number, value in enumerate(values):
        if number:
            press(between)
        type_text(value)
    if then is not None:
        press(then)


@step
def press(*keys: str) -> None:
    """Press and release each key in turn (``press("tab", "tab", "enter")``).

    Args:
        keys: pyautogui key names (``enter``, ``tab``, ``esc``, ``f5``, ``a``...).

    Raises:
        ConfigurationError: no display, or a key name pyautogui does not know.

    Example:
        >>> press("tab")
    """
    gui = pyautogui()
    _check_keys(gui, keys)
    with _failsafe(gui):
        gui.press(list(keys))


@step
def hotkey(*keys: str) -> None:
    """Hold the keys down in order, then release them in reverse (``ctrl``, ``s``).

    Args:
        keys: pyautogui key names, modifiers first.

    Raises:
        ConfigurationError: no display, or a key name pyautogui does not know.

    Example:
        >>> hotkey("ctrl", "s")
    """
    gui = pyautogui()
    _check_keys(gui, keys)
    with _failsafe(gui):
        gui.hotkey(*keys)


@step
def click(
    x: int,
    y: int,
    *,
    button: Literal["left", "middle", "right"] = "left",
    clicks: int = 1,
) -> None:
    """Click at screen position (``x``, ``y``).

    Args:
        x: pixels from the left edge of the screen.
        y: pixels from the top edge of the screen.
        button: which mouse button.
        clicks: 2 for a double click.

    Example:
        >>> click(120, 80)
    """
    gui = pyautogui()
    with _failsafe(gui):
        gui.click(x, y, clicks=clicks, button=button)


@step
def wait_for_image(
    image_path: Path | str,
    *,
    timeout_s: float = 10.0,
    interval_s: float = 0.1,
    confidence: float | None = None,
) -> Box:
    """Wait until the image appears on the screen; return where it is.

    Args:
        image_path: a PNG cut from a screenshot of the application.
        timeout_s: how long to look before giving up.
        interval_s: seconds between two looks.
        confidence: accept a match this close (0-1) instead of an exact one;
            needs OpenCV (the ``vision`` extra).

    Returns:
        The box on the screen where the image was found first.

    Raises:
        StepTimeoutError: the image did not appear within ``timeout_s``.
        ConfigurationError: the image file is missing or not an image.
        ImportError: ``confidence`` without OpenCV installed.

    Example:
        >>> wait_for_image("images/saved.png", timeout_s=5).center
        (212, 257)
    """
    return _wait_for_image(Path(image_path), timeout_s, interval_s, confidence)


@step
def click_image(
    image_path: Path | str,
    *,
    confidence: float | None = None,
    timeout_s: float = 10.0,
) -> Box:
    """Wait for the image to appear on the screen, then click its middle.

    Args:
        image_path: a PNG cut from a screenshot of the application (a button).
        confidence: accept a match this close (0-1); needs OpenCV (the ``vision``
            extra).
        timeout_s: how long to wait for the image.

    Returns:
        The box that was clicked.

    Raises:
        StepTimeoutError: the image did not appear within ``timeout_s``.
        ImportError: ``confidence`` without OpenCV installed.

    Example:
        >>> click_image("images/save_button.png", confidence=0.9)
    """
    box = _wait_for_image(Path(image_path), timeout_s, 0.1, confidence)
    gui = pyautogui()
    with _failsafe(gui):
        gui.click(*box.center)
    return box


@step
def screenshot(path: Path | str) -> Path:
    """Save a PNG of the whole screen to ``path`` (its folder is created).

    Uses Pillow's screen grab, or ``scrot`` where Pillow cannot reach the display.

    Raises:
        ConfigurationError: no display, or no way to take a screenshot here.

    Example:
        >>> screenshot(ctx.run_dir / "before-save.png")
    """
    require_display()
    return _screen.save_screenshot(Path(path))


@step
def wait_for_window(
    title: str,
    *,
    prefix: bool = False,
    timeout_s: float = 10.0,
    interval_s: float = 0.1,
) -> str:
    """Wait until a visible window has this title; return the title it has.

    With ``prefix=True`` a title that starts with ``title`` is enough, and the
    whole title found is returned: read what a program writes into its title
    (``"Legacy Lab Client - Saved as LAB-3"``) without OCR. When several windows
    match, the title of the first one listed is returned.

    Args:
        title: the whole title of the window, or its start with ``prefix``.
        prefix: match titles that start with ``title``.
        timeout_s: how long to wait.
        interval_s: seconds between two looks.

    Returns:
        The title of the window found (``title`` itself without ``prefix``).

    Raises:
        StepTimeoutError: no such window within ``timeout_s``.
        ConfigurationError: no display, or no way to list windows (xdotool).

    Example:
        >>> wait_for_window("Legacy Lab Client", timeout_s=20)
        'Legacy Lab Client'
        >>> wait_for_window("Legacy Lab Client - ", prefix=True)
        'Legacy Lab Client - Saved as LAB-3'
    """
    return await_title(title, timeout_s, interval_s, prefix=prefix)


def window_exists(title: str, *, prefix: bool = False) -> bool:
    """Whether a visible window has this title (or, with ``prefix``, starts with it).

    On Linux this asks xdotool (``scripts/ensure-desktop.sh`` installs it); on
    Windows, pyautogui's window list.

    Args:
        title: the whole title of the window, or its start with ``prefix``.
        prefix: match titles that start with ``title``.

    Raises:
        ConfigurationError: no display, or no way to list windows here.

    Example:
        >>> window_exists("Legacy Lab Client")
        True
        >>> window_exists("Legacy Lab", prefix=True)
        True
    """
    return bool(window_titles(title, prefix=prefix))


def create_xauthority(path: Path | None = None) -> Path:
    """Create an empty X authority file if there is none; return its path.

    pyautogui (through python-xlib) cannot even be imported when the authority
    file (``$XAUTHORITY``, or ``~/.Xauthority``) is missing, even for a display
    that needs none, such as a bare ``Xvfb :99``. An empty file is enough there;
    a display that checks cookies needs the real file (``xvfb-run`` makes one).

    Args:
        path: the file; default ``$XAUTHORITY``, else ``~/.Xauthority``.

    Example:
        >>> create_xauthority()
        PosixPath('/home/robot/.Xauthority')
    """
    if path is None:
        path = xauthority_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    return path


class DesktopSession:
    """The desktop programs a robot drives: an application for the engine.

    The engine screenshots the whole screen at a system exception and calls
    :meth:`close` at a restart, which ends the programs this session launched.

    Example:
        >>> def setup(ctx):
        ...     session = ctx.open_application(DesktopSession())
        ...     client = [sys.executable, "-m", "sandbox.legacy_client"]
        ...     session.launch(
        ...         [*client, "--store", "r.jsonl"], window_title="Legacy Lab Client"
        ...     )
    """

    name = "desktop"

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def __repr__(self) -> str:
        return f"DesktopSession(processes={len(self.processes)})"

    def __enter__(self) -> DesktopSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @step(name="launch_program")
    def launch(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        window_title: str,
        timeout_s: float = 30.0,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a program, wait until its window shows, and give it the keyboard.

        The window is the first visible one with exactly ``window_title``. It gets
        the keyboard focus because under a bare Xvfb there is no window manager to
        give it (on Windows the program's own window is left to take it).

        Args:
            argv: the program and its arguments.
            window_title: the title of the window that says the program is ready.
            timeout_s: how long to wait for the window.
            cwd: the folder to start the program in.

        Returns:
            The started process (ended by :meth:`close`).

        Raises:
            ApplicationError: the program ended before its window showed.
            StepTimeoutError: no window with that title within ``timeout_s``.
            ConfigurationError: no display, or no way to list windows (xdotool).
        """
        require_display()
        if sys.platform != "win32":
            require_xdotool_for(None)
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stderr=errors
            )
            self.processes.append(process)
            try:
                await_title(
                    window_title,
                    timeout_s,
                    0.05,
                    process=process,
                    program=os.fspath(argv[0]),
                )
            except ApplicationError as exc:
                errors.seek(0)
                output = errors.read().decode(errors="replace").strip()
                if not output:
                    raise
                raise type(exc)(f"{exc.message}; it wrote:\n{output[-2000:]}") from None
        focus_window(window_title)
        return process

    def screenshot(self, path: Path) -> Path | None:
        """Save a PNG of the whole screen to ``path``; return it."""
        require_display()
        return _screen.save_screenshot(path)

    def close(self) -> None:
        """End the programs this session launched (terminate, then kill)."""
        while self.processes:
            process = self.processes.pop()
            if process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# Private API --------------------------------------------------------------------------


@contextmanager
def _failsafe(gui: Any) -> Iterator[None]:
    """Turn pyautogui's fail-safe into our system exception, with the reason."""
    try:
        yield
    except gui.FailSafeException as exc:
        raise ApplicationError(_FAILSAFE) from exc


def _check_keys(gui: Any, keys: Sequence[str]) -> None:
    """pyautogui silently ignores unknown key names: refuse them instead."""
    if not keys:
        raise ConfigurationError("no key given")
    unknown = [key for key in keys if not gui.isValidKey(key)]
    if unknown:
        raise ConfigurationError(
            f"unknown key name(s) {', '.join(map(repr, unknown))}; "
            "see pyautogui.KEY_NAMES"
        )


def _typable_runs(gui: Any, text: str) -> list[tuple[bool, str]]:
    """Split text into runs pyautogui can type and runs it cannot (µ, æ, ø)."""
    runs: list[tuple[bool, str]] = []
    for char in text:
        typable = bool(gui.isValidKey(char))
        if runs and runs[-1][0] == typable:
            runs[-1] = (typable, runs[-1][1] + char)
        else:
            runs.append((typable, char))
    return runs


def _wait_for_image(
    path: Path, timeout_s: float, interval_s: float, confidence: float | None
) -> Box:
    require_display()
    if confidence is not None:
        _screen.require_opencv()
    needle = _screen.load_image(path)
    if confidence is not None and _screen.is_flat(needle):
        raise ConfigurationError(
            f"the image {path} is one flat colour: with a confidence it matches "
            "anywhere; cut a piece with some detail (text, an edge)"
        )
    deadline = time.monotonic() + timeout_s
    while True:
        found = _screen.locate(needle, _screen.grab_screen(), confidence)
        if found is not None:
            return found
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StepTimeoutError(
                f"the image {path} did not appear on the screen within {timeout_s:g} s"
            )
        time.sleep(min(interval_s, remaining))
