"""Notifications: tell people that a scheduled run needs attention.

A run needs attention when it stops on system exceptions, ends with more failed
items than ``Settings.notify.failed_item_threshold`` or more business exceptions
than ``Settings.notify.business_exception_threshold``, misses its deadline or fails
its preflight. The scheduler writes a :class:`Notification` and hands it to
every notifier the ``[notify]`` table of ``rpa.toml`` configures:

- :class:`CommandNotifier` runs a command (no shell). The notification arrives on its
  stdin as JSON (:meth:`Notification.as_dict`) and in the variables
  ``RPA_NOTIFY_KIND``, ``RPA_NOTIFY_SUBJECT``, ``RPA_NOTIFY_JOB``,
  ``RPA_NOTIFY_ROBOT``, ``RPA_NOTIFY_RUN_ID``, ``RPA_NOTIFY_COUNT`` and
  ``RPA_NOTIFY_LINK``, beside the parent's environment.
- :class:`SmtpNotifier` sends a plain-text e-mail. Its password comes from the
  credentials, system ``smtp``.

Notifiers send what the caller wrote and add nothing; subjects and bodies must hold
no patient data. :func:`send_all` never raises: a notifier that fails is logged
(``notify_failed``) and the others still send.

Example:
    >>> notifiers = build_notifiers(project.settings, project.credentials)
    >>> send_all(notifiers, Notification(
    ...     kind="run_stopped",
    ...     subject="robotlib: lab_results run 20261203T010000Z-3f9a1c stopped",
    ...     body="Stopped after 5 system exceptions. See: rpa runs show 20261203",
    ...     job="nightly_lab", robot="lab_results", run_id="20261203T010000Z-3f9a1c",
    ... ))
    []
"""

from __future__ import annotations

import json
import os
import shlex
import smtplib
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from ssl import create_default_context
from typing import Any, Protocol

import structlog

from robotlib.credentials import Credentials
from robotlib.errors import ConfigurationError, NotifyError
from robotlib.settings import Settings

__all__ = [
    "CommandNotifier",
    "Notification",
    "Notifier",
    "SmtpNotifier",
    "build_notifiers",
    "send_all",
]

log = structlog.get_logger("robotlib.notify")

#: The credentials system of the SMTP server's login.
SMTP_SYSTEM = "smtp"


