"""Console accounts: argon2 passwords, roles, sessions, and the login rate limiter."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import limits.storage.memory
import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete, select

from robotlib.console import _login_limiter
from robotlib.console._accounts import AccountStore, Role, Session, User
from robotlib.console._login_limiter import LoginLimiter
from robotlib.db.schema import console_sessions, console_users
from robotlib.queue import open_backend
from robotlib.testing import FakeClock

PASSWORD = "correct horse battery"
START = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)

#: Cheap argon2id parameters, so that the tests do not spend 64 MiB per hash.
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


class CountingHasher(PasswordHasher):
    """A PasswordHasher that records the hashes it verifies against."""

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash))
        return super().verify(hash, password)


class WallClock:
    """Fake seconds for the limiter: stands in for ``time`` in limits and in it.

    limits keeps its moving windows on ``time.time()`` and takes no clock, so the
    tests hand both modules this object in place of the ``time`` module.
    """

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new project database with the current schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp_path / 'robotlib.db').as_posix()}"
    else:
        url = request.getfixturevalue("make_postgresql_database")()
    open_backend(url).close()  # creates the tables, as Project.backend does
    return url


@pytest.fixture
def clock() -> FakeClock:
    """A fake UTC clock at START."""
    return FakeClock(START)


@pytest.fixture
def store(database: str, clock: FakeClock) -> Iterator[AccountStore]:
    """An account store on the database, with the fake clock and cheap hashing."""
    accounts = AccountStore(database, clock=clock, hasher=PasswordHasher(**FAST))
    yield accounts
    accounts.close()


def stored_users(store: AccountStore) -> list[Any]:
    """The rows of console_users, as stored."""
    with store.engine.connect() as conn:
        return list(conn.execute(select(console_users)))


def stored_sessions(store: AccountStore) -> list[Any]:
    """The rows of console_sessions, as stored."""
    with store.engine.connect() as conn:
        return list(conn.execute(select(console_sessions)))


# Users and passwords ------------------------------------------------------------------


def test_password_is_kept_as_an_argon2id_hash_with_default_parameters(
    database: str, clock: FakeClock
) -> None:
    """The stored hash is argon2id with argon2-cffi's defaults, not the password."""
    with AccountStore(database, clock=clock) as store:
        user = store.add("anna", Role.OPERATOR, PASSWORD)

        [row] = stored_users(store)
        assert row.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert PASSWORD not in row.password_hash
        assert PasswordHasher().verify(row.password_hash, PASSWORD)
        assert User("anna", Role.OPERATOR, START, START) == user
        assert user == store.authenticate("anna", PASSWORD)
        assert "password_hash" not in vars(user)


def test_wrong_password_or_unknown_user_authenticates_no_one(
    store: AccountStore,
) -> None:
    """A wrong password, another user's name or an unknown name gives None."""
    store.add("anna", Role.VIEWER, PASSWORD)
    store.add("bent", Role.VIEWER, "bents own passphrase")

    assert store.authenticate("anna", "correct horse batterY") is None
    assert store.authenticate("anna", "") is None
    assert store.authenticate("bent", PASSWORD) is None
    assert store.authenticate("Anna", PASSWORD) is None
    assert store.authenticate("nobody", PASSWORD) is None
    assert "anna" == getattr(store.authenticate("anna", PASSWORD), "name", None)


def test_unknown_user_costs_one_verify_with_the_hashers_parameters(
    database: str,
) -> None:
    """An unknown name is verified against a dummy hash made like the real ones."""
    for hasher in (CountingHasher(), CountingHasher(**FAST)):
        with AccountStore(database, hasher=hasher) as store:
            assert store.authenticate("nobody", PASSWORD) is None

        [dummy] = hasher.verified
        assert dummy.startswith("$argon2id$")
        assert not hasher.check_needs_rehash(dummy)


