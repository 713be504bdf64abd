"""`rpa console`: the operator web console."""

import ipaddress
from typing import Annotated

import typer

from robotlib.cli._app import app, console, fail, open_project

__all__ = ["console_command"]


@app.command("console")
def console_command(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            help="Address to bind. The loopback default keeps the console on this "
            "machine; to serve others, put it behind an HTTPS reverse proxy and "
            "pass --secure-cookies.",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8766,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Mark the session cookie Secure: browsers then send it over HTTPS "
            "only (behind a reverse proxy doing TLS).",
        ),
    ] = False,
) -> None:
    """Serve the operator web console: last night's runs, the exception queue,
    schedules and the audit trail, for the users `rpa users add` created.

    Viewers read; operators also retry and resolve exception items and pause and
    resume schedules; admins also read the audit trail. Stop it with Ctrl+C.
    """
    import uvicorn

    from robotlib.console import create_app

    with open_project(ctx) as project:
        application = create_app(project, secure_cookies=secure_cookies)
        users = application.state.console.accounts.list()
        if not users:
            fail(
                "The console has no users yet: add one with "
                "`rpa users add NAME --role admin` first."
            )
        if not _loopback(host) and not secure_cookies:
            console.print(
                f"Warning: serving on {host} without --secure-cookies: session "
                "cookies and passwords cross the network in clear unless an HTTPS "
                "proxy is in front.",
                style="yellow",
                markup=False,
            )
        console.print(f"Console on http://{host}:{port}/ (Ctrl+C stops it)")
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_level="warning",
            server_header=False,
            proxy_headers=False,
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
