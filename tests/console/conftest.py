"""What the console's tests share: the app served on a real port, and browser pages
opened on it in a chosen language (English unless a test asks for Danish)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page


class LiveConsole:
    """The console app served by uvicorn in a thread; a context manager.

    As ``sandbox.server.SandboxServer``, except that the socket is bound here (port
    0) and handed to uvicorn, so no other process can take the port in between.
    """

    def __init__(self, app: FastAPI) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="console-server",
            daemon=True,
        )

    def __enter__(self) -> LiveConsole:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the console did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()


@dataclass
class Served:
    """A console on a real port and a factory of fresh browser pages on it.

    ``open_page(locale)`` opens a new browser context, so a new cookie jar: a
    new user. Its locale sets ``Accept-Language`` (``en-US`` by default).
    """

    url: str
    open_page: Callable[..., Page]


@pytest.fixture
def serve(
    browser: Browser,
) -> Iterator[Callable[[FastAPI], AbstractContextManager[Served]]]:
    """Serve an app for the test: ``with serve(app) as served: served.open_page()``.

    Every browser context the test opened is closed when it ends.
    """
    contexts: list[BrowserContext] = []

    @contextmanager
    def serving(app: FastAPI) -> Iterator[Served]:
        with LiveConsole(app) as live:

            def open_page(locale: str = "en-US") -> Page:
                context = browser.new_context(base_url=live.url, locale=locale)
                context.set_default_timeout(10_000)
                contexts.append(context)
                return context.new_page()

            try:
                yield Served(live.url, open_page)
            finally:
                for context in contexts:
                    context.close()
                contexts.clear()

    yield serving


@pytest.fixture
def robot_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Path]:
    """``robot_project(ROBOT_FILE)``: a project folder whose ``robots/lab.py`` is
    the text given; no RPA_* variable of the caller reaches it."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)

    def make(robot_file: str) -> Path:
        folder = tmp_path / "project"
        (folder / "robots").mkdir(parents=True)
        (folder / "robots" / "lab.py").write_text(robot_file, "utf-8")
        return folder

    return make
