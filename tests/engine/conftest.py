"""Fixtures of the engine tests: a project folder, a queue, logging set up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from robotlib.engine import Engine
from robotlib.logs import Redactor, build_redactor, configure_logging
from robotlib.queue import InMemoryBackend, QueueBackend, SqlAlchemyBackend
from robotlib.robot import Robot
from robotlib.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings of an empty project in a temporary folder."""
    return Settings(project_dir=tmp_path, cpr_in_logs="hash")


@pytest.fixture
def redactor(settings: Settings) -> Redactor:
    """The project's redactor, with logging configured to use it."""
    redactor = build_redactor(settings)
    configure_logging(settings, redactor=redactor, console_level="ERROR")
    return redactor


@pytest.fixture(params=["memory", "sqlite"])
def backend(
    request: pytest.FixtureRequest, settings: Settings
) -> Iterator[QueueBackend]:
    """The work queue, in memory and in a SQLite file."""
    if request.param == "memory":
        queue: QueueBackend = InMemoryBackend()
    else:
        queue = SqlAlchemyBackend(f"sqlite:///{settings.project_dir / 'queue.db'}")
    yield queue
    queue.close()


@pytest.fixture
def make_engine(
    settings: Settings, backend: QueueBackend, redactor: Redactor
) -> Callable[..., Engine]:
    """Return a factory of engines for a robot, with retries that do not wait."""

    def make(robot: Robot, **options: Any) -> Engine:
        options.setdefault("sleep", lambda seconds: None)
        return Engine(
            robot, settings=settings, backend=backend, redactor=redactor, **options
        )

    return make
