"""Shared fixtures: the sandbox (in-process app or a live server) and a real browser."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import structlog
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, sync_playwright

from robotlib.launcher import launch_chromium
from robotlib.settings import Settings
from sandbox import SandboxConfig, SandboxServer, create_app
from sandbox.database import SEED_USERS

ROBOT_USER = "robot"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put structlog and the root logger back as they were after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


ROBOT_PASSWORD = SEED_USERS[ROBOT_USER][0]


@pytest.fixture
def make_sandbox_config(tmp_path: Path) -> Callable[..., SandboxConfig]:
    """Return a factory of sandbox configs with a temporary database."""

    def make(**overrides: Any) -> SandboxConfig:
        values: dict[str, Any] = {"db_path": tmp_path / "sandbox.db", "spinner_ms": 0}
        values.update(overrides)
        return SandboxConfig(**values)

    return make


@pytest.fixture
def make_client(
    make_sandbox_config: Callable[..., SandboxConfig],
) -> Iterator[Callable[..., TestClient]]:
    """Return a factory of HTTP clients of a fresh in-process sandbox."""
    clients: list[TestClient] = []

    def make(*, login: bool = True, **overrides: Any) -> TestClient:
        client = TestClient(create_app(make_sandbox_config(**overrides)))
        clients.append(client)
        if login:
            log_in(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """Return an HTTP client of a fresh sandbox, logged in as the robot user."""
    return make_client()


def log_in(
    client: TestClient | httpx.Client,
    username: str = ROBOT_USER,
    password: str = ROBOT_PASSWORD,
) -> httpx.Response:
    """Log in through the login form and return the response."""
    return client.post(
        "/login",
        data={"username": username, "password": password},
        follow_redirects=False,
    )


@pytest.fixture(name="log_in")
def log_in_fixture() -> Callable[..., httpx.Response]:
    """Return the login helper (test modules cannot import conftest: importlib mode)."""
    return log_in


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """Serve one sandbox on a free loopback port for the whole test session."""
    db_path = tmp_path_factory.mktemp("sandbox") / "sandbox.db"
    with SandboxServer(SandboxConfig(db_path=db_path, spinner_ms=200)) as server:
        yield server


@pytest.fixture
def live_sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """Return the live sandbox, reset to its seed data before and after the test."""
    httpx.post(f"{sandbox_server.url}/api/reset").raise_for_status()
    yield sandbox_server
    httpx.post(f"{sandbox_server.url}/api/reset").raise_for_status()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Launch one real headless Chromium for the session, as robots will."""
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, settings=Settings())
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, live_sandbox: SandboxServer) -> Iterator[Page]:
    """Return a fresh page in its own context, with the live sandbox as base URL."""
    context = browser.new_context(base_url=live_sandbox.url, accept_downloads=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()
