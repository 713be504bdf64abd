"""`rpa notify test`: check that failure notifications reach people."""

import socket

import typer

from robotlib.cli._app import app, console, fail, open_project
from robotlib.cli._options import OptionsAnywhere

__all__ = ["notify_app", "test"]

notify_app = typer.Typer(
    cls=OptionsAnywhere,
    help="Notify people of scheduled runs that need attention ([notify] in "
    "rpa.toml); `rpa notify test` checks that they hear.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(notify_app, name="notify")


@notify_app.command()
def test(ctx: typer.Context) -> None:
    """Send a test notification to every notifier of the [notify] table.

    Prints one line per notifier: ok, or why it failed. Exits 1 when one failed,
    2 when none is configured.
    """
    from robotlib.notify import Notification, build_notifiers, send_all

    # The failures are printed below; the console log would only repeat them.
    with open_project(ctx, console_level="CRITICAL") as project:
        notifiers = build_notifiers(project.settings, project.credentials)
        if not notifiers:
            fail(
                "No notifier is configured: add a [notify] table to rpa.toml with "
                "command = [...] or smtp_host, smtp_from and smtp_to (see "
                "docs/configuration.md, Notifications)."
            )
        host = socket.gethostname()
        notification = Notification(
            kind="test",
            subject=f"robotlib: test notification from {host}",
            body=(
                f"This is a test notification from robotlib on {host}, project "
                f"{project.settings.project_dir.resolve()}.\n\n"
                "If you read it, you will hear of scheduled runs that stop on "
                "system exceptions, end with too many business exceptions, miss "
                "their deadline or fail their preflight.\n"
            ),
        )
        failed = 0
        for notifier in notifiers:
            problems = send_all([notifier], notification)
            if problems:
                failed += 1
                console.print(
                    f"{notifier.name}: failed: {problems[0]}",
                    style="red",
                    markup=False,
                    highlight=False,
                )
            else:
                console.print(f"{notifier.name}: ok", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)
