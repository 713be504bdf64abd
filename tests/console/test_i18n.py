"""The console in Danish and English: the catalogues, the language each request
gets, the user's choice, and the Danish pages in a real Chromium.

The catalogue tests read the committed files with Babel and extract the texts
again from the code and templates as ``make messages`` does (``babel.cfg``), so a
text added without a translation, or a translation that lost a placeholder,
fails here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from robotlib.console import create_app
from robotlib.console._accounts import AccountStore
from robotlib.console._i18n import LOCALE_DIR, choose_language
from robotlib.project import Project
from robotlib.queue.models import NewItem, RunStatus
from robotlib.settings import load_settings

ROOT = Path(__file__).parents[2]
PASSWORD = "correct horse battery"
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
RUN_ID = "20261123T020000Z-abc123"
FAILED_CPR = "240512-4123"


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def _ids(catalog: Catalog) -> set[str]:
    """The catalogue's msgids (a plural text by its singular)."""
    return {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in catalog
        if message.id
    }


# The catalogues -----------------------------------------------------------------------


def test_every_text_has_a_danish_translation_with_its_placeholders() -> None:
    """Each msgid of the Danish catalogue is translated (both plural forms), none
    is fuzzy, and Babel's checkers find no placeholder that went missing."""
    danish = _read(LOCALE_DIR / "da" / "LC_MESSAGES" / "messages.po", "da")

    untranslated = [
        message.id
        for message in danish
        if message.id
        and (
            not message.string
            or (isinstance(message.string, tuple) and not all(message.string))
        )
    ]
    fuzzy = [message.id for message in danish if message.id and message.fuzzy]
    problems = [(message.id, errors) for message, errors in danish.check()]

    assert [] == untranslated
    assert [] == fuzzy
    assert [] == problems
    assert len(_ids(danish)) > 150  # the console's pages, not a handful


