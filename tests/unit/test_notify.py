"""Tests of robotlib.notify: the command and e-mail notifiers, send_all, settings."""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from robotlib.credentials import Credentials
from robotlib.errors import ConfigurationError, NotifyError
from robotlib.notify import (
    CommandNotifier,
    Notification,
    SmtpNotifier,
    build_notifiers,
    send_all,
)
from robotlib.settings import NotifySettings, Settings, load_settings
from robotlib.testing import capture_events

NOTIFICATION = Notification(
    kind="run_stopped",
    subject="robotlib: lab_results run 20261203T010000Z-3f9a1c stopped",
    body="Stopped after 5 system exceptions.\nSee: rpa runs show 20261203T010000Z",
    job="nightly_lab",
    robot="lab_results",
    run_id="20261203T010000Z-3f9a1c",
)


@pytest.fixture(autouse=True)
def no_rpa_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's RPA_* variables out of the settings under test."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)


# A real SMTP server ---------------------------------------------------------------


@dataclass
class Mailbox:
    """What the local SMTP server received."""

    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        with self.mailbox.lock:
            self.mailbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.mailbox.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class _Authenticator:
    """Accepts robot/smtp-pass-1 and records every login attempt."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        with self.mailbox.lock:
            self.mailbox.logins.append((login, password))
        ok = (login, password) == ("robot", "smtp-pass-1")
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 (AUTH without TLS allowed, for the test)."""
    box = Mailbox(port=free_port())
    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=box.port,
        authenticator=_Authenticator(box),
        auth_require_tls=False,
    )
    controller.start()
    yield box
    controller.stop()


def smtp_notifier(port: int, **options: Any) -> SmtpNotifier:
    """An SmtpNotifier for the local server; options override the defaults."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "rpa@region.example",
        "recipients": ["team@region.example", "oncall@region.example"],
        "timeout_s": 5,
    }
    values.update(options)
    return SmtpNotifier(**values)


# SmtpNotifier ---------------------------------------------------------------------


def test_smtp_delivers_subject_sender_recipients_and_body(mailbox: Mailbox) -> None:
    """The e-mail reaches the server with the notification's subject and body."""
    smtp_notifier(mailbox.port).send(NOTIFICATION)

    [message] = mailbox.messages
    assert NOTIFICATION.subject == message["Subject"]
    assert "rpa@region.example" == message["From"]
    assert "team@region.example, oncall@region.example" == message["To"]
    body = message.get_body()
    assert body is not None
    # SMTP carries CRLF line endings.
    assert NOTIFICATION.body == body.get_content().replace("\r\n", "\n").rstrip()
    assert [
        ("rpa@region.example", ["team@region.example", "oncall@region.example"])
    ] == mailbox.envelopes


def test_smtp_without_username_does_not_log_in(mailbox: Mailbox) -> None:
    """Without a username the notifier sends without AUTH."""
    smtp_notifier(mailbox.port).send(NOTIFICATION)

    assert [] == mailbox.logins
    assert 1 == len(mailbox.messages)


def test_smtp_with_username_logs_in(mailbox: Mailbox) -> None:
    """With a username the notifier logs in with the password, then sends."""
    notifier = smtp_notifier(mailbox.port, username="robot", password="smtp-pass-1")

    notifier.send(NOTIFICATION)

    assert [("robot", "smtp-pass-1")] == mailbox.logins
    assert 1 == len(mailbox.messages)


def test_smtp_rejected_login_never_shows_the_password(mailbox: Mailbox) -> None:
    """A refused login is a NotifyError naming the server, not the password."""
    notifier = smtp_notifier(mailbox.port, username="robot", password="wrong-pw-42")

    with pytest.raises(NotifyError) as caught:
        notifier.send(NOTIFICATION)

    assert f"127.0.0.1:{mailbox.port}" in str(caught.value)
    assert "535" in str(caught.value)
    assert "wrong-pw-42" not in str(caught.value)
    assert "wrong-pw-42" not in repr(notifier)
    assert [] == mailbox.messages


