"""Run the example robots against the live sandbox in real headless Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser

from robotlib import RetryPolicy
from robotlib.credentials import Credentials
from robotlib.discovery import load_robot
from robotlib.engine import Engine, PreflightResult, RunResult
from robotlib.logs import build_redactor, configure_logging
from robotlib.queue import InMemoryBackend, QueueBackend
from robotlib.settings import Settings
from sandbox import SandboxServer

ROBOTS = Path(__file__).resolve().parents[2] / "robots"


class RobotRun:
    """One example robot run: its result, queue and the sandbox's test API."""

    def __init__(self, result: RunResult, backend: QueueBackend, url: str) -> None:
        self.result = result
        self.backend = backend
        self.url = url

    def api(self, path: str) -> Any:
        """GET the sandbox's test API."""
        response = httpx.get(f"{self.url}/api{path}")
        response.raise_for_status()
        return response.json()


@pytest.fixture
def run_robot(
    tmp_path: Path, live_sandbox: SandboxServer, browser: Browser
) -> Callable[..., RobotRun]:
    """Return a runner of an example robot against the live sandbox."""
    settings = Settings(project_dir=tmp_path, cpr_in_logs="hash")
    redactor = build_redactor(settings)
    configure_logging(settings, redactor=redactor, console_level="ERROR")
    backend = InMemoryBackend()
    environ = {
        "RPA_CRED_SANDBOX_URL": live_sandbox.url,
        "RPA_CRED_SANDBOX_USERNAME": "robot",
        "RPA_CRED_SANDBOX_PASSWORD": "robot-pass-1",
    }

    def run(name: str, *, input_path: Path | None = None, **options: Any) -> RobotRun:
        robot = load_robot(ROBOTS, name).robot
        # retries without waiting: the queue's clock is real, so a backoff would
        # make the engine wait in earnest (its sleep is a no-op here)
        options.setdefault(
            "retry", RetryPolicy(attempts=robot.retry.attempts, backoff_s=(0,))
        )
        robot = robot.model_copy(update=options)
        engine = Engine(
            robot,
            settings=settings,
            backend=backend,
            redactor=redactor,
            credentials_loader=lambda: Credentials.load(
                settings, environ=environ, redactor=redactor
            ),
            shared={"robotlib.browser": browser},
            sleep=lambda seconds: None,
        )
        return RobotRun(engine.run(input_path=input_path), backend, live_sandbox.url)

    return run


@pytest.fixture
def preflight_robot(
    tmp_path: Path, live_sandbox: SandboxServer, browser: Browser
) -> Callable[..., PreflightResult]:
    """Return a runner of an example robot's preflight against the live sandbox.

    The runner takes the robot's name, the password (to test a refused login) and
    fields of the robot to replace (``preflight=...``).
    """
    settings = Settings(project_dir=tmp_path, cpr_in_logs="hash")
    redactor = build_redactor(settings)
    configure_logging(settings, redactor=redactor, console_level="ERROR")

    def preflight(
        name: str, *, password: str = "robot-pass-1", **options: Any
    ) -> PreflightResult:
        environ = {
            "RPA_CRED_SANDBOX_URL": live_sandbox.url,
            "RPA_CRED_SANDBOX_USERNAME": "robot",
            "RPA_CRED_SANDBOX_PASSWORD": password,
        }
        engine = Engine(
            load_robot(ROBOTS, name).robot.model_copy(update=options),
            settings=settings,
            backend=InMemoryBackend(),
            redactor=redactor,
            credentials_loader=lambda: Credentials.load(
                settings, environ=environ, redactor=redactor
            ),
            shared={"robotlib.browser": browser},
        )
        return engine.preflight()

    return preflight