def test_hash_with_old_parameters_is_redone_at_login(
    store: AccountStore, database: str
) -> None:
    """A successful login rehashes a password hashed with other parameters."""
    store.add("anna", Role.VIEWER, PASSWORD)
    [before] = stored_users(store)

    with AccountStore(database) as default_store:
        assert default_store.authenticate("anna", PASSWORD) is not None
        [after] = stored_users(default_store)
        assert "m=1024,t=1,p=1" in before.password_hash
        assert "m=65536,t=3,p=4" in after.password_hash
        assert default_store.authenticate("anna", PASSWORD) is not None
    assert before.password_changed_at == after.password_changed_at


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("anna", "elevenchars", "too short: use at least 12 characters"),
        ("anna", "", "too short"),
        ("annabella.kj", "annabella.kj", "must not be the user name"),
        ("annabella.kj", "ANNABELLA.KJ", "must not be the user name"),
        ("", PASSWORD, "invalid user name"),
        ("anna berg", PASSWORD, "invalid user name"),
        ("søren", PASSWORD, "ASCII letter"),
        ("a" * 101, PASSWORD, "1-100 characters"),
        ("anna:cli", PASSWORD, "invalid user name"),
        ("anna/..", PASSWORD, "invalid user name"),
    ],
)
def test_add_refuses_names_and_passwords_that_break_a_rule(
    store: AccountStore, name: str, password: str, message: str
) -> None:
    """A bad name or password is a ValueError naming the rule; nothing is stored."""
    with pytest.raises(ValueError, match=message):
        store.add(name, Role.VIEWER, password)

    assert [] == store.list()


def test_add_accepts_names_at_the_limits(store: AccountStore) -> None:
    """Names of 1 and 100 of the allowed characters are accepted."""
    long_name = "A.b_c-9" + "x" * 93
    store.add("a", "viewer", PASSWORD)
    store.add(long_name, "admin", PASSWORD)
    store.add("anna@region.dk", "operator", PASSWORD)  # a provider's principal name

    assert ["a", long_name, "anna@region.dk"] == [u.name for u in store.list()]


def test_add_refuses_a_duplicate_and_an_unknown_role(store: AccountStore) -> None:
    """A second user of the same name, or a role that does not exist, is refused."""
    store.add("anna", Role.VIEWER, PASSWORD)

    with pytest.raises(ValueError, match="user 'anna' exists already"):
        store.add("anna", Role.ADMIN, "another passphrase")
    with pytest.raises(ValueError, match="unknown role 'boss': choose one of viewer"):
        store.add("bent", "boss", PASSWORD)
    assert [User("anna", Role.VIEWER, START, START)] == store.list()


def test_set_role_set_password_and_remove_name_unknown_users(
    store: AccountStore,
) -> None:
    """Changing a user that does not exist is a KeyError naming the user."""
    with pytest.raises(KeyError, match="no user 'ghost'"):
        store.set_role("ghost", Role.ADMIN)
    with pytest.raises(KeyError, match="no user 'ghost'"):
        store.set_password("ghost", PASSWORD)
    with pytest.raises(KeyError, match="no user 'ghost'"):
        store.remove("ghost")
    with pytest.raises(KeyError, match="no user 'ghost'"):
        store.start_session("ghost")
    assert store.get("ghost") is None


def test_set_password_changes_the_login_and_its_time(
    store: AccountStore, clock: FakeClock
) -> None:
    """The new password logs in, the old one not; password_changed_at moves."""
    store.add("anna", Role.VIEWER, PASSWORD)
    clock.advance(days=2)

    user = store.set_password("anna", "a brand new passphrase")

    assert START == user.created_at
    assert START + timedelta(days=2) == user.password_changed_at
    assert store.authenticate("anna", PASSWORD) is None
    assert user == store.authenticate("anna", "a brand new passphrase")
    with pytest.raises(ValueError, match="too short"):
        store.set_password("anna", "short")


