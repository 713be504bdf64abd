"""``GET /metrics``: the queue and the runs for Prometheus (prometheus-client).

Read from the project database at each scrape, so any console of the project
answers the same. Only counts and times: no item's data, no CPR number.

A scraper signs in with a bearer token, the password of the credentials system
``[console] metrics_credentials`` names; a signed-in console user may read it too.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from robotlib.console._security import LoginRequiredError, console_of, current_session
from robotlib.db import database_engine
from robotlib.engine import coordinator_of
from robotlib.fleet import AgentRecord, AgentState, AgentStore
from robotlib.project import Project
from robotlib.queue.models import ItemState, Run

__all__ = ["ProjectCollector", "add_metrics_route"]

#: Run duration buckets, in seconds: a minute to four hours (floats: their
#: ``le`` labels read "60.0", as prometheus-client's own histograms write them).
_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)


class ProjectCollector(Collector):
    """The project's items by robot and state, and its runs (coordinating runs
    only: a run with ``--workers 2`` counts once)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._agents: AgentStore | None = None

    def collect(self) -> Iterator[Metric]:
        backend = self.project.backend
        every = backend.runs()
        runs = [run for run in every if coordinator_of(run.id) is None]
        robots = sorted({run.robot for run in every})
        items = GaugeMetricFamily(
            "rpa_items", "Work items by robot and state.", labels=["robot", "state"]
        )
        depth = GaugeMetricFamily(
            "rpa_queue_depth", "Items waiting to be processed (new).", labels=["robot"]
        )
        for robot in robots:
            counts = backend.counts(robot)
            for state in ItemState:
                items.add_metric([robot, state.value], counts[state])
            depth.add_metric([robot], counts[ItemState.NEW])
        yield items
        yield depth
        yield from _run_metrics(runs)
        yield from _agent_metrics(self._agent_store().all(), backend.clock())

    def _agent_store(self) -> AgentStore:
        if self._agents is None:
            self.project.backend  # noqa: B018 - the schema, upgraded
            engine = database_engine(self.project.settings.database)
            self._agents = AgentStore(engine, clock=self.project.backend.clock)
        return self._agents


def _agent_metrics(agents: list[AgentRecord], now: datetime) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "rpa_agent_up",
        "1 while the agent beats and is online or draining, else 0.",
        labels=["agent", "host"],
    )
    beat = GaugeMetricFamily(
        "rpa_agent_heartbeat_timestamp_seconds",
        "When the agent last beat (Unix time).",
        labels=["agent"],
    )
    running = GaugeMetricFamily(
        "rpa_agent_running_workers",
        "Worker processes the agent runs now.",
        labels=["agent"],
    )
    capacity = GaugeMetricFamily(
        "rpa_agent_workers",
        "Worker processes the agent runs at most.",
        labels=["agent"],
    )
    for agent in agents:
        live = agent.alive(now) and agent.state != AgentState.OFFLINE
        up.add_metric([agent.name, agent.host], 1 if live else 0)
        beat.add_metric([agent.name], agent.heartbeat_at.timestamp())
        running.add_metric([agent.name], agent.running if live else 0)
        capacity.add_metric([agent.name], agent.workers)
    yield from (up, beat, running, capacity)


def _run_metrics(runs: list[Run]) -> Iterator[Metric]:
    totals = CounterMetricFamily(
        "rpa_runs", "Runs by robot and how they ended.", labels=["robot", "status"]
    )
    for (robot, status), count in sorted(
        Counter((run.robot, run.status.value) for run in runs).items()
    ):
        totals.add_metric([robot, status], count)
    yield totals
    durations = HistogramMetricFamily(
        "rpa_run_duration_seconds", "How long finished runs took.", labels=["robot"]
    )
    last_end = GaugeMetricFamily(
        "rpa_last_run_end_timestamp_seconds",
        "When the robot's last finished run ended (Unix time).",
        labels=["robot", "status"],
    )
    #: robot -> (ended, seconds, status) of each finished run
    ended: dict[str, list[tuple[datetime, float, str]]] = {}
    for run in runs:
        if run.finished_at is not None:
            took = (run.finished_at - run.started_at).total_seconds()
            ended.setdefault(run.robot, []).append(
                (run.finished_at, took, run.status.value)
            )
    for robot, finished in sorted(ended.items()):
        seconds = [took for _, took, _ in finished]
        buckets = [(str(edge), sum(s <= edge for s in seconds)) for edge in _BUCKETS]
        buckets.append(("+Inf", len(seconds)))
        durations.add_metric([robot], buckets, sum(seconds))
        at, _, status = max(finished)
        last_end.add_metric([robot, status], at.timestamp())
    yield durations
    yield last_end


def _scraper(request: Request, authorization: Annotated[str, Header()] = "") -> None:
    """Allow the metrics token's bearer, or a signed-in user (else 401)."""
    system = console_of(request).project.settings.console.metrics_credentials
    given = authorization.removeprefix("Bearer ").strip()
    if system is not None and given:
        password = console_of(request).project.credentials().get(system).password
        if password is not None and hmac.compare_digest(
            given.encode(), password.get_secret_value().encode()
        ):
            return
    try:
        current_session(request)
    except LoginRequiredError:
        raise _Unauthorized() from None


class _Unauthorized(Exception):
    """A scrape without the metrics token."""


def add_metrics_route(app: FastAPI, project: Project) -> None:
    """Serve ``/metrics`` for ``project``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProjectCollector(project))

    @app.exception_handler(_Unauthorized)
    def unauthorized(request: Request, exc: _Unauthorized) -> Response:
        return Response(
            "a bearer token (the metrics credentials' password) is needed\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )

    @app.get("/metrics", dependencies=[Depends(_scraper)])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
