"""Single sign-on by OpenID Connect, against a real provider in real Chromium.

The provider is oidc-provider-mock (a Flask OpenID provider: discovery, JWKS,
RS256 ID tokens, nonce checks), served on a free port in a thread. The console is
served by uvicorn, as in ``test_console_browser``, on a project whose ``rpa.toml``
has a ``[console.oidc]`` table and whose ``credentials.toml`` holds the client
secret. The provider's login form takes a subject; the test sets that subject's
claims (``preferred_username``, ``groups``) through the provider's API first.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from robotlib.console import create_app
from robotlib.console._accounts import AccountStore, Role
from robotlib.console._oidc import OIDC_COOKIE
from robotlib.project import Project
from robotlib.queue import open_backend
from robotlib.settings import load_settings

with warnings.catch_warnings():  # the mock imports authlib.jose, deprecated in 1.9
    warnings.simplefilter("ignore")
    import oidc_provider_mock

pytestmark = [
    pytest.mark.browser,
    # The provider (a test tool) still calls authlib APIs authlib 1.9 deprecates.
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]

PASSWORD = "correct horse battery"
CLIENT_ID = "rpa-console"
LABEL = "Region SSO"

ROBOT_FILE = '''\
"""A robot the schedule file names."""

from pydantic import BaseModel

from robotlib import Robot


class Row(BaseModel):
    cpr: str


def process(ctx, item):
    return None


robot = Robot(name="lab", item=Row, reference="cpr", process=process)
'''

SCHEDULE = """\
[jobs.lab_nightly]
robot = "lab"
cron = "0 2 * * *"
"""


def fast_hasher() -> PasswordHasher:
    """Cheap argon2id parameters, so that the tests do not spend 64 MiB per hash."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def query(url: str) -> dict[str, str]:
    """The query parameters of ``url``, one value each."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# Fixtures ---------------------------------------------------------------------------


@dataclass
class Provider:
    """The OpenID provider on its port."""

    issuer: str

    def set_user(self, sub: str, **claims: object) -> None:
        """Give subject ``sub`` these claims in its ID tokens."""
        request = urllib.request.Request(
            f"{self.issuer}/users/{sub}",
            data=json.dumps(claims).encode(),
            headers={"Content-Type": "application/json"},
            method="PUT",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert 204 == answer.status


@dataclass
class Sso:
    """The served console, its project and accounts, and the provider."""

    url: str
    project: Project
    accounts: AccountStore
    provider: Provider
    open_page: Callable[[], Page]
    client: TestClient


@pytest.fixture
def provider() -> Iterator[Provider]:
    """oidc-provider-mock on a free port, requiring a nonce in every request."""
    with oidc_provider_mock.run_server_in_thread(require_nonce=True) as server:
        yield Provider(f"http://localhost:{server.server_port}")


@pytest.fixture
def sso(
    robot_project: Callable[[str], Path],
    serve: Any,
    provider: Provider,
) -> Iterator[Sso]:
    """A project whose console trusts the provider, served; local user ada (admin)."""
    folder = robot_project(ROBOT_FILE)
    (folder / "schedules").mkdir()
    (folder / "schedules" / "nightly.toml").write_text(SCHEDULE, "utf-8")
    (folder / "rpa.toml").write_text(
        f"""\
[console.oidc]
issuer = "{provider.issuer}"
client_id = "{CLIENT_ID}"
label = "{LABEL}"
scopes = ["openid", "profile"]