def test_smtp_refused_connection_names_host_and_port() -> None:
    """A closed port gives a NotifyError naming host:port."""
    port = free_port()

    with pytest.raises(NotifyError, match=f"127.0.0.1:{port}"):
        smtp_notifier(port).send(NOTIFICATION)


def test_smtp_starttls_unsupported_is_a_notify_error(mailbox: Mailbox) -> None:
    """STARTTLS against a server that does not offer it fails, and sends nothing."""
    with pytest.raises(NotifyError, match="STARTTLS"):
        smtp_notifier(mailbox.port, starttls=True).send(NOTIFICATION)

    assert [] == mailbox.messages


def test_smtp_subject_stays_one_line(mailbox: Mailbox) -> None:
    """A subject with a line break is sent as one line (no header injection)."""
    notification = Notification(
        kind="test", subject="robotlib: a\nBcc: evil@example.org", body="x"
    )

    smtp_notifier(mailbox.port).send(notification)

    [message] = mailbox.messages
    assert "robotlib: a Bcc: evil@example.org" == message["Subject"]
    assert message["Bcc"] is None


# CommandNotifier -----------------------------------------------------------------


@pytest.fixture
def make_script(tmp_path: Path) -> Callable[[str], list[str]]:
    """Return a function writing a Python script and returning its argv."""

    def make(code: str) -> list[str]:
        path = tmp_path / "notify_script.py"
        path.write_text(textwrap.dedent(code), encoding="utf-8")
        return [sys.executable, str(path)]

    return make


