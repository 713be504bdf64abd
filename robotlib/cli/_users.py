"""`rpa users`: the operator console's user accounts."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from robotlib.cli._app import (
    app,
    cli_actor,
    console,
    fail,
    local,
    open_project,
    print_json,
    print_table,
)
from robotlib.cli._options import OptionsAnywhere
from robotlib.console import (
    MIN_PASSWORD_LENGTH,
    Role,
    User,
    check_name,
    check_password,
)

if TYPE_CHECKING:
    from robotlib.console import AccountStore
    from robotlib.project import Project

__all__ = ["add", "list_users", "password", "remove", "role", "users_app"]

users_app = typer.Typer(
    cls=OptionsAnywhere,
    help="Manage the users of the operator console. Roles, each allowed what the "
    "ones before are: viewer reads the pages; operator also retries and resolves "
    "exception items and pauses and resumes schedules; admin also reads the audit "
    "log and manages users. Every change is written to the audit log.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(users_app, name="users")

_ROLES = ", ".join(role.value for role in Role)

UserName = Annotated[
    str, typer.Argument(help="The user's login name.", show_default=False)
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (for "
        "scripts) instead of asking for it.",
    ),
]


@users_app.command()
def add(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="The login name: 1-100 ASCII letters, digits, '.', '_', '-' or '@'.",
            show_default=False,
        ),
    ],
    role: Annotated[
        str,
        typer.Option("--role", "-r", help=f"The user's role: {_ROLES}."),
    ],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a console user with a role and a password.

    The password is asked for twice and not shown, or read with --password-stdin;
    it needs at least 12 characters and must not be the name. Only its argon2 hash
    is stored.
    """
    with _accounts(ctx) as (project, store):
        check_name(name)
        new_role = Role.parse(role)
        if store.get(name) is not None:
            fail(f"user {name!r} exists already: see `rpa users list`")
        user = store.add(name, new_role, _new_password(name, from_stdin=password_stdin))
        _audit(project, "user_add", f"added console user {name} with role {user.role}")
    _say(f"Added user {user.name} ({user.role}).")


@users_app.command("list")
def list_users(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the console users: role, when added, when the password last changed.

    Times are local.
    """
    with _accounts(ctx) as (_project, store):
        users = store.list()
    if as_json:
        print_json(users)
        return
    print_table(
        "Console users",
        ["name", "role", "created", "password changed"],
        [
            [u.name, u.role, local(u.created_at), local(u.password_changed_at)]
            for u in users
        ],
    )
    if not users:
        _say("No users yet: add one with `rpa users add NAME --role admin`.")


@users_app.command()
def remove(ctx: typer.Context, name: UserName) -> None:
    """Remove a console user; their open sessions end at once."""
    with _accounts(ctx) as (project, store):
        user = _existing(store, name)
        store.remove(name)
        _audit(
            project,
            "user_remove",
            f"removed console user {name} (role {user.role}); their sessions ended",
        )
    _say(f"Removed user {name}; their sessions ended.")


@users_app.command()
def role(
    ctx: typer.Context,
    name: UserName,
    new_role: Annotated[
        str,
        typer.Argument(
            metavar="role", help=f"The new role: {_ROLES}.", show_default=False
        ),
    ],
) -> None:
    """Give a console user another role, from their next request on."""
    with _accounts(ctx) as (project, store):
        wanted = Role.parse(new_role)
        user = _existing(store, name)
        if user.role == wanted:
            _say(f"User {name} is {wanted} already; nothing changed.")
            return
        store.set_role(name, wanted)
        _audit(
            project,
            "user_role",
            f"console user {name}: role {user.role} -> {wanted}",
        )
    _say(f"User {name} is now {wanted} (was {user.role}).")


@users_app.command()
def password(
    ctx: typer.Context, name: UserName, password_stdin: PasswordStdin = False
) -> None:
    """Set a console user's password; their open sessions end (logged out).

    The password is asked for twice and not shown, or read with --password-stdin;
    it needs at least 12 characters and must not be the name.
    """
    with _accounts(ctx) as (project, store):
        user = _existing(store, name)
        store.set_password(name, _new_password(name, from_stdin=password_stdin))
        _audit(
            project,
            "user_password",
            f"set the password of console user {name} (role {user.role}); "
            "their sessions ended",
        )
    _say(f"Set the password of user {name}; their sessions ended.")


@contextmanager
def _accounts(ctx: typer.Context) -> Iterator[tuple["Project", "AccountStore"]]:
    """The project and its account store; a bad name, role or password exits 2."""
    from robotlib.console import AccountStore

    with open_project(ctx) as project:
        project.backend  # noqa: B018 - opening the queue creates or migrates tables
        store = AccountStore(project.settings.database)
        try:
            yield project, store
        except KeyError as exc:  # an unknown user
            fail(str(exc.args[0]))
        except ValueError as exc:  # a rule broken, a user that exists
            fail(str(exc))
        finally:
            store.close()


def _existing(store: "AccountStore", name: str) -> User:
    user = store.get(name)
    if user is None:
        fail(f"no user {name!r}: see `rpa users list`")
    return user


def _new_password(name: str, *, from_stdin: bool) -> str:
    """The new password from standard input or asked twice; checked by the policy."""
    if from_stdin:
        new = sys.stdin.readline().rstrip("\r\n")
        if not new:
            fail("--password-stdin: standard input held no password")
        check_password(name, new)
        return new
    console.print(
        f"The password needs at least {MIN_PASSWORD_LENGTH} characters and must "
        "not be the user name.",
        highlight=False,
        markup=False,
    )
    new = str(typer.prompt("Password", hide_input=True))
    check_password(name, new)
    if str(typer.prompt("Repeat the password", hide_input=True)) != new:
        fail("the two passwords differ: nothing changed")
    return new


def _audit(project: "Project", action: str, note: str) -> None:
    project.backend.record_audit(actor=cli_actor(), action=action, note=note)


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)