[console.oidc.roles]
rpa-viewers = "viewer"
rpa-operators = "operator"
rpa-admins = "admin"
""",
        "utf-8",
    )
    secrets_file = folder / "credentials.toml"
    secrets_file.write_text('[oidc]\npassword = "client-secret-1"\n', "utf-8")
    secrets_file.chmod(0o600)
    project = Project(load_settings(folder))
    project.backend  # noqa: B018 - creates the tables the accounts use
    accounts = AccountStore(project.settings.database, hasher=fast_hasher())
    accounts.add("ada", Role.ADMIN, PASSWORD)
    app = create_app(project, accounts=accounts)
    with (
        serve(app) as served,
        TestClient(
            app, base_url=served.url, headers={"Accept-Language": "en"}
        ) as client,
    ):
        yield Sso(served.url, project, accounts, provider, served.open_page, client)
    accounts.close()
    project.close()


def sign_in(sso: Sso, sub: str) -> Page:
    """From the login page, sign in at the provider as ``sub``; return the page."""
    page = sso.open_page()
    page.goto("/schedules")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    expect(page.get_by_text(CLIENT_ID)).to_be_visible()
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    return page


# In Chromium ------------------------------------------------------------------------


def test_operator_group_signs_in_with_the_operator_role(sso: Sso) -> None:
    """A user in rpa-operators lands on the page asked for as an operator: Pause
    buttons, no audit trail; the login is audited as via oidc."""
    sso.provider.set_user(
        "u-1001", preferred_username="anna", groups=["staff", "rpa-operators"]
    )

    page = sign_in(sso, "u-1001")

    expect(page.get_by_role("heading", name="Schedules")).to_be_visible()
    expect(page.get_by_text("anna (operator)")).to_be_visible()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)
    page.goto("/audit")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    [entry] = sso.project.backend.audit_log(actor="anna")
    assert ("login", "via oidc from 127.0.0.1") == (entry.action, entry.note)
    user = sso.accounts.get("anna")
    assert user is not None and Role.OPERATOR == user.role
    assert sso.accounts.authenticate("anna", PASSWORD) is None


def test_highest_group_wins_and_a_changed_group_counts_at_the_next_login(
    sso: Sso,
) -> None:
    """Viewer and admin groups give admin; once the provider drops the admin
    group, the next login is a viewer's."""
    sso.provider.set_user("u-2002", groups=["rpa-viewers", "rpa-admins"])
    page = sign_in(sso, "u-2002")
    expect(page.get_by_text("u-2002 (admin)")).to_be_visible()

    sso.provider.set_user("u-2002", groups=["rpa-viewers"])
    page = sign_in(sso, "u-2002")

    expect(page.get_by_text("u-2002 (viewer)")).to_be_visible()
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)


