"""`rpa users`: add, list, change and remove console users, each change audited."""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from robotlib.cli import app
from robotlib.console._accounts import AccountStore, Role
from robotlib.queue import QueueBackend
from robotlib.settings import load_settings

Rpa = Callable[..., Result]

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def accounts(project: Path, backend: QueueBackend) -> Iterator[AccountStore]:
    """The project's console accounts, read as the console would."""
    store = AccountStore(load_settings(project).database)
    yield store
    store.close()


def add_user(rpa: Rpa, name: str = "anna", role: str = "operator") -> Result:
    """Run `rpa users add NAME --role ROLE --password-stdin` with PASSWORD."""
    return rpa(
        "users", "add", name, "--role", role, "--password-stdin", input=PASSWORD + "\n"
    )


def table_rows(output: str) -> list[list[str]]:
    """The cells of each body row of a table printed to a pipe (tab-separated)."""
    return [line.split("\t") for line in output.splitlines() if "\t" in line][1:]


def test_add_with_password_stdin_stores_the_user_and_audits_it(
    rpa: Rpa, accounts: AccountStore, backend: QueueBackend
) -> None:
    """`users add` stores a user who can log in; the audit names user and role."""
    result = add_user(rpa)

    assert 0 == result.exit_code, result.output
    assert "Added user anna (operator)." in result.stdout
    user = accounts.authenticate("anna", PASSWORD)
    assert user is not None and Role.OPERATOR == user.role
    [entry] = backend.audit_log()
    assert (ACTOR, "user_add") == (entry.actor, entry.action)
    assert "console user anna with role operator" in entry.note
    assert PASSWORD not in entry.note


def test_add_asks_for_the_password_twice_without_echo(
    rpa: Rpa, accounts: AccountStore
) -> None:
    """Without --password-stdin the password is prompted twice and never shown."""
    result = rpa(
        "users", "add", "bent", "--role", "viewer", input=f"{PASSWORD}\n{PASSWORD}\n"
    )

    assert 0 == result.exit_code, result.output
    assert "Password:" in result.stdout
    assert "Repeat the password:" in result.stdout
    assert PASSWORD not in result.output
    assert accounts.authenticate("bent", PASSWORD) is not None


def test_add_with_differing_passwords_exits_2_adding_no_one(
    rpa: Rpa, accounts: AccountStore, backend: QueueBackend
) -> None:
    """Two different passwords at the prompts: exit 2, no user, no audit entry."""
    result = rpa(
        "users", "add", "bent", "--role", "viewer", input=f"{PASSWORD}\n{PASSWORD}!\n"
    )

    assert 2 == result.exit_code
    assert "the two passwords differ" in result.stderr
    assert [] == accounts.list()
    assert [] == backend.audit_log()


def test_list_shows_users_as_a_table_and_as_json(rpa: Rpa) -> None:
    """`users list` shows name, role and local times; --json the same as records."""
    assert 0 == add_user(rpa, "bent", "viewer").exit_code
    assert 0 == add_user(rpa, "anna", "admin").exit_code

    table = rpa("users", "list")
    as_json = rpa("users", "list", "--json")

    assert 0 == table.exit_code == as_json.exit_code
    rows = table_rows(table.stdout)
    assert [["anna", "admin"], ["bent", "viewer"]] == [row[:2] for row in rows]
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", row[2]) for row in rows
    )
    records = json.loads(as_json.stdout)
    assert ["anna", "bent"] == [r["name"] for r in records]
    assert {"name", "role", "created_at", "password_changed_at", "language"} == set(
        records[0]
    )
    assert records[0]["created_at"].endswith("+00:00")
    assert PASSWORD not in table.stdout + as_json.stdout


def test_list_without_users_says_how_to_add_one(rpa: Rpa) -> None:
    """An empty list says how to add the first user."""
    result = rpa("users", "list")

    assert 0 == result.exit_code
    assert "rpa users add NAME --role admin" in result.stdout
    assert [] == json.loads(rpa("users", "list", "--json").stdout)


def test_role_changes_the_role_and_audits_it(
    rpa: Rpa, accounts: AccountStore, backend: QueueBackend
) -> None:
    """`users role NAME ROLE` changes the role, audited with old and new role."""
    add_user(rpa, "anna", "viewer")

    result = rpa("users", "role", "anna", "ADMIN")
    same = rpa("users", "role", "anna", "admin")

    assert 0 == result.exit_code == same.exit_code
    assert "User anna is now admin (was viewer)." in result.stdout
    assert "nothing changed" in same.stdout
    user = accounts.get("anna")
    assert user is not None and Role.ADMIN == user.role
    [entry, _added] = backend.audit_log()
    assert (ACTOR, "user_role") == (entry.actor, entry.action)
    assert "console user anna: role viewer -> admin" == entry.note


