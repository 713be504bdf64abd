"""Run the sandbox in a background thread: for tests, benchmarks and the CLI.

Example:
    >>> config = SandboxConfig(db_path=tmp / "sandbox.db")
    >>> with SandboxServer(config) as server:  # doctest: +SKIP
    ...     print(server.url)
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from types import TracebackType

import uvicorn

from sandbox.app import create_app
from sandbox.config import SandboxConfig

__all__ = ["SandboxServer", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SandboxServer:
    """The sandbox served by uvicorn in a thread; a context manager.

    Args:
        config: the sandbox's settings.
        host: the address to bind; loopback unless you mean otherwise.
        port: the port; 0 picks a free one.
    """

    def __init__(
        self, config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config
        self.host = host
        self.port = port or free_port(host)
        self.app = create_app(config)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=host,
                port=self.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, name="sandbox-server", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    def start(self, *, timeout_s: float = 20.0) -> None:
        """Start serving and wait until ``/api/health`` answers."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(f"the sandbox could not start on {self.url}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the sandbox did not answer on {self.url} in {timeout_s} s")

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def wait(self, until: threading.Event | None = None) -> None:
        """Block until the server stops, or until ``until`` is set."""
        while self._thread.is_alive() and not (until is not None and until.is_set()):
            self._thread.join(timeout=0.5)

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