def test_set_role_and_list(store: AccountStore) -> None:
    """set_role changes the stored role; list gives every user by name."""
    store.add("bent", Role.VIEWER, PASSWORD)
    store.add("anna", Role.VIEWER, PASSWORD)

    store.set_role("bent", "operator")

    assert [("anna", Role.VIEWER), ("bent", Role.OPERATOR)] == [
        (u.name, u.role) for u in store.list()
    ]


# Roles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, [Role.VIEWER]),
        (Role.OPERATOR, [Role.VIEWER, Role.OPERATOR]),
        (Role.ADMIN, [Role.VIEWER, Role.OPERATOR, Role.ADMIN]),
    ],
)
def test_role_allows_its_own_rank_and_below(role: Role, allowed: list[Role]) -> None:
    """A role allows what its rank and the ranks below it need, nothing above."""
    assert allowed == [needed for needed in Role if role.allows(needed)]


def test_role_parse_accepts_names_in_any_case() -> None:
    """Role.parse reads a role's name in any case and refuses others by listing all."""
    assert Role.ADMIN == Role.parse(" Admin ")
    assert [0, 1, 2] == [Role.parse(r).rank for r in ("viewer", "operator", "admin")]
    with pytest.raises(ValueError, match="choose one of viewer, operator, admin"):
        Role.parse("root")


# Sessions -----------------------------------------------------------------------------


def test_session_token_is_stored_only_as_its_sha256(store: AccountStore) -> None:
    """The database holds the token's SHA-256, never the token; a lookup finds it."""
    store.add("anna", Role.OPERATOR, PASSWORD)

    token, session = store.start_session("anna")

    [row] = stored_sessions(store)
    assert hashlib.sha256(token.encode()).hexdigest() == row.token_hash
    assert token not in [str(value) for value in row]
    assert len(token) >= 43 and len(session.csrf_token) >= 43
    assert token != session.csrf_token
    assert (
        Session(
            user="anna",
            role=Role.OPERATOR,
            csrf_token=row.csrf_token,
            created_at=START,
            expires_at=START + timedelta(hours=8),
            last_seen_at=START,
        )
        == session
        == store.session(token)
    )
    assert store.session(row.token_hash) is None
    assert store.session("") is None


def test_session_ends_at_its_absolute_lifetime_however_active(
    store: AccountStore, clock: FakeClock
) -> None:
    """A session used every 20 minutes still ends at its lifetime; its row goes."""
    store.add("anna", Role.VIEWER, PASSWORD)
    token, _ = store.start_session("anna", lifetime=timedelta(hours=2))

    for _ in range(5):
        clock.advance(minutes=20)
        assert store.session(token) is not None
    clock.advance(minutes=20)

    assert store.session(token) is None
    assert [] == stored_sessions(store)


def test_session_ends_after_the_idle_timeout(
    store: AccountStore, clock: FakeClock
) -> None:
    """29 minutes without a request keep a session; 30 end it."""
    store.add("anna", Role.VIEWER, PASSWORD)
    token, _ = store.start_session("anna")

    clock.advance(minutes=29)
    assert store.session(token) is not None
    clock.advance(minutes=29)
    assert store.session(token) is not None
    clock.advance(minutes=30)

    assert store.session(token) is None
    assert [] == stored_sessions(store)


def test_idle_timeout_is_a_store_setting(database: str, clock: FakeClock) -> None:
    """A store with a 5-minute idle timeout ends sessions after 5 quiet minutes."""
    with AccountStore(
        database, clock=clock, idle=timedelta(minutes=5), hasher=PasswordHasher(**FAST)
    ) as store:
        store.add("anna", Role.VIEWER, PASSWORD)
        token, _ = store.start_session("anna")
        clock.advance(minutes=5)

        assert store.session(token) is None