def test_user_without_a_mapped_group_is_refused_and_audited(sso: Sso) -> None:
    """The page says who the provider signed in and what to ask an admin for."""
    sso.provider.set_user("u-3003", preferred_username="bo", groups=["cleaning"])

    page = sign_in(sso, "u-3003")

    expect(page.get_by_role("heading", name="No role in this console")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(
        f"You are signed in at {LABEL} as bo, but none of your groups gives a role"
    )
    expect(page.get_by_role("main")).to_contain_text("[console.oidc.roles]")
    page.goto("/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    [entry] = sso.project.backend.audit_log(actor="bo")
    assert "login_refused" == entry.action
    assert "no role for groups cleaning" in entry.note
    assert sso.accounts.get("bo") is None


def test_login_page_without_oidc_has_no_sign_in_button(
    tmp_path: Path, serve: Any
) -> None:
    """Without [console.oidc] the login page is the password form alone."""
    project = Project(load_settings(tmp_path))
    with serve(create_app(project)) as served:
        page = served.open_page()
        page.goto("/login")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        sign_in_link = page.get_by_role("link", name=re.compile("Sign in with"))
        expect(sign_in_link).to_have_count(0)
        assert 404 == page.request.get("/login/oidc").status
    project.close()


# Over HTTP --------------------------------------------------------------------------


def start(sso: Sso) -> dict[str, str]:
    """Start a sign-in; return the provider URL's query parameters."""
    answer = sso.client.get("/login/oidc?next=/exceptions", follow_redirects=False)
    assert 303 == answer.status_code
    assert OIDC_COOKIE in answer.cookies
    location = answer.headers["location"]
    assert location.startswith(f"{sso.provider.issuer}/oauth2/authorize?")
    return query(location)


def authorize(sso: Sso, params: dict[str, str], sub: str) -> dict[str, str]:
    """Sign in at the provider as ``sub`` with these request parameters; return
    the callback's query parameters (code and state)."""
    request = urllib.request.Request(
        f"{sso.provider.issuer}/oauth2/authorize?" + urllib.parse.urlencode(params),
        data=urllib.parse.urlencode({"sub": sub}).encode(),
        method="POST",
    )

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(Keep)
    with pytest.raises(urllib.error.HTTPError) as found:
        opener.open(request, timeout=10)
    found.value.close()
    assert 302 == found.value.code
    location = found.value.headers["Location"]
    assert location.startswith(params["redirect_uri"])
    return query(location)


def test_sign_in_request_has_state_nonce_and_pkce(sso: Sso) -> None:
    """The browser goes to the provider with fresh state, nonce and S256 challenge."""
    first, second = start(sso), start(sso)

    assert CLIENT_ID == first["client_id"]
    assert "code" == first["response_type"]
    assert "openid profile" == first["scope"]
    assert f"{sso.url}/login/oidc/callback" == first["redirect_uri"]
    assert "S256" == first["code_challenge_method"]
    for key in ("state", "nonce", "code_challenge"):
        assert len(first[key]) >= 40
        assert first[key] != second[key]


def test_callback_without_the_browsers_pending_sign_in_is_refused(sso: Sso) -> None:
    """No cookie, a forged state, or a state used once already: no session."""
    sso.provider.set_user("u-4004", groups=["rpa-admins"])
    params = start(sso)
    callback = authorize(sso, params, "u-4004")

    stranger = TestClient(
        sso.client.app, base_url=sso.url, headers={"Accept-Language": "en"}
    )
    refused = stranger.get("/login/oidc/callback", params=callback)
    assert 400 == refused.status_code
    assert "Sign-in refused" in refused.text

    forged = sso.client.get(
        "/login/oidc/callback", params={**callback, "state": "forged"}
    )
    assert 400 == forged.status_code
    # The forged attempt used the pending sign-in up: the right state is late now.
    late = sso.client.get("/login/oidc/callback", params=callback)
    assert 400 == late.status_code
    assert [] == sso.project.backend.audit_log(action="login")
    assert sso.accounts.get("u-4004") is None


def test_id_token_for_another_nonce_is_refused(sso: Sso) -> None:
    """A code the provider issued for another request's nonce (an injected or
    replayed code) does not sign in, though its state is this browser's."""
    sso.provider.set_user("u-5005", groups=["rpa-admins"])
    params = start(sso)
    callback = authorize(sso, {**params, "nonce": "someone-elses-nonce"}, "u-5005")

    answer = sso.client.get("/login/oidc/callback", params=callback)

    assert 502 == answer.status_code
    assert "nonce" in answer.text
    assert [] == sso.project.backend.audit_log(action="login")
    assert sso.accounts.get("u-5005") is None


def test_the_right_code_and_state_sign_in_over_http(sso: Sso) -> None:
    """The same flow without the browser: a session cookie and the next page."""
    sso.provider.set_user("u-6006", preferred_username="otto", groups="rpa-operators")
    params = start(sso)
    callback = authorize(sso, params, "u-6006")

    answer = sso.client.get("/login/oidc/callback", params=callback)

    assert 200 == answer.status_code
    assert 'content="0;url=/exceptions"' in answer.text
    page = sso.client.get("/exceptions")
    assert 200 == page.status_code
    assert "otto (operator)" in page.text


# Accounts ---------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AccountStore]:
    """An account store on a new SQLite database with cheap hashing."""
    url = f"sqlite:///{(tmp_path / 'robotlib.db').as_posix()}"
    open_backend(url).close()
    accounts = AccountStore(url, hasher=fast_hasher())
    yield accounts
    accounts.close()


def test_external_user_gets_its_role_per_login_and_no_password_login(
    store: AccountStore,
) -> None:
    """The row is made at the first login, its role set at each; no password
    (not even the marker itself) logs it in."""
    _token, session = store.start_external_session("anna", Role.OPERATOR)
    assert (Role.OPERATOR, "anna") == (session.role, session.user)

    token, _session = store.start_external_session("anna", "viewer")

    live = store.session(token)
    assert live is not None and Role.VIEWER == live.role
    for password in ("!oidc", "", PASSWORD):
        assert store.authenticate("anna", password) is None


def test_external_login_cannot_take_a_password_users_name(store: AccountStore) -> None:
    """A provider that says "ada" does not become the local admin ada."""
    store.add("ada", Role.VIEWER, PASSWORD)

    with pytest.raises(ValueError, match="with a password"):
        store.start_external_session("ada", Role.ADMIN)
    with pytest.raises(ValueError, match="invalid user name"):
        store.start_external_session("anna region", Role.VIEWER)

    user = store.get("ada")
    assert user is not None and Role.VIEWER == user.role
    assert store.authenticate("ada", PASSWORD) is not None


def test_denying_at_the_provider_shows_that_the_sign_in_was_cancelled(
    sso: Sso,
) -> None:
    """The provider's "Deny" comes back as access_denied: no session."""
    page = sso.open_page()
    page.goto("/login")
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    page.get_by_role("button", name="Deny").click()

    expect(page.get_by_role("heading", name="Sign-in cancelled")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(
        f"{LABEL} did not sign you in (access_denied)"
    )
    page.goto("/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