def test_the_catalogues_hold_exactly_the_texts_the_code_uses() -> None:
    """Extracting again (babel.cfg, as `make messages`) gives the texts of
    messages.pot and of the Danish catalogue: no text added without running it,
    none left over."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "robotlib" / "console"),
        _relative(method_map),
        _relative(options_map),
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    plural_ids = {m if isinstance(m, str) else m[0] for m in found}

    template = _read(LOCALE_DIR / "messages.pot")
    danish = _read(LOCALE_DIR / "da" / "LC_MESSAGES" / "messages.po", "da")

    assert plural_ids == _ids(template)
    assert plural_ids == _ids(danish)
    assert "Needs attention" in plural_ids  # a template's text
    assert "%(actor)s retried %(num)d" in plural_ids  # a report's text


def _relative(mapping: Any) -> Any:
    """babel.cfg's patterns are from the project root; extraction starts in
    robotlib/console."""
    prefix = "robotlib/console/"
    if isinstance(mapping, dict):
        return {key.removeprefix(prefix): value for key, value in mapping.items()}
    return [(pattern.removeprefix(prefix), method) for pattern, method in mapping]


# Choosing the language ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "header", "default", "expected"),
    [
        (None, "da-DK,da;q=0.9,en-US;q=0.8,en;q=0.7", "da", "da"),
        (None, "en-GB,en;q=0.9,da;q=0.5", "da", "en"),
        (None, "da;q=0.4, en;q=0.6", "da", "en"),
        (None, "de-DE,de;q=0.9", "en_US", "en"),  # neither: the project's locale
        (None, "de-DE,de;q=0.9", "da_DK", "da"),
        (None, "", "da", "da"),
        (None, "en;q=0, da", "en", "da"),  # q=0: not acceptable
        (None, "fr", "de", "da"),  # no known language at all: Danish
        ("en", "da-DK", "da", "en"),  # the user's choice wins
        ("xx", "en", "da", "en"),  # an unknown stored choice is ignored
    ],
)
def test_language_is_the_users_then_the_browsers_then_the_projects(
    chosen: str | None, header: str, default: str, expected: str
) -> None:
    assert expected == choose_language(chosen, header, default)


# Over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A project with one run: one item done, one failed (still in the queue)."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    opened = Project(load_settings(tmp_path))
    backend = opened.backend
    backend.start_run(RUN_ID, "lab", host="vm", pid=1)
    backend.enqueue(
        "lab",
        [NewItem(cpr, {"cpr": cpr}) for cpr in ("010190-1234", FAILED_CPR)],
        run_id=RUN_ID,
    )
    lease = timedelta(minutes=5)
    done = backend.claim_next("lab", owner="w", lease=lease, run_id=RUN_ID)
    assert done is not None
    backend.complete(done.id, owner="w", output={"registration_id": 7})
    failed = backend.claim_next("lab", owner="w", lease=lease, run_id=RUN_ID)
    assert failed is not None
    backend.fail(
        failed.id,
        owner="w",
        error_type="TimeoutError",
        message="EPJ timed out",
        retry_at=None,
    )
    backend.finish_run(
        RUN_ID,
        status=RunStatus.COMPLETED_WITH_FAILURES,
        counts={"done": 1, "failed": 1},
    )
    yield opened
    opened.close()


@pytest.fixture
def accounts(project: Project) -> Iterator[AccountStore]:
    store = AccountStore(project.settings.database, hasher=PasswordHasher(**FAST))
    store.add("anna", "operator", PASSWORD)
    yield store
    store.close()


def _client(project: Project, accounts: AccountStore, language: str | None) -> Any:
    headers = {"Accept-Language": language} if language else {}
    return TestClient(
        create_app(project, accounts=accounts),
        base_url="http://127.0.0.1",
        headers=headers,
    )


def _log_in(client: TestClient) -> None:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"username": "anna", "password": PASSWORD, "login_token": token[1]},
        follow_redirects=False,
    )
    assert 303 == answer.status_code


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert found is not None
    return found[1]


def test_a_danish_browser_gets_danish_pages(
    project: Project, accounts: AccountStore
) -> None:
    """Accept-Language da: the login page, the dashboard (its reasons and run
    status included), the queue, the item page and the CSV are in Danish."""
    with _client(project, accounts, "da-DK,da;q=0.9,en;q=0.5") as client:
        login = client.get("/login")
        assert '<html lang="da">' in login.text
        assert "Log ind" in login.text and "Brugernavn" in login.text
        _log_in(client)

        board = client.get("/").text
        queue = client.get("/exceptions").text
        csv = client.get("/exceptions.csv").content.decode("utf-8-sig")
        [failed] = project.backend.items("lab", reference=FAILED_CPR)
        item = client.get(f"/items/{failed.id}").text

    assert "Kræver opmærksomhed" in board and "Needs attention" not in board
    assert "1 fejlet element" in board  # the reason, from the report
    assert "gennemført med fejl" in board  # the run's status
    assert "Undtagelseskø" in queue and "fejlet" in queue
    assert "Exception queue" not in queue
    header = csv.splitlines()[0]
    assert header.startswith("element;robot;reference;tilstand")
    assert "(Europe/Copenhagen)" in header
    assert "fejlet" in csv.splitlines()[1]
    assert "Håndtér" in item or "Håndter" in item  # "Handle this item"
    assert "Handle this item" not in item


def test_an_english_browser_gets_english_pages(
    project: Project, accounts: AccountStore
) -> None:
    with _client(project, accounts, "en-GB,en;q=0.9") as client:
        _log_in(client)
        board = client.get("/").text

    assert '<html lang="en">' in board
    assert "Needs attention" in board and "1 failed item" in board
    assert "Kræver opmærksomhed" not in board


def test_without_accept_language_the_projects_locale_decides(
    project: Project, accounts: AccountStore, tmp_path: Path
) -> None:
    """No header: settings.locale (default "da") chooses; "en_US" gives English."""
    with _client(project, accounts, None) as client:
        assert '<html lang="da">' in client.get("/login").text

    (tmp_path / "rpa.toml").write_text('locale = "en_US"\n', "utf-8")
    english = Project(load_settings(tmp_path))
    try:
        with _client(english, accounts, None) as client:
            assert '<html lang="en">' in client.get("/login").text
    finally:
        english.close()


def test_the_users_choice_is_kept_and_wins_over_the_browser(
    project: Project, accounts: AccountStore
) -> None:
    """POST /language en from a Danish browser: English from then on, in this
    session and the next; the notice says it in the language chosen."""
    with _client(project, accounts, "da") as client:
        _log_in(client)
        assert "Kræver opmærksomhed" in client.get("/").text
        answer = client.post(
            "/language",
            data={"language": "en", "csrf_token": _csrf(client), "back": "/exceptions"},
            follow_redirects=False,
        )
        assert 303 == answer.status_code
        assert "/exceptions" == answer.headers["location"]
        page = client.get("/exceptions").text
        assert "Exception queue" in page
        assert "The console is now in English." in page

    user = accounts.get("anna")
    assert user is not None and "en" == user.language
    with _client(project, accounts, "da") as again:
        _log_in(again)
        assert "Needs attention" in again.get("/").text


def test_choosing_a_language_needs_the_csrf_token_and_a_known_language(
    project: Project, accounts: AccountStore
) -> None:
    with _client(project, accounts, "da") as client:
        _log_in(client)
        forged = client.post(
            "/language", data={"language": "en"}, follow_redirects=False
        )
        unknown = client.post(
            "/language",
            data={"language": "de", "csrf_token": _csrf(client)},
            follow_redirects=False,
        )

    assert 403 == forged.status_code
    assert 400 == unknown.status_code
    user = accounts.get("anna")
    assert user is not None and user.language is None


# In Chromium ------------------------------------------------------------------------


@pytest.mark.browser
def test_a_danish_operator_reads_the_night_and_switches_to_english(
    project: Project, accounts: AccountStore, serve: Any
) -> None:
    """A browser in da-DK: Danish login, a red "Kræver opmærksomhed" naming the
    failed item, times with their zone; the English button turns every page
    English, and a new browser of the same user opens in English."""
    with serve(create_app(project, accounts=accounts)) as served:
        page = served.open_page(locale="da-DK")
        page.goto("/")
        expect(page.get_by_role("heading", name="Log ind")).to_be_visible()
        page.get_by_label("Brugernavn").fill("anna")
        page.get_by_label("Adgangskode").fill(PASSWORD)
        page.get_by_role("button", name="Log ind").click()

        expect(page.get_by_role("heading", name="Oversigt")).to_be_visible()
        attention = page.locator("#attention")
        expect(attention).to_have_class(re.compile(r"\balarm\b"))
        expect(attention.get_by_role("heading")).to_have_text("Kræver opmærksomhed")
        expect(attention).to_contain_text("1 fejlet element")
        expect(page.locator("#last-runs")).to_contain_text("gennemført med fejl")
        expect(page.locator("#last-runs")).to_contain_text(re.compile(r"CET|CEST"))
        assert "da" == page.locator("html").get_attribute("lang")

        page.get_by_role("button", name="English").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.get_by_role("status")).to_have_text(
            "The console is now in English."
        )
        expect(page.locator("#attention h2")).to_have_text("Needs attention")
        page.get_by_role("link", name="Exception queue").click()
        expect(page.get_by_role("heading", name="Exception queue")).to_be_visible()

        other = served.open_page(locale="da-DK")
        other.goto("/")
        other.get_by_label("Brugernavn").fill("anna")
        other.get_by_label("Adgangskode").fill(PASSWORD)
        other.get_by_role("button", name="Log ind").click()
        expect(other.get_by_role("heading", name="Dashboard")).to_be_visible()
        other.get_by_role("button", name="Dansk").click()
        expect(other.get_by_role("heading", name="Oversigt")).to_be_visible()