def test_last_seen_is_written_at_most_once_a_minute(
    store: AccountStore, clock: FakeClock
) -> None:
    """Requests within a minute of the recorded one write nothing."""
    store.add("anna", Role.VIEWER, PASSWORD)
    token, _ = store.start_session("anna")

    clock.advance(seconds=50)
    seen = store.session(token)
    [row] = stored_sessions(store)
    assert seen is not None and START == seen.last_seen_at == row.last_seen_at

    clock.advance(seconds=20)
    seen = store.session(token)
    [row] = stored_sessions(store)
    assert seen is not None
    assert START + timedelta(seconds=70) == seen.last_seen_at == row.last_seen_at


def test_end_session_logs_out_that_browser_only(store: AccountStore) -> None:
    """end_session ends one session; the user's other sessions live on."""
    store.add("anna", Role.VIEWER, PASSWORD)
    token, _ = store.start_session("anna")
    other, _ = store.start_session("anna")

    store.end_session(token)
    store.end_session("never-issued")

    assert store.session(token) is None
    assert store.session(other) is not None


def test_password_change_and_end_sessions_end_every_session(
    store: AccountStore,
) -> None:
    """A new password ends the user's sessions, not others'; so does end_sessions."""
    store.add("anna", Role.VIEWER, PASSWORD)
    store.add("bent", Role.VIEWER, PASSWORD)
    tokens = [store.start_session("anna")[0] for _ in range(2)]
    bents, _ = store.start_session("bent")

    store.set_password("anna", "a brand new passphrase")

    assert [None, None] == [store.session(t) for t in tokens]
    assert store.session(bents) is not None
    assert 1 == store.end_sessions("bent")
    assert store.session(bents) is None
    assert 0 == store.end_sessions("bent")


def test_removing_a_user_removes_their_sessions(store: AccountStore) -> None:
    """Removing a user, through the store or by SQL, deletes their sessions."""
    for name in ("anna", "bent", "carl"):
        store.add(name, Role.VIEWER, PASSWORD)
    annas, _ = store.start_session("anna")
    bents, _ = store.start_session("bent")
    carls, _ = store.start_session("carl")

    store.remove("anna")
    with store.engine.begin() as conn:  # the foreign key cascades
        conn.execute(delete(console_users).where(console_users.c.name == "bent"))

    assert store.session(annas) is None
    assert store.session(bents) is None
    assert ["carl"] == [row.user_name for row in stored_sessions(store)]
    assert store.authenticate("anna", PASSWORD) is None
    assert store.session(carls) is not None


def test_a_role_change_reaches_open_sessions(store: AccountStore) -> None:
    """A session carries the user's current role, not the one at login."""
    store.add("anna", Role.ADMIN, PASSWORD)
    token, session = store.start_session("anna")

    store.set_role("anna", Role.VIEWER)

    current = store.session(token)
    assert Role.ADMIN == session.role
    assert current is not None and Role.VIEWER == current.role


def test_starting_a_session_deletes_ended_ones(
    store: AccountStore, clock: FakeClock
) -> None:
    """Sessions past their lifetime or idle timeout are deleted at the next login."""
    store.add("anna", Role.VIEWER, PASSWORD)
    store.start_session("anna", lifetime=timedelta(minutes=10))
    store.start_session("anna")
    clock.advance(minutes=31)

    token, _ = store.start_session("anna")

    [row] = stored_sessions(store)
    assert hashlib.sha256(token.encode()).hexdigest() == row.token_hash


# The login limiter --------------------------------------------------------------------


