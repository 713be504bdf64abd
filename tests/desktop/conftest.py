"""Desktop fixtures: the legacy lab client running on the tests' Xvfb display.

The display itself (``xvfb``, ``display``) is in tests/conftest.py: one X server for
the whole session, shared with the desktop robot's tests, because pyautogui connects
to the display once per process.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from robotlib.steps.desktop import DesktopSession
from sandbox.legacy_client import TITLE


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


@pytest.fixture
def legacy_client(display: Any, tmp_path: Path) -> Iterator[LegacyClient]:
    """Launch the legacy lab client with an empty store; close it after the test."""
    store = tmp_path / "registrations.jsonl"
    session = DesktopSession()
    argv = [sys.executable, "-m", "sandbox.legacy_client", "--store", str(store)]
    try:
        session.launch(argv, window_title=TITLE, timeout_s=30)
        yield LegacyClient(session=session, store=store)
    finally:
        session.close()