def test_command_gets_json_on_stdin_and_variables(
    tmp_path: Path,
    make_script: Callable[[str], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command reads the notification as JSON and in RPA_NOTIFY_* variables."""
    monkeypatch.setenv("NOTIFY_TEST_PARENT", "inherited")
    out = tmp_path / "out.json"
    argv = make_script(f"""
        import json, os, sys
        seen = {{"stdin": json.load(sys.stdin), "env": dict(os.environ)}}
        open({str(out)!r}, "w", encoding="utf-8").write(json.dumps(seen))
    """)

    CommandNotifier(argv).send(NOTIFICATION)

    seen = json.loads(out.read_text(encoding="utf-8"))
    assert NOTIFICATION.as_dict() == seen["stdin"]
    expected = {
        "RPA_NOTIFY_KIND": "run_stopped",
        "RPA_NOTIFY_SUBJECT": NOTIFICATION.subject,
        "RPA_NOTIFY_JOB": "nightly_lab",
        "RPA_NOTIFY_ROBOT": "lab_results",
        "RPA_NOTIFY_RUN_ID": "20261203T010000Z-3f9a1c",
        "RPA_NOTIFY_COUNT": "",
        "RPA_NOTIFY_LINK": "",
        "NOTIFY_TEST_PARENT": "inherited",
    }
    assert expected == {name: seen["env"].get(name) for name in expected}


def test_command_gets_the_count_and_link_of_failed_items(
    tmp_path: Path, make_script: Callable[[str], list[str]]
) -> None:
    """A failed_items notification carries its count and the run's console link,
    in the JSON and in RPA_NOTIFY_COUNT and RPA_NOTIFY_LINK."""
    out = tmp_path / "out.json"
    argv = make_script(f"""
        import json, os, sys
        data = json.load(sys.stdin)
        seen = [data["count"], data["link"], os.environ["RPA_NOTIFY_COUNT"],
                os.environ["RPA_NOTIFY_LINK"]]
        open({str(out)!r}, "w", encoding="utf-8").write(json.dumps(seen))
    """)
    link = "https://rpa.example.org/runs/20261203T010000Z-3f9a1c"

    CommandNotifier(argv).send(
        Notification(kind="failed_items", subject="s", body="b", count=2, link=link)
    )

    assert [2, link, "2", link] == json.loads(out.read_text(encoding="utf-8"))


def test_command_without_run_id_gets_an_empty_variable(
    tmp_path: Path, make_script: Callable[[str], list[str]]
) -> None:
    """A notification without a run has RPA_NOTIFY_RUN_ID empty and run_id null."""
    out = tmp_path / "out.json"
    argv = make_script(f"""
        import json, os, sys
        seen = [json.load(sys.stdin)["run_id"], os.environ["RPA_NOTIFY_RUN_ID"]]
        open({str(out)!r}, "w", encoding="utf-8").write(json.dumps(seen))
    """)

    CommandNotifier(argv).send(Notification(kind="test", subject="s", body="b"))

    assert [None, ""] == json.loads(out.read_text(encoding="utf-8"))


def test_command_failure_names_exit_code_and_last_stderr_line(
    make_script: Callable[[str], list[str]],
) -> None:
    """A non-zero exit is a NotifyError with the code and the last stderr line."""
    argv = make_script("""
        import sys
        print("first line", file=sys.stderr)
        print("boom", file=sys.stderr)
        sys.exit(3)
    """)

    with pytest.raises(NotifyError) as caught:
        CommandNotifier(argv).send(NOTIFICATION)

    message = str(caught.value)
    assert "exited 3: boom" in message
    assert "notify_script.py" in message


def test_command_timeout_is_a_notify_error(
    make_script: Callable[[str], list[str]],
) -> None:
    """A command that runs past its timeout is killed and reported."""
    argv = make_script("import time; time.sleep(30)")

    with pytest.raises(NotifyError, match=r"did not finish within 0\.5 s"):
        CommandNotifier(argv, timeout_s=0.5).send(NOTIFICATION)


def test_command_missing_executable_is_a_notify_error(tmp_path: Path) -> None:
    """A program that does not exist is a NotifyError naming it."""
    missing = str(tmp_path / "no-such-notifier")

    with pytest.raises(NotifyError, match="no-such-notifier"):
        CommandNotifier([missing]).send(NOTIFICATION)


# send_all -------------------------------------------------------------------------


@dataclass
class FakeNotifier:
    """Records what it was sent, or fails with ``error``."""

    name: str
    error: Exception | None = None
    sent: list[Notification] = field(default_factory=list)

    def send(self, notification: Notification) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(notification)


def test_send_all_goes_on_after_a_failure_and_returns_it() -> None:
    """A failing notifier is logged and returned; the next one still sends."""
    failing = FakeNotifier("command", error=NotifyError("command x exited 3: boom"))
    working = FakeNotifier("smtp")

    with capture_events() as events:
        failures = send_all([failing, working], NOTIFICATION)

    assert ["command x exited 3: boom"] == failures
    assert [NOTIFICATION] == working.sent
    assert [
        ("notify_failed", "error", "command", "command x exited 3: boom"),
        ("notified", "info", "smtp", None),
    ] == [(e["event"], e["log_level"], e["notifier"], e.get("error")) for e in events]
    assert all(e["kind"] == "run_stopped" for e in events)
    assert all(NOTIFICATION.body not in str(e) for e in events)


def test_send_all_never_raises_on_an_unexpected_error() -> None:
    """A notifier's bug (not a NotifyError) is reported like any failure."""
    broken = FakeNotifier("custom", error=RuntimeError("bug"))

    assert ["custom notifier failed: RuntimeError: bug"] == send_all(
        [broken], NOTIFICATION
    )


def test_send_all_without_notifiers_does_nothing() -> None:
    """No notifiers, no failures."""
    assert [] == send_all([], NOTIFICATION)


def test_notification_as_dict_is_json() -> None:
    """as_dict gives every field, ready for json.dumps."""
    assert NOTIFICATION.as_dict() == json.loads(json.dumps(NOTIFICATION.as_dict()))
    assert {
        "kind",
        "subject",
        "body",
        "job",
        "robot",
        "run_id",
        "count",
        "link",
    } == set(NOTIFICATION.as_dict())
    assert (None, "") == (NOTIFICATION.count, NOTIFICATION.link)


# Settings and build_notifiers ------------------------------------------------------

NOTIFY_TOML = """\
cpr_in_logs = "mask"

[notify]
command = ["page-oncall", "--team", "rpa"]
command_timeout_s = 5
smtp_host = "smtp.region.example"
smtp_port = 587
smtp_starttls = true
smtp_from = "rpa@region.example"
smtp_to = ["team@region.example"]
business_exception_threshold = 3
"""


def write_project(folder: Path, toml: str, credentials: str | None = None) -> Path:
    """Write rpa.toml (and credentials.toml, owner-only) into ``folder``."""
    (folder / "rpa.toml").write_text(toml, encoding="utf-8")
    if credentials is not None:
        path = folder / "credentials.toml"
        path.write_text(credentials, encoding="utf-8")
        path.chmod(0o600)
    return folder


def loader(settings: Settings) -> Callable[[], Credentials]:
    """The credentials loader a Project would pass, without the environment."""
    return lambda: Credentials.load(settings, environ={})


def test_notify_table_of_rpa_toml_is_read(tmp_path: Path) -> None:
    """load_settings reads the [notify] table next to the top-level settings."""
    settings = load_settings(write_project(tmp_path, NOTIFY_TOML))

    assert "mask" == settings.cpr_in_logs
    assert ["page-oncall", "--team", "rpa"] == settings.notify.command
    assert 5.0 == settings.notify.command_timeout_s
    assert ("smtp.region.example", 587) == (
        settings.notify.smtp_host,
        settings.notify.smtp_port,
    )
    assert ["team@region.example"] == settings.notify.smtp_to
    assert 3 == settings.notify.business_exception_threshold


def test_failed_item_threshold_and_console_url_are_read(tmp_path: Path) -> None:
    """[notify] failed_item_threshold and the top-level console_url come from
    rpa.toml."""
    toml = (
        'console_url = "https://rpa.example.org"\n[notify]\nfailed_item_threshold = 2\n'
    )
    settings = load_settings(write_project(tmp_path, toml))

    assert ("https://rpa.example.org", 2) == (
        settings.console_url,
        settings.notify.failed_item_threshold,
    )


def test_notify_variables_override_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RPA_NOTIFY__<SETTING> wins over [notify]; the file's other settings stay."""
    monkeypatch.setenv("RPA_NOTIFY__SMTP_HOST", "relay.region.example")
    monkeypatch.setenv("RPA_NOTIFY__SMTP_TO", '["oncall@region.example"]')
    monkeypatch.setenv("RPA_CPR_IN_LOGS", "hash")

    settings = load_settings(write_project(tmp_path, NOTIFY_TOML))

    assert "relay.region.example" == settings.notify.smtp_host
    assert ["oncall@region.example"] == settings.notify.smtp_to
    assert 587 == settings.notify.smtp_port
    assert "hash" == settings.cpr_in_logs


def test_notify_defaults_configure_nothing(tmp_path: Path) -> None:
    """Without [notify] nothing is configured and no notifier is built."""
    settings = load_settings(write_project(tmp_path, ""))

    assert NotifySettings() == settings.notify
    assert 0 == settings.notify.business_exception_threshold
    assert 0 == settings.notify.failed_item_threshold  # one failed item is enough
    assert settings.console_url is None
    assert [] == build_notifiers(settings, loader(settings))


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('smtp_host = "h"\nsmtp_from = "f@x"', "smtp_to"),
        ('smtp_host = "h"\nsmtp_to = ["t@x"]', "smtp_from"),
        (
            'smtp_host = "h"\nsmtp_from = "f@x"\nsmtp_to = ["t@x"]\n'
            "smtp_ssl = true\nsmtp_starttls = true",
            "exclude each other",
        ),
        ("business_exception_threshold = -1", "business_exception_threshold"),
        ("failed_item_threshold = -1", "failed_item_threshold"),
        ('smtp_hots = "h"', "smtp_hots"),
    ],
    ids=[
        "no-recipients",
        "no-sender",
        "ssl-and-starttls",
        "negative",
        "negative-failed",
        "typo",
    ],
)
def test_invalid_notify_table_names_notify(
    tmp_path: Path, table: str, expected: str
) -> None:
    """An invalid [notify] table is a ConfigurationError naming notify."""
    write_project(tmp_path, f"[notify]\n{table}\n")

    with pytest.raises(ConfigurationError) as caught:
        load_settings(tmp_path)

    assert "notify" in str(caught.value)
    assert expected in str(caught.value)