@pytest.fixture
def seconds(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    """A fake wall clock for the limiter and the limits library under it."""
    clock = WallClock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(_login_limiter, "time", clock)
    return clock


@pytest.fixture
def limiter(seconds: WallClock) -> LoginLimiter:
    """A limiter with the defaults (5 failures in 15 minutes) and the fake clock."""
    return LoginLimiter()


def test_five_failures_make_the_next_attempt_wait(
    limiter: LoginLimiter, seconds: WallClock
) -> None:
    """Four failures allow another try; the fifth makes it wait out the window."""
    for _ in range(4):
        limiter.failed("anna", "10.0.0.7")
        seconds.now += 60
    assert limiter.check("anna", "10.0.0.7") is None

    limiter.failed("anna", "10.0.0.7")

    assert 15 * 60 - 4 * 60 == limiter.check("anna", "10.0.0.7")
    # A second past the window, the first failure no longer counts. (limits keeps
    # a failure at exactly its window's end, so the test steps one second past.)
    seconds.now += 11 * 60 + 1
    assert limiter.check("anna", "10.0.0.7") is None
    limiter.failed("anna", "10.0.0.7")
    assert 59.0 == limiter.check("anna", "10.0.0.7")


def test_failures_count_per_name_from_any_address(limiter: LoginLimiter) -> None:
    """Guessing one user's password from many addresses blocks that user's name."""
    for number in range(5):
        limiter.failed("anna", f"10.0.0.{number}")

    assert 900.0 == limiter.check("anna", "10.9.9.9")
    assert 900.0 == limiter.check("ANNA", "10.9.9.9")
    assert limiter.check("bent", "10.9.9.9") is None


def test_failures_count_per_address_for_any_name(limiter: LoginLimiter) -> None:
    """Guessing many users' passwords from one address blocks that address."""
    for name in ("anna", "bent", "carl", "dora", "erik"):
        limiter.failed(name, "10.0.0.7")

    assert 900.0 == limiter.check("fie", "10.0.0.7")
    assert limiter.check("fie", "10.0.0.8") is None


def test_success_clears_the_names_failures_not_the_addresss(
    limiter: LoginLimiter,
) -> None:
    """A login clears its name's failures; the address's still count."""
    for _ in range(4):
        limiter.failed("anna", "10.0.0.7")
    limiter.failed("anna", "10.0.0.8")

    limiter.succeeded("anna", "10.0.0.8")
    limiter.failed("anna", "10.0.0.9")

    assert limiter.check("anna", "10.0.0.9") is None
    limiter.failed("bent", "10.0.0.7")
    assert 900.0 == limiter.check("carl", "10.0.0.7")


def test_failures_are_forgotten_once_the_window_passes(
    limiter: LoginLimiter, seconds: WallClock
) -> None:
    """After the window the name and address may try again, five more times."""
    for _ in range(5):
        limiter.failed("anna", "10.0.0.7")
    seconds.now += 15 * 60

    assert limiter.check("anna", "10.0.0.7") is None
    for _ in range(4):
        limiter.failed("anna", "10.0.0.7")
    assert limiter.check("anna", "10.0.0.7") is None


def test_limiter_settings_are_checked_and_used(seconds: WallClock) -> None:
    """A limiter of 2 failures in a minute blocks after 2; nonsense is refused."""
    limiter = LoginLimiter(max_failures=2, window=timedelta(minutes=1))
    limiter.failed("anna", "10.0.0.7")
    assert limiter.check("anna", "10.0.0.7") is None
    limiter.failed("anna", "10.0.0.7")
    assert 60.0 == limiter.check("anna", "10.0.0.7")

    with pytest.raises(ValueError, match="max_failures"):
        LoginLimiter(max_failures=0)
    with pytest.raises(ValueError, match="window"):
        LoginLimiter(window=timedelta(0))
    with pytest.raises(ValueError, match="window"):
        LoginLimiter(window=timedelta(milliseconds=500))


def test_stale_failures_are_forgotten(
    limiter: LoginLimiter, seconds: WallClock
) -> None:
    """Failures past the window are dropped from memory, not only ignored."""
    for number in range(3):
        limiter.failed(f"user{number}", f"10.0.0.{number}")
    assert 6 == limiter.tracked()
    seconds.now += 15 * 60

    limiter.failed("anna", "10.0.0.7")  # limits sweeps shortly after a hit

    deadline = time.monotonic() + 5
    while limiter.tracked() > 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Memory is what forgetting saves, so the test looks at what is kept.
    assert 2 == limiter.tracked()
    assert limiter.check("user0", "10.0.0.0") is None
