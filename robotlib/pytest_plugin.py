"""robotlib's pytest plugin: fixtures for testing robots end to end.

Installed with robotlib (a ``pytest11`` entry point, as pytest-playwright does), so a
robot project's tests use the fixtures without importing anything:

```python
# tests/test_lab_results.py
def test_good_rows_are_registered(run_robot, rpa_sandbox):
    run = run_robot("lab_results", input="robots/inputs/lab_results.xlsx",
                    credentials={"sandbox": rpa_sandbox.credentials})
    assert run.exit_code == 0
    assert run.outcomes["010473-9321|NPU02319|2026-11-20T08:15:00"] == "done"
```

Fixtures:

- ``rpa_sandbox``: the sandbox clinical system served on a free loopback port
  (one per test session), reset to its seed data before and after each test; its
  ``url``, the robot user's ``credentials`` and ``api(path)`` for its test API.
  Override ``rpa_sandbox_config`` to change its settings.
- ``rpa_browser``: one headless Chromium for the session, found as ``rpa run``
  finds it (the system's Chromium included).
- ``rpa_session``: a browser session logged in to the sandbox, for testing steps
  and helpers on their own.
- ``run_robot`` / ``preflight_robot``: :func:`robotlib.testing.run_robot` and
  :func:`~robotlib.testing.preflight_robot` on the project the test file is in,
  with the shared Chromium, one queue per test (so a second run is a rerun) and
  the test's ``tmp_path`` for logs.
- ``robot_project``: a throw-away project folder to write robots into.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from robotlib import testing
from robotlib.testing import InMemoryBackend, RobotRun, find_project, scratch_context

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from robotlib.engine import PreflightResult
    from robotlib.steps.browser import BrowserSession
    from sandbox import SandboxConfig, SandboxServer

#: The sandbox's robot user (its seed data).
SANDBOX_USER = {"username": "robot", "password": "robot-pass-1"}


@dataclass(frozen=True)
class Sandbox:
    """The live sandbox of a test."""

    server: SandboxServer

    @property
    def url(self) -> str:
        """Its base URL, ``http://127.0.0.1:<port>``."""
        return self.server.url

    @property
    def credentials(self) -> dict[str, str]:
        """The robot user's credentials: ``credentials={"sandbox": ...}``."""
        return {"url": self.url, **SANDBOX_USER}

    def api(self, path: str) -> Any:
        """GET the sandbox's test API (``/lab-results?cpr=...``); the JSON answer."""
        import httpx2 as httpx

        response = httpx.get(f"{self.url}/api{path}")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Put the sandbox back to its seed data."""
        import httpx2 as httpx

        httpx.post(f"{self.url}/api/reset").raise_for_status()


@pytest.fixture(scope="session")
def rpa_sandbox_config(tmp_path_factory: pytest.TempPathFactory) -> SandboxConfig:
    """The sandbox's settings; override this fixture to change them."""
    from sandbox import SandboxConfig

    return SandboxConfig(db_path=tmp_path_factory.mktemp("sandbox") / "sandbox.db")


@pytest.fixture(scope="session")
def rpa_sandbox_server(rpa_sandbox_config: SandboxConfig) -> Iterator[SandboxServer]:
    """One sandbox on a free loopback port for the whole session."""
    from sandbox import SandboxServer

    with SandboxServer(rpa_sandbox_config) as server:
        yield server


@pytest.fixture
def rpa_sandbox(rpa_sandbox_server: SandboxServer) -> Iterator[Sandbox]:
    """The live sandbox, reset to its seed data before and after the test."""
    sandbox = Sandbox(rpa_sandbox_server)
    sandbox.reset()
    yield sandbox
    sandbox.reset()


