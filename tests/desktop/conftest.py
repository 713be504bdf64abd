"""Desktop fixtures: a private Xvfb display, and the legacy lab client running on it.

The tests start their own X server, so they run the same on a developer's desktop and
on a CI machine without one. ``scripts/ensure-desktop.sh`` installs what they need.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from robotlib.steps.desktop import DesktopSession
from sandbox.legacy_client import TITLE

SCREEN = (1024, 768)
_STARTUP_S = 10.0


@dataclass(frozen=True)
class VirtualDisplay:
    """A running Xvfb: its display name and the authority file with its cookie."""

    name: str
    authority: Path
    process: subprocess.Popen[bytes]


@dataclass(frozen=True)
class LegacyClient:
    """The legacy lab client launched on the display, and its registrations file."""

    session: DesktopSession
    store: Path

    def records(self, count: int, *, timeout_s: float = 10.0) -> list[str]:
        """Wait until the store holds ``count`` lines; return all of its lines."""
        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.lines()
            if len(lines) >= count or time.monotonic() >= deadline:
                return lines
            time.sleep(0.02)

    def lines(self) -> list[str]:
        """The store's lines as they are now (none when nothing was saved)."""
        if not self.store.exists():
            return []
        return self.store.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def xvfb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualDisplay]:
    """Start one Xvfb on a free display number, guarded by a random cookie."""
    missing = [tool for tool in ("Xvfb", "xauth", "xdotool") if not shutil.which(tool)]
    if missing:
        needed = ", ".join(missing)
        pytest.fail(f"the desktop tests need {needed}: run scripts/ensure-desktop.sh")
    authority = tmp_path_factory.mktemp("xvfb") / "Xauthority"
    cookie = secrets.token_hex(16)
    # Xvfb trusts every cookie in its -auth file, whatever display the entry names;
    # clients look the cookie up by display number, added once the number is known.
    _xauth(authority, "add", ":0", ".", cookie)
    read_end, write_end = os.pipe()
    width, height = SCREEN
    process = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-auth",
            str(authority),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        name = f":{_read_display_number(read_end, process)}"
        _xauth(authority, "add", name, ".", cookie)
        display = VirtualDisplay(name=name, authority=authority, process=process)
        _wait_until_answering(display)
        yield display
    finally:
        os.close(read_end)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def display(xvfb: VirtualDisplay, monkeypatch: pytest.MonkeyPatch) -> VirtualDisplay:
    """Point DISPLAY and XAUTHORITY at the test Xvfb for one test."""
    monkeypatch.setenv("DISPLAY", xvfb.name)
    monkeypatch.setenv("XAUTHORITY", str(xvfb.authority))
    return xvfb


@pytest.fixture
def legacy_client(display: VirtualDisplay, tmp_path: Path) -> Iterator[LegacyClient]:
    """Launch the legacy lab client with an empty store; close it after the test."""
    store = tmp_path / "registrations.jsonl"
    session = DesktopSession()
    argv = [sys.executable, "-m", "sandbox.legacy_client", "--store", str(store)]
    try:
        session.launch(argv, window_title=TITLE, timeout_s=30)
        yield LegacyClient(session=session, store=store)
    finally:
        session.close()


def _xauth(authority: Path, *args: str) -> None:
    subprocess.run(["xauth", "-q", "-f", str(authority), *args], check=True)


def _read_display_number(read_end: int, process: subprocess.Popen[bytes]) -> str:
    """Xvfb writes its display number to -displayfd once it accepts clients."""
    ready, _, _ = select.select([read_end], [], [], _STARTUP_S)
    number = os.read(read_end, 32).decode().strip() if ready else ""
    if not number:
        process.kill()
        _, errors = process.communicate()
        pytest.fail(f"Xvfb did not start: {errors.decode(errors='replace')}")
    return number


def _wait_until_answering(display: VirtualDisplay) -> None:
    env = {**os.environ, "DISPLAY": display.name, "XAUTHORITY": str(display.authority)}
    deadline = time.monotonic() + _STARTUP_S
    while True:
        answer = subprocess.run(
            ["xdotool", "getdisplaygeometry"], env=env, capture_output=True, text=True
        )
        if answer.returncode == 0:
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"Xvfb {display.name} does not answer: {answer.stderr}")
        time.sleep(0.05)