def test_password_sets_a_new_one_ends_sessions_and_audits(
    rpa: Rpa, accounts: AccountStore, backend: QueueBackend
) -> None:
    """`users password` replaces the password and logs the user out everywhere."""
    add_user(rpa)
    token, _ = accounts.start_session("anna")

    result = rpa(
        "users", "password", "anna", "--password-stdin", input=NEW_PASSWORD + "\n"
    )

    assert 0 == result.exit_code, result.output
    assert "their sessions ended" in result.stdout
    assert accounts.authenticate("anna", PASSWORD) is None
    assert accounts.authenticate("anna", NEW_PASSWORD) is not None
    assert accounts.session(token) is None
    [entry, _added] = backend.audit_log()
    assert (ACTOR, "user_password") == (entry.actor, entry.action)
    assert "console user anna" in entry.note
    assert NEW_PASSWORD not in entry.note


def test_remove_deletes_the_user_and_sessions_and_audits(
    rpa: Rpa, accounts: AccountStore, backend: QueueBackend
) -> None:
    """`users remove` deletes the user and their sessions, audited."""
    add_user(rpa, "anna", "operator")
    add_user(rpa, "bent", "viewer")
    token, _ = accounts.start_session("anna")

    result = rpa("users", "remove", "anna")

    assert 0 == result.exit_code, result.output
    assert "Removed user anna" in result.stdout
    assert ["bent"] == [u.name for u in accounts.list()]
    assert accounts.session(token) is None
    entry = backend.audit_log(action="user_remove")[0]
    assert ACTOR == entry.actor
    assert "removed console user anna (role operator)" in entry.note


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "anna", "--role", "boss"], PASSWORD, "unknown role 'boss'"),
        (["add", "anna", "--role", "admin"], "short", "too short: use at least 12"),
        (["add", "annabella.kj", "--role", "admin"], "annabella.kj", "not be the user"),
        (["add", "anna berg", "--role", "admin"], PASSWORD, "invalid user name"),
        (["add", "anna", "--role", "admin"], "", "standard input held no password"),
        (["role", "anna", "root"], None, "unknown role 'root'"),
        (["role", "ghost", "admin"], None, "no user 'ghost'"),
        (["remove", "ghost"], None, "no user 'ghost'"),
        (["password", "ghost"], PASSWORD, "no user 'ghost'"),
        (["password", "bent"], "tooshort", "too short"),
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_changes_nothing(
    rpa: Rpa,
    accounts: AccountStore,
    backend: QueueBackend,
    args: list[str],
    stdin: str | None,
    message: str,
) -> None:
    """A bad role, weak password, bad name or unknown user: exit 2, no change."""
    add_user(rpa, "bent", "viewer")
    before = accounts.list()
    if stdin is not None:
        args = [*args, "--password-stdin"]

    result = rpa("users", *args, input=None if stdin is None else stdin + "\n")

    assert 2 == result.exit_code, result.output
    assert message in result.stderr
    assert before == accounts.list()
    assert ["user_add"] == [e.action for e in backend.audit_log()]
    assert accounts.authenticate("bent", PASSWORD) is not None


def test_add_of_an_existing_user_exits_2(rpa: Rpa, backend: QueueBackend) -> None:
    """Adding a name that exists: exit 2, saying so, before any password is asked."""
    add_user(rpa)

    result = rpa("users", "add", "anna", "--role", "admin")

    assert 2 == result.exit_code
    assert "user 'anna' exists already" in result.stderr
    assert "Password:" not in result.stdout
    assert ["user_add"] == [e.action for e in backend.audit_log()]


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ((), ["add", "list", "remove", "role", "password", "viewer", "operator",
              "admin", "audit"]),
        (("add",), ["--role", "--password-stdin", "12 characters", "argon2"]),
        (("list",), ["--json", "local"]),
        (("remove",), ["sessions"]),
        (("role",), ["viewer, operator, admin"]),
        (("password",), ["--password-stdin", "sessions end"]),
    ],
)  # fmt: skip
def test_help_documents_each_users_command(
    command: tuple[str, ...], words: list[str]
) -> None:
    """`rpa users [COMMAND] --help` exits 0 and explains roles and options."""
    result = CliRunner().invoke(
        app, ["users", *command, "--help"], env={"COLUMNS": "200"}
    )

    assert 0 == result.exit_code
    assert [] == [word for word in words if word not in result.stdout]