@pytest.fixture(scope="session")
def rpa_browser() -> Iterator[Browser]:
    """One Chromium for the session, launched as ``rpa run`` launches it.

    Headless; ``RPA_HEADLESS=false`` shows it and ``RPA_BROWSER_SLOWMO_MS=300``
    slows it down, to watch a test (docs/debugging.md).
    """
    from robotlib.launcher import launch_chromium, start_playwright
    from robotlib.settings import Settings

    settings = Settings()  # the RPA_* variables
    playwright = start_playwright()
    try:
        chromium = launch_chromium(
            playwright, settings=settings, slow_mo_ms=settings.browser_slowmo_ms
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def rpa_session(
    rpa_browser: Browser, rpa_sandbox: Sandbox, tmp_path: Path
) -> Iterator[BrowserSession]:
    """A browser session logged in to the sandbox as the robot user."""
    from robotlib.steps import browser

    with scratch_context(
        tmp_path, credentials={"sandbox": rpa_sandbox.credentials}, browser=rpa_browser
    ) as ctx:
        session = browser.open_browser(
            ctx, browser.BrowserOptions(base_url=rpa_sandbox.url)
        )
        browser.login(session, ctx.credentials("sandbox"))
        yield session


@pytest.fixture
def rpa_credentials() -> dict[str, dict[str, str]]:
    """The credentials ``run_robot`` and ``preflight_robot`` give by default: none.

    Override it in a conftest.py to run every robot against the sandbox::

        @pytest.fixture
        def rpa_credentials(rpa_sandbox):
            return {"sandbox": rpa_sandbox.credentials}
    """
    return {}


@pytest.fixture(name="run_robot")
def run_robot_fixture(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    rpa_browser: Browser,
    rpa_credentials: dict[str, dict[str, str]],
) -> Callable[..., RobotRun]:
    """Run a robot of the test's project: ``run_robot(name, input=..., ...)``.

    Takes :func:`robotlib.testing.run_robot`'s arguments; ``credentials``
    defaults to the ``rpa_credentials`` fixture. The runs of one test share a
    queue, so a second run is a rerun of the first's items.
    """
    project = find_project(request.path.parent)
    backend = InMemoryBackend()

    def run(robot: Any, **options: Any) -> RobotRun:
        options.setdefault("credentials", rpa_credentials)
        options.setdefault("project_dir", project)
        options.setdefault("work_dir", tmp_path)
        options.setdefault("backend", backend)
        options.setdefault("browser", rpa_browser)
        return testing.run_robot(robot, **options)

    return run


@pytest.fixture(name="preflight_robot")
def preflight_robot_fixture(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    rpa_browser: Browser,
    rpa_credentials: dict[str, dict[str, str]],
) -> Callable[..., PreflightResult]:
    """Run a robot's preflight: ``preflight_robot(name, credentials=...)``."""
    project = find_project(request.path.parent)

    def preflight(robot: Any, **options: Any) -> PreflightResult:
        options.setdefault("credentials", rpa_credentials)
        options.setdefault("project_dir", project)
        options.setdefault("work_dir", tmp_path)
        options.setdefault("browser", rpa_browser)
        return testing.preflight_robot(robot, **options)

    return preflight


@dataclass
class RobotProject:
    """A throw-away robot project: ``robots/``, ``inputs``, and runs of it."""

    dir: Path
    _runs: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def robots(self) -> Path:
        """Its ``robots/`` package."""
        return self.dir / "robots"

    def write_robot(self, name: str, source: str) -> Path:
        """Write ``robots/<name>.py`` (dedented); return its path."""
        path = self.robots / f"{name}.py"
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    def run(self, robot: Any, **options: Any) -> RobotRun:
        """Run one of its robots (:func:`robotlib.testing.run_robot`'s arguments)."""
        options.setdefault("work_dir", self.dir / "runs" / str(next(self._runs)))
        return testing.run_robot(robot, project_dir=self.dir, **options)


@pytest.fixture
def robot_project(tmp_path: Path) -> RobotProject:
    """An empty robot project in the test's ``tmp_path`` (``robots/__init__.py``)."""
    project = RobotProject(tmp_path / "project")
    project.robots.mkdir(parents=True)
    (project.robots / "__init__.py").write_text('"""Robots."""\n', encoding="utf-8")
    return project