@dataclass(frozen=True)
class Notification:
    """Something people must hear of.

    Attributes:
        kind: ``run_stopped``, ``failed_items``, ``business_exceptions``,
            ``time_limit``, ``preflight_failed``, ``deadline_missed``,
            ``missed_firing``, ``agent_offline`` (robotlib.fleet),
            ``deadline_at_risk`` (items not done before their deadline) or ``test``.
        subject: one line, e.g. ``robotlib: lab_results run 20261203T010000Z-3f9a1c
            stopped``.
        body: plain text for people; no patient data.
        job: the schedule's job name, if any.
        robot: the robot's name, if any.
        run_id: the run's id, if there was a run.
        count: how many items the kind is about (``failed_items``,
            ``business_exceptions``), else None.
        link: the run's page in the console (``Settings.console_url``), or "".

    Example:
        >>> Notification(kind="test", subject="robotlib: test", body="Hi").as_dict()
        {'kind': 'test', 'subject': 'robotlib: test', 'body': 'Hi', 'job': '', ...}
    """

    kind: str
    subject: str
    body: str
    job: str = ""
    robot: str = ""
    run_id: str | None = None
    count: int | None = None
    link: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the notification as a JSON-able dict."""
        return asdict(self)


class Notifier(Protocol):
    """Delivers notifications somewhere; ``name`` names it in logs."""

    name: str

    def send(self, notification: Notification) -> None:
        """Deliver ``notification``; raise :class:`NotifyError` when it cannot."""
        ...


class CommandNotifier:
    """Runs a command for each notification.

    The command gets the notification as JSON on stdin and in ``RPA_NOTIFY_*``
    variables, beside the parent's environment. Its output is discarded.

    Args:
        argv: the program and its arguments; no shell is involved.
        timeout_s: how long the command may run before it is killed.

    Example:
        >>> CommandNotifier(["page-oncall", "--team", "rpa"]).send(notification)
    """

    name = "command"

    def __init__(self, argv: Sequence[str], *, timeout_s: float = 30.0) -> None:
        if not argv:
            raise ConfigurationError("a notify command needs at least a program")
        self.argv = list(argv)
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"CommandNotifier({self.argv!r}, timeout_s={self.timeout_s!r})"

    def send(self, notification: Notification) -> None:
        """Run the command; raise :class:`NotifyError` unless it exits 0."""
        command = shlex.join(self.argv)
        # The command inherits the environment, as any child process would.
        env = {**os.environ, **_variables(notification)}
        try:
            done = subprocess.run(
                self.argv,
                input=json.dumps(notification.as_dict(), ensure_ascii=False),
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=env,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise NotifyError(
                f"notify command {command} did not finish within {self.timeout_s:g} s"
            ) from None
        except OSError as exc:
            raise NotifyError(
                f"notify command {command} could not start: {exc.strerror or exc}"
            ) from exc
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            last = f": {lines[-1].strip()}" if lines else ""
            raise NotifyError(
                f"notify command {command} exited {done.returncode}{last}"
            )


class SmtpNotifier:
    """Sends each notification as a plain-text e-mail.

    Args:
        host: the SMTP server.
        port: its port: 25, 587 with ``starttls``, 465 with ``ssl``.
        sender: the From address.
        recipients: the To addresses.
        starttls: upgrade the connection with STARTTLS before anything else.
        ssl: connect over TLS from the start (SMTP_SSL).
        username: log in as this user; no login without one.
        password: the login's password.
        timeout_s: how long to wait for the server.

    Example:
        >>> SmtpNotifier(
        ...     host="smtp.region.dk", port=587, starttls=True,
        ...     sender="rpa@region.dk", recipients=["rpa-team@region.dk"],
        ... ).send(notification)
    """

    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        sender: str,
        recipients: Sequence[str],
        starttls: bool = False,
        ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if not recipients:
            raise ConfigurationError("an e-mail notifier needs at least one recipient")
        self.host, self.port = host, port
        self.sender, self.recipients = sender, list(recipients)
        self.starttls, self.ssl = starttls, ssl
        self.username, self._password = username, password
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never the password
        return (
            f"SmtpNotifier(host={self.host!r}, port={self.port!r}, "
            f"sender={self.sender!r}, recipients={self.recipients!r}, "
            f"username={self.username!r})"
        )

    def send(self, notification: Notification) -> None:
        """Send the e-mail; raise :class:`NotifyError` when the server refuses it."""
        message = EmailMessage()
        message["Subject"] = " ".join(notification.subject.split())  # one line
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(notification.body)
        try:
            with self._connect() as smtp:
                if self.starttls:
                    smtp.starttls(context=create_default_context())
                if self.username is not None:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(
                f"SMTP server {self.host}:{self.port}: {_reason(exc)}"
            ) from exc

    def _connect(self) -> smtplib.SMTP:
        if self.ssl:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout_s,
                context=create_default_context(),
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)


def build_notifiers(
    settings: Settings, credentials: Callable[[], Credentials] | None = None
) -> list[Notifier]:
    """Build the notifiers the ``[notify]`` settings configure, none if none.

    Args:
        settings: the project settings.
        credentials: loads the credentials (``Project.credentials``); asked only
            when e-mail is configured, for system ``smtp``.

    Raises:
        ConfigurationError: the SMTP login has a username but no password, or the
            credentials cannot be read.

    Example:
        >>> [n.name for n in build_notifiers(project.settings, project.credentials)]
        ['command', 'smtp']
    """
    notify = settings.notify
    notifiers: list[Notifier] = []
    if notify.command:
        notifiers.append(
            CommandNotifier(notify.command, timeout_s=notify.command_timeout_s)
        )
    if notify.smtp_host and notify.smtp_from:
        username, password = _smtp_login(settings, credentials)
        notifiers.append(
            SmtpNotifier(
                host=notify.smtp_host,
                port=notify.smtp_port,
                sender=notify.smtp_from,
                recipients=notify.smtp_to,
                starttls=notify.smtp_starttls,
                ssl=notify.smtp_ssl,
                username=username,
                password=password,
                timeout_s=notify.smtp_timeout_s,
            )
        )
    return notifiers


def send_all(notifiers: Sequence[Notifier], notification: Notification) -> list[str]:
    """Send ``notification`` to each notifier; return the failures' messages.

    Never raises: a failing notifier is logged (``notify_failed``) and the next one
    still sends. Each success is logged as ``notified``, without the body.

    Example:
        >>> send_all(notifiers, notification)
        ['SMTP server smtp.region.dk:25: [Errno 111] Connection refused']
    """
    failures: list[str] = []
    for notifier in notifiers:
        context = {
            "notifier": notifier.name,
            "kind": notification.kind,
            "job": notification.job,
            "run_id": notification.run_id,
        }
        try:
            notifier.send(notification)
        except Exception as exc:  # a notifier's bug must not stop the others
            message = (
                exc.message
                if isinstance(exc, NotifyError)
                else f"{notifier.name} notifier failed: {type(exc).__name__}: {exc}"
            )
            log.error("notify_failed", error=message, **context)
            failures.append(message)
        else:
            log.info("notified", **context)
    return failures


# Private API ----------------------------------------------------------------------


def _variables(notification: Notification) -> dict[str, str]:
    return {
        "RPA_NOTIFY_KIND": notification.kind,
        "RPA_NOTIFY_SUBJECT": notification.subject,
        "RPA_NOTIFY_JOB": notification.job,
        "RPA_NOTIFY_ROBOT": notification.robot,
        "RPA_NOTIFY_RUN_ID": notification.run_id or "",
        "RPA_NOTIFY_COUNT": ""
        if notification.count is None
        else str(notification.count),
        "RPA_NOTIFY_LINK": notification.link,
    }


def _smtp_login(
    settings: Settings, credentials: Callable[[], Credentials] | None
) -> tuple[str | None, str | None]:
    """The SMTP username and password: settings first, then credentials ``smtp``."""
    username = settings.notify.smtp_username
    password: str | None = None
    if credentials is not None:
        loaded = credentials()
        if SMTP_SYSTEM in loaded.systems():
            system = loaded.get(SMTP_SYSTEM)
            username = username or system.username
            if system.password is not None:
                password = system.password.get_secret_value()
    if username is not None and password is None:
        raise ConfigurationError(
            f"notify: the SMTP login {username!r} has no password: add it to "
            f"{settings.credentials_path} as [{SMTP_SYSTEM}] password = ..., or set "
            "RPA_CRED_SMTP_PASSWORD"
        )
    if username is None and password is not None:
        raise ConfigurationError(
            f"notify: the credentials of system {SMTP_SYSTEM!r} have a password but "
            "no username: add username to them or set smtp_username in [notify]"
        )
    return username, password


def _reason(exc: smtplib.SMTPException | OSError) -> str:
    """Why the server refused, without anything that was sent to it."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"recipients refused: {', '.join(sorted(exc.recipients))}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
