"""The sandbox's login: sessions, lockout, idle expiry and safe redirects."""

from __future__ import annotations

from collections.abc import Callable

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from sandbox import store
from sandbox.routes import auth
from sandbox.web import SESSION_COOKIE

ROBOT = ("robot", "robot-pass-1")
WRONG = "Wrong username or password."
START = 1_800_000_000.0

MakeClient = Callable[..., TestClient]


class Clock:
    """A settable stand-in for the ``time`` module: ``time()`` returns ``now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        """Return the current fake time in seconds since the epoch."""
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Replace the sandbox's clock (sessions and lockouts) with a settable one."""
    fake = Clock(START)
    monkeypatch.setattr(store, "time", fake)
    monkeypatch.setattr(auth, "time", fake)
    return fake


def _login(
    client: TestClient,
    password: str = ROBOT[1],
    *,
    username: str = ROBOT[0],
    next_url: str = "",
) -> httpx.Response:
    """Post the login form without following the redirect."""
    return client.post(
        "/login",
        data={"username": username, "password": password, "next": next_url},
        follow_redirects=False,
    )


def _alert(html: str) -> str:
    start = html.index('role="alert">') + len('role="alert">')
    return html[start : html.index("</p>", start)]


def test_login_success_redirects_with_a_session_cookie(
    make_client: MakeClient,
) -> None:
    """The right password answers 303 to patient search and sets the session cookie."""
    client = make_client(login=False)
    response = _login(client)
    assert 303 == response.status_code
    assert "/patients/search" == response.headers["location"]
    assert SESSION_COOKIE in client.cookies
    assert "httponly" in response.headers["set-cookie"].lower()
    page = client.get("/patients/search", follow_redirects=False)
    assert 200 == page.status_code
    assert "Robot Registrering" in page.text


def test_wrong_password_shows_the_message(make_client: MakeClient) -> None:
    """A wrong password answers 401 with the wrong-credentials message, no cookie."""
    client = make_client(login=False)
    response = _login(client, "not-the-password")
    assert 401 == response.status_code
    assert WRONG == _alert(response.text)
    assert SESSION_COOKIE not in client.cookies


def test_unknown_user_gets_the_same_message(make_client: MakeClient) -> None:
    """An unknown username gets exactly the message a wrong password gets."""
    client = make_client(login=False)
    response = _login(client, username="nobody")
    assert 401 == response.status_code
    assert WRONG == _alert(response.text)


def test_unknown_user_is_never_locked(make_client: MakeClient) -> None:
    """Many failures for an unknown user keep the plain message (no user leak)."""
    client = make_client(login=False)
    for _ in range(7):
        response = _login(client, "x", username="nobody")
        assert WRONG == _alert(response.text)


def test_fifth_failure_locks_the_account(make_client: MakeClient) -> None:
    """Four failures say wrong password; the fifth says the account is locked."""
    client = make_client(login=False)
    messages = [_alert(_login(client, "wrong").text) for _ in range(5)]
    assert [WRONG] * 4 == messages[:4]
    assert "locked" in messages[4]
    assert "15 minutes" in messages[4]


def test_locked_account_refuses_the_right_password(make_client: MakeClient) -> None:
    """After the lockout even the right password is refused with the locked message."""
    client = make_client(login=False)
    for _ in range(5):
        _login(client, "wrong")
    response = _login(client)
    assert 401 == response.status_code
    assert "locked" in _alert(response.text)
    assert SESSION_COOKIE not in client.cookies


def test_lockout_of_one_user_leaves_others_alone(make_client: MakeClient) -> None:
    """Locking the robot account does not stop another user from logging in."""
    client = make_client(login=False)
    for _ in range(5):
        _login(client, "wrong")
    response = _login(client, "nurse-pass-1", username="nurse")
    assert 303 == response.status_code


def test_successful_login_resets_the_failure_count(make_client: MakeClient) -> None:
    """Four failures, a success and four more failures never lock the account."""
    client = make_client(login=False)
    for _ in range(2):
        for _ in range(4):
            _login(client, "wrong")
        response = _login(client)
        assert 303 == response.status_code


def test_lockout_ends_after_the_lockout_time(
    make_client: MakeClient, clock: Clock
) -> None:
    """The right password is refused just before the lockout ends and works after."""
    client = make_client(login=False, lockout_minutes=15)
    for _ in range(5):
        _login(client, "wrong")
    clock.now = START + 15 * 60 - 1
    refused = _login(client)
    clock.now = START + 15 * 60 + 1
    accepted = _login(client)
    assert 401 == refused.status_code
    assert 303 == accepted.status_code


def test_expired_lockout_gives_a_fresh_set_of_attempts(
    make_client: MakeClient, clock: Clock
) -> None:
    """Once a lockout has expired, one more wrong password does not lock again."""
    client = make_client(login=False, lockout_minutes=15)
    for _ in range(5):
        _login(client, "wrong")
    clock.now = START + 15 * 60 + 1
    wrong = _login(client, "wrong")
    right = _login(client)
    assert WRONG == _alert(wrong.text)
    assert 303 == right.status_code