def test_notify_list_variable_that_is_not_json_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list variable not written as JSON is a clear ConfigurationError."""
    monkeypatch.setenv("RPA_NOTIFY__SMTP_TO", "team@region.example")

    with pytest.raises(ConfigurationError, match="JSON"):
        load_settings(write_project(tmp_path, ""))


def test_build_notifiers_builds_command_and_smtp(tmp_path: Path) -> None:
    """Both notifiers are built from [notify]; no credentials means no login."""
    settings = load_settings(write_project(tmp_path, NOTIFY_TOML))

    command, smtp = build_notifiers(settings, loader(settings))

    assert isinstance(command, CommandNotifier)
    assert (["page-oncall", "--team", "rpa"], 5.0) == (command.argv, command.timeout_s)
    assert isinstance(smtp, SmtpNotifier)
    assert ("smtp.region.example", 587, True, None) == (
        smtp.host,
        smtp.port,
        smtp.starttls,
        smtp.username,
    )


def test_build_notifiers_takes_the_smtp_login_from_credentials(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    """Username and password of credentials system "smtp" are used to log in."""
    toml = (
        f'[notify]\nsmtp_host = "127.0.0.1"\nsmtp_port = {mailbox.port}\n'
        'smtp_from = "rpa@region.example"\nsmtp_to = ["team@region.example"]\n'
    )
    credentials = '[smtp]\nusername = "robot"\npassword = "smtp-pass-1"\n'
    settings = load_settings(write_project(tmp_path, toml, credentials))

    [smtp] = build_notifiers(settings, loader(settings))
    smtp.send(NOTIFICATION)

    assert [("robot", "smtp-pass-1")] == mailbox.logins
    assert "smtp-pass-1" not in repr(smtp)


def test_build_notifiers_prefers_the_username_of_the_settings(tmp_path: Path) -> None:
    """smtp_username wins over the credentials' username."""
    toml = NOTIFY_TOML + 'smtp_username = "relay-user"\n'
    credentials = '[smtp]\nusername = "robot"\npassword = "smtp-pass-1"\n'
    settings = load_settings(write_project(tmp_path, toml, credentials))

    [_, smtp] = build_notifiers(settings, loader(settings))

    assert isinstance(smtp, SmtpNotifier)
    assert "relay-user" == smtp.username


def test_build_notifiers_refuses_a_username_without_password(tmp_path: Path) -> None:
    """A login without a password is a ConfigurationError naming the smtp system."""
    toml = NOTIFY_TOML + 'smtp_username = "relay-user"\n'
    settings = load_settings(write_project(tmp_path, toml))

    with pytest.raises(ConfigurationError, match="RPA_CRED_SMTP_PASSWORD"):
        build_notifiers(settings, loader(settings))


def test_build_notifiers_loads_credentials_only_for_email(tmp_path: Path) -> None:
    """A command-only setup never loads the credentials."""
    settings = load_settings(write_project(tmp_path, '[notify]\ncommand = ["x"]\n'))

    def no_credentials() -> Credentials:
        raise AssertionError("credentials loaded")

    [command] = build_notifiers(settings, no_credentials)

    assert "command" == command.name
