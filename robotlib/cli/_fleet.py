"""`rpa agent` and `rpa agents`: the service on each robot machine, and the fleet."""

import socket
from datetime import UTC, datetime
from typing import Annotated

import typer

from robotlib.cli._app import (
    app,
    console,
    fail,
    local,
    open_project,
    print_json,
    print_table,
    stop_on_signals,
)

__all__ = ["agent", "agents"]


@app.command()
def agent(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option(
            help="The agent's name in the fleet (one per machine; default: the host "
            "name). A restarted agent of the same name takes its row over."
        ),
    ] = None,
    robots: Annotated[
        str,
        typer.Option(
            help="The robots it may run, comma-separated; '*': every robot of the "
            "project on this machine."
        ),
    ] = "*",
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Worker processes it runs at most, across robots."
        ),
    ] = 1,
    heartbeat: Annotated[
        int,
        typer.Option(
            min=1,
            max=3600,
            metavar="SECONDS",
            help="Seconds between heartbeats; three missed and it counts as offline.",
        ),
    ] = 10,
    poll: Annotated[
        float,
        typer.Option(
            min=0.1,
            metavar="SECONDS",
            help="On SQLite: seconds between looks for work (PostgreSQL wakes it "
            "with LISTEN/NOTIFY at once).",
        ),
    ] = 5.0,
) -> None:
    """Run this machine's agent: take a share of scheduled runs' items.

    The agent registers the machine in the project database (RPA_DATABASE_URL:
    the fleet's PostgreSQL), beats every --heartbeat seconds and waits for work.
    When the scheduler fires a job of a robot it may run, the job's `workers = N`
    are shared across the live agents: this one starts up to --workers `rpa
    worker` processes and supervises them (a worker that dies is recorded and its
    item goes back to the queue). Ctrl+C or SIGTERM drains it: no more work is
    taken, each worker finishes its current item, then it exits; a second one
    stops the workers at once. Run it as a service (systemd, a Windows service):
    see docs/fleet.md. Its log is under logs/_agent/.
    """
    from robotlib.engine import new_run_id
    from robotlib.fleet import ANY_ROBOT, Agent, AgentOptions
    from robotlib.logs import run_log
    from robotlib.notify import build_notifiers

    wanted = tuple(r.strip() for r in robots.split(",") if r.strip())
    if not wanted:
        fail("--robots names no robot: give names, or '*' for every robot.")
    if ANY_ROBOT in wanted and len(wanted) > 1:
        fail("--robots: '*' means every robot; give it alone.")
    options = AgentOptions(
        name=name or socket.gethostname(),
        robots=wanted,
        workers=workers,
        heartbeat_s=heartbeat,
        poll_s=poll,
    )
    with open_project(ctx, console_level="INFO") as project:
        if project.settings.database.startswith("memory:"):
            fail("an agent needs the project database (SQLite or PostgreSQL).")
        service = Agent(
            project,
            options,
            notifiers=build_notifiers(project.settings, project.credentials),
        )
        folder = project.settings.logs / "_agent" / new_run_id(datetime.now(UTC))
        message = "Draining: each worker finishes its current item (again: at once)."
        with (
            run_log(folder / "events.jsonl"),
            stop_on_signals(service.stop, message, again=service.stop_now),
        ):
            service.serve()


@app.command()
def agents(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    forget: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Remove an agent that is offline for good (a machine taken out).",
        ),
    ] = None,
) -> None:
    """List the fleet's agents: state, robots, workers running, last heartbeat.

    An agent whose heartbeats stopped (three missed) is shown offline; the next
    agent, run or scheduler to look marks it so and notifies.
    """
    from robotlib.db import database_engine
    from robotlib.fleet import AgentState, AgentStore

    with open_project(ctx) as project:
        project.backend  # noqa: B018 - the schema, upgraded
        engine = database_engine(project.settings.database)
        try:
            store = AgentStore(engine, clock=project.backend.clock)
            if forget is not None:
                try:
                    found = store.get(forget)
                except KeyError:
                    fail(f"no agent named {forget!r} (see `rpa agents`)")
                if found.state != AgentState.OFFLINE:
                    fail(f"agent {forget!r} is {found.state}: stop it first")
                store.forget(forget)
                console.print(f"Agent {forget} removed.")
                return
            now = project.backend.clock()
            records = store.all()
        finally:
            engine.dispose()
    shown = [
        (a, a.state if a.alive(now) or a.state == AgentState.OFFLINE else "offline")
        for a in records
    ]
    if as_json:
        print_json(
            [
                {
                    "name": a.name,
                    "host": a.host,
                    "state": state,
                    "robots": list(a.robots),
                    "workers": a.workers,
                    "running": a.running,
                    "pid": a.pid,
                    "version": a.version,
                    "started_at": a.started_at,
                    "heartbeat_at": a.heartbeat_at,
                }
                for a, state in shown
            ]
        )
        return
    if not records:
        console.print("No agents: start `rpa agent` on each robot machine.")
        return
    print_table(
        "Agents",
        ["Name", "Host", "State", "Robots", "Running", "Last heartbeat", "Version"],
        [
            (
                a.name,
                a.host,
                state,
                ", ".join(a.robots),
                f"{a.running}/{a.workers}",
                local(a.heartbeat_at),
                a.version,
            )
            for a, state in shown
        ],
    )