def test_logout_ends_the_session(client: TestClient) -> None:
    """Logging out redirects to the login page and the old token no longer works."""
    token = client.cookies[SESSION_COOKIE]
    response = client.post("/logout", follow_redirects=False)
    assert 303 == response.status_code
    assert "/login" == response.headers["location"]
    assert SESSION_COOKIE not in client.cookies
    client.cookies.set(SESSION_COOKIE, token)
    again = client.get("/patients/search", follow_redirects=False)
    assert 303 == again.status_code
    assert "/login?expired=1&next=%2Fpatients%2Fsearch" == again.headers["location"]


def test_idle_session_expires(make_client: MakeClient, clock: Clock) -> None:
    """A session unused for longer than the idle time sends the user to log in."""
    client = make_client(session_idle_minutes=1)
    clock.now = START + 61
    response = client.get("/patients/search", follow_redirects=False)
    assert 303 == response.status_code
    assert "/login?expired=1&next=%2Fpatients%2Fsearch" == response.headers["location"]
    login = client.get(response.headers["location"])
    assert "Your session has expired. Please log in again." in login.text


def test_expired_session_is_forgotten(make_client: MakeClient, clock: Clock) -> None:
    """Once expired, the session stays gone even when time goes back to fresh."""
    client = make_client(session_idle_minutes=1)
    clock.now = START + 61
    client.get("/patients/search", follow_redirects=False)
    clock.now = START + 62
    response = client.get("/patients/search", follow_redirects=False)
    assert 303 == response.status_code


def test_requests_keep_a_session_alive(make_client: MakeClient, clock: Clock) -> None:
    """Each request restarts the idle time, so regular use never expires a session."""
    client = make_client(session_idle_minutes=1)
    statuses = []
    for step in range(1, 6):
        clock.now = START + 50 * step
        statuses.append(client.get("/patients/search").status_code)
    assert [200] * 5 == statuses


def test_session_lasts_the_whole_idle_time(
    make_client: MakeClient, clock: Clock
) -> None:
    """A request exactly at the idle limit still finds the session alive."""
    client = make_client(session_idle_minutes=1)
    clock.now = START + 60
    response = client.get("/patients/search", follow_redirects=False)
    assert 200 == response.status_code


@pytest.mark.parametrize("path", ["/patients/search", "/patients/1", "/worklist"])
def test_anonymous_get_redirects_to_login_with_next(
    make_client: MakeClient, path: str
) -> None:
    """An anonymous page request goes to the login page, remembering where it was."""
    client = make_client(login=False)
    response = client.get(path, follow_redirects=False)
    assert 303 == response.status_code
    assert f"/login?next={path.replace('/', '%2F')}" == response.headers["location"]


def test_anonymous_post_redirects_to_login_without_next(
    make_client: MakeClient,
) -> None:
    """An anonymous form post goes to the login page without a ``next``."""
    client = make_client(login=False)
    response = client.post(
        "/patients/search", data={"cpr": "010101-0000"}, follow_redirects=False
    )
    assert 303 == response.status_code
    assert "/login" == response.headers["location"]


def test_start_page_goes_to_patient_search(make_client: MakeClient) -> None:
    """The start page redirects to patient search."""
    client = make_client(login=False)
    response = client.get("/", follow_redirects=False)
    assert 303 == response.status_code
    assert "/patients/search" == response.headers["location"]


def test_login_page_keeps_a_local_next(make_client: MakeClient) -> None:
    """The login form carries a local ``next`` path in its hidden field."""
    client = make_client(login=False)
    response = client.get("/login", params={"next": "/patients/5"})
    assert 'name="next" value="/patients/5"' in response.text


def test_login_returns_to_a_local_next(make_client: MakeClient) -> None:
    """Logging in with a local ``next`` path redirects there."""
    client = make_client(login=False)
    response = _login(client, next_url="/patients/5")
    assert 303 == response.status_code
    assert "/patients/5" == response.headers["location"]


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example",
        "//evil.example/patients/search",
        "http://evil.example/",
        "https://evil.example",
        "evil.example",
        "javascript:alert(1)",
        " //evil.example",
    ],
)
def test_login_refuses_a_foreign_next(make_client: MakeClient, next_url: str) -> None:
    """A ``next`` that is not a local path is ignored: the login goes to search."""
    client = make_client(login=False)
    response = _login(client, next_url=next_url)
    assert 303 == response.status_code
    assert "/patients/search" == response.headers["location"]


@pytest.mark.parametrize("next_url", ["//evil.example", "http://evil.example/"])
def test_login_page_drops_a_foreign_next(
    make_client: MakeClient, next_url: str
) -> None:
    """The login form does not carry a foreign ``next`` in its hidden field."""
    client = make_client(login=False)
    response = client.get("/login", params={"next": next_url})
    assert 'name="next" value=""' in response.text


def test_backslash_next_stays_local(make_client: MakeClient) -> None:
    """A ``/\\host`` next cannot become a protocol-relative redirect to that host."""
    client = make_client(login=False)
    response = _login(client, next_url="/\\evil.example")
    location = response.headers["location"]
    assert "/" == location[0]
    assert location[1] not in "/\\"


def test_failed_login_keeps_the_next(make_client: MakeClient) -> None:
    """A failed login re-shows the form with the same local ``next``."""
    client = make_client(login=False)
    response = _login(client, "wrong", next_url="/worklist")
    assert 'name="next" value="/worklist"' in response.text
