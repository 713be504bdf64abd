"""Logging for robotlib: structlog setup, run logs and redaction.

Everything that logs, robotlib through structlog and the libraries it drives through
the standard ``logging`` module (Playwright, SQLAlchemy, APScheduler, uvicorn), goes
through one chain of processors, so every line is stamped, carries the run's context
and is redacted the same way:

    merge_contextvars → add_logger_name → add_log_level → TimeStamper(iso, UTC)
    → StackInfoRenderer → format_exc_info → Redactor → renderer

The console gets readable lines on a terminal and JSON otherwise; a run's
``events.jsonl`` (see :func:`run_log`) always gets JSON, one object per line.

Event conventions:

- An event is a constant snake_case name plus key-values, never an f-string:
  ``log.info("item_done", reference=item.reference, duration_s=1.2)``.
- The engine binds ``robot``, ``run_id``, ``item`` (the item's reference) and
  ``step`` with :func:`structlog.contextvars.bound_contextvars`, so every line of a
  run's ``events.jsonl`` carries ``run_id`` and ``robot``. Each line also has
  ``timestamp`` (ISO 8601, UTC), ``level`` and ``logger``; a line logged with
  ``log.exception`` has ``exception``, the traceback as text.

Redaction (:class:`Redactor`) hides, in every value and key of every event, the
text of each registered secret (``***``), the value of any key that looks like a
password, secret, token or API key (``***``), and every CPR number according to
``Settings.cpr_in_logs``: ``hash`` gives ``cpr:`` plus ten hex characters of a keyed
HMAC (the same number gives the same token in every log, the key lives in
``<project>/.rpa/log-key``), ``mask`` gives ``DDMMYY-****`` and ``clear`` leaves the
number alone. Only ten digits holding a real date count as a CPR number, so order
numbers and timestamps stay readable. So does a CPR number typed wrong, eleven digits
with a dash after the sixth (``220209-40021``) or nine or ten digits with one stray
letter (``2202O94002``), masked as ``2202**-****`` (or hashed).

Example:
    >>> settings = load_settings(Path("."))
    >>> redactor = build_redactor(settings)
    >>> configure_logging(settings, redactor=redactor)
    >>> with run_log(Path("logs/lab_results/run-1/events.jsonl")):
    ...     structlog.get_logger().info("item_done", reference="A-17")
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger

from robotlib.cpr import CPR_PATTERN, is_well_formed, mask_cpr, mask_mistyped
from robotlib.errors import ConfigurationError
from robotlib.secrecy import MASK, is_secret_name, spellings
from robotlib.settings import CprInLogs, Settings

__all__ = [
    "Redactor",
    "build_redactor",
    "configure_logging",
    "display_masker",
    "read_events",
    "redaction_key",
    "run_log",
]

#: ProcessorFormatter's private keys: passed through untouched.
_FORMATTER_KEYS = frozenset({"_record", "_from_structlog"})

#: A CPR number typed wrong: eleven digits with a dash after the sixth
#: (``220209-40021``), or nine or ten digits with one stray letter among them
#: (``2202O94002``, ``2202O940021``), standing alone (not inside a longer word or
#: number).
#: (Not a ``cpr:`` token a redaction wrote: a digest of nine digits and one letter,
#: such as ``cpr:5973a70536``, would be hashed again, and a patient's token change.)
_MISTYPED_CPR = re.compile(
    r"(?<![\w-])(?<!cpr:)"
    r"(?:\d{6}-\d{5}|(?=[^\W_]{10,11}(?![\w-]))\d+[^\W\d_]\d+)(?![\w-])"
)

_KEY_FILE = "log-key"

_NOISY_LOGGERS = (
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "asyncio",
    "urllib3",
    "httpx",
    "httpx2",
    "httpcore",
    "PIL",
    "multipart",
    "python_multipart",
)


# Public API -----------------------------------------------------------------------


class Redactor:
    """Hide secrets and CPR numbers in log text; also a structlog processor.

    Args:
        cpr_mode: how CPR numbers appear: ``"hash"``, ``"mask"`` or ``"clear"``.
        key: the HMAC key of ``"hash"`` mode (see :func:`redaction_key`); may be
            empty in the other modes.

    Raises:
        ValueError: ``"hash"`` mode without a key.

    Example:
        >>> redactor = Redactor(cpr_mode="mask", key=b"")
        >>> redactor.add_secret("hunter2")
        >>> redactor.redact("login robot/hunter2 for 240512-4123")
        'login robot/*** for 240512-****'
    """

    def __init__(self, *, cpr_mode: CprInLogs, key: bytes) -> None:
        if cpr_mode == "hash" and not key:
            raise ValueError("CPR hashing needs a key; see redaction_key()")
        self._cpr_mode = cpr_mode
        self._key = key
        self._secrets: set[str] = set()
        self._secrets_pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Redactor(cpr_mode={self._cpr_mode!r}, secrets={len(self._secrets)})"

    def add_secret(self, value: str) -> None:
        """Register a secret; from now on its text is replaced by ``***``.

        Values shorter than three characters are ignored (hiding them would blank
        out ordinary words and numbers). The URL-encoded forms of the value are
        registered too, so a password inside a logged URL or form body is hidden, and
        so are its JSON-escaped forms (a password inside a JSON document).

        Example:
            >>> redactor = Redactor(cpr_mode="clear", key=b"")
            >>> redactor.add_secret("s3cr&t")
            >>> redactor.redact("?pw=s3cr%26t")
            '?pw=***'
        """
        written = spellings(value)
        if not written:
            return
        with self._lock:
            self._secrets.update(written)
            longest_first = sorted(self._secrets, key=len, reverse=True)
            self._secrets_pattern = re.compile(
                "|".join(re.escape(secret) for secret in longest_first)
            )

    def redact(self, text: str) -> str:
        """Return ``text`` with secrets replaced by ``***`` and CPR numbers redacted.

        Example:
            >>> Redactor(cpr_mode="mask", key=b"").redact("order 9912319999")
            'order 9912319999'
        """
        return self._redacted(text, self._cpr_mode)

    def masked(self, text: str) -> str:
        """Return ``text`` for the queue database and the people who read it.

        Secrets become ``***`` and CPR numbers are masked (``240512-****``)
        whatever ``cpr_in_logs`` says: a reason an operator reads in the morning
        names the patient's birth date, not a hash, and no database field holds
        a full number.

        Example:
            >>> Redactor(cpr_mode="clear", key=b"").masked("no patient 2405124123")
            'no patient 240512-****'
        """
        return self._redacted(text, "mask")

    def _redacted(self, text: str, mode: CprInLogs) -> str:
        text = self.hide_secrets(text)
        if mode != "clear":
            text = _MISTYPED_CPR.sub(
                lambda m: self._replace_mistyped_cpr(m, mode), text
            )
            text = CPR_PATTERN.sub(lambda m: self._replace_cpr(m, mode), text)
        return text

    def hide_secrets(self, text: str) -> str:
        """Return ``text`` with the registered secrets replaced by ``***``.

        CPR numbers are left alone: this is for artifacts that may show patient
        data but never a password, such as the Playwright traces of failed items.

        Example:
            >>> redactor = Redactor(cpr_mode="mask", key=b"")
            >>> redactor.add_secret("hunter2")
            >>> redactor.hide_secrets("240512-4123 typed hunter2")
            '240512-4123 typed ***'
        """
        pattern = self._secrets_pattern
        return text if pattern is None else pattern.sub(MASK, text)

    def redact_value(self, value: Any) -> Any:
        """Return ``value`` with all its text redacted, walking containers.

        Strings are redacted; dicts (keys and values), lists, tuples and sets are
        walked; an exception becomes its redacted ``str()``. Any other object is
        returned as it is, unless its ``repr()`` (what the renderers would write)
        holds something to hide: then its redacted ``repr()`` replaces it. In a
        dict, a text value under a key such as ``password`` or ``api_token`` is
        replaced by ``***`` whatever it is.

        Example:
            >>> redactor = Redactor(cpr_mode="mask", key=b"")
            >>> redactor.redact_value({"patient": ["240512-4123"], "password": "x"})
            {'patient': ['240512-****'], 'password': '***'}
        """
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, dict):
            return {
                self.redact_value(key): self._redact_item(key, item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(item) for item in value)
        if isinstance(value, set | frozenset):
            return type(value)(self.redact_value(item) for item in value)
        if isinstance(value, BaseException):
            return self.redact(str(value))
        text = repr(value)
        redacted = self.redact(text)
        return value if redacted == text else redacted

    def __call__(
        self, logger: WrappedLogger, method_name: str, event_dict: EventDict
    ) -> EventDict:
        """Redact every key and value of an event: the structlog processor.

        Put it after ``format_exc_info`` so tracebacks are redacted as text.

        Example:
            >>> Redactor(cpr_mode="mask", key=b"")(None, "info", {"cpr": "2405124123"})
            {'cpr': '240512-****'}
        """
        return {
            key: item if key in _FORMATTER_KEYS else self._redact_item(key, item)
            for key, item in event_dict.items()
        }

    # Private API ------------------------------------------------------------------

    def _redact_item(self, key: Any, item: Any) -> Any:
        if (
            isinstance(key, str)
            and isinstance(item, str | bytes)
            and is_secret_name(key)
        ):
            return MASK
        return self.redact_value(item)

    def _replace_cpr(self, match: re.Match[str], mode: CprInLogs) -> str:
        number = match.group(0)
        # DDMMYY-SSSS is treated as a CPR number even with an impossible date (a
        # mistyped number is still a patient's); ten bare digits only when the date
        # is real, so order numbers and the like stay readable.
        if "-" not in number and not is_well_formed(number):
            return number
        if mode == "mask":
            return mask_cpr(number)
        digits = number.replace("-", "")
        digest = hmac.new(self._key, digits.encode("ascii"), hashlib.sha256)
        return f"cpr:{digest.hexdigest()[:10]}"

    def _replace_mistyped_cpr(self, match: re.Match[str], mode: CprInLogs) -> str:
        number = match.group(0)
        if sum(char.isdigit() for char in number) not in (9, 10, 11):
            return number  # a word of digits and one letter that is no CPR number
        if mode == "mask":
            return mask_mistyped(number)
        digest = hmac.new(self._key, number.upper().encode(), hashlib.sha256)
        return f"cpr:{digest.hexdigest()[:10]}"


def redaction_key(settings: Settings) -> bytes:
    """Return the project's key for hashing CPR numbers, creating it if missing.

    The key is 32 random bytes, stored as hex in ``<state_dir>/log-key``, readable by
    its owner only. Keep it: with another key the same patient gets another token.

    Raises:
        ConfigurationError: the key file is unreadable or damaged.

    Example:
        >>> len(redaction_key(Settings(project_dir=Path("."))))
        32
    """
    path = settings.state_dir / _KEY_FILE
    if not path.exists():
        _create_key_file(path)
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read the log hashing key {path}: {exc}. If it is damaged, "
            "delete it and a new one is made (CPR tokens in new logs will differ "
            "from the old ones)."
        ) from None


def build_redactor(settings: Settings) -> Redactor:
    """Return a redactor for the project's ``cpr_in_logs`` mode (and key).

    Example:
        >>> build_redactor(Settings(cpr_in_logs="mask")).redact("240512-4123")
        '240512-****'
    """
    key = redaction_key(settings) if settings.cpr_in_logs == "hash" else b""
    return Redactor(cpr_mode=settings.cpr_in_logs, key=key)


@functools.cache
def display_masker(*, clear: bool = False) -> Redactor:
    """Return the redactor for text a person reads: pages, reports, CLI lists.

    CPR numbers read ``DDMMYY-****`` (with ``clear``, they stay as they are) and the
    values of secret-looking keys are hidden either way. One shared instance per
    mode: register no secrets on it.

    Example:
        >>> display_masker().redact("No patient with CPR 2405129999")
        'No patient with CPR 240512-****'
    """
    return Redactor(cpr_mode="clear" if clear else "mask", key=b"")


def configure_logging(
    settings: Settings, *, redactor: Redactor, console_level: str | None = None
) -> None:
    """Set up structlog and stdlib logging: shared processors, redaction, console.

    The only function that calls :func:`structlog.configure`. Stdlib log records
    (Playwright, SQLAlchemy, APScheduler, uvicorn) pass through the same processors.
    The root logger gets one console handler on stderr, readable on a terminal and
    JSON otherwise. Calling it again replaces the earlier setup.

    Args:
        settings: the project settings; ``log_level`` is the console's default level.
        redactor: hides secrets and CPR numbers in every event.
        console_level: a level name that overrides ``settings.log_level`` on the
            console; run logs always get ``DEBUG``.

    Raises:
        ConfigurationError: ``console_level`` is not a level name.

    Example:
        >>> configure_logging(settings, redactor=build_redactor(settings))
        >>> structlog.get_logger().info("robot_started", robot="lab_results")
    """
    level = _level_number(console_level or settings.log_level)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redactor,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a module-level logger must follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    if _state.console is not None:
        root.removeHandler(_state.console)
        _state.console.close()
        _state.console = None
    _state.shared = tuple(shared)
    _state.console_level = level
    if sys.stderr is not None:  # None under pythonw and some Windows services
        _state.console = _console_handler(shared, level)
        root.addHandler(_state.console)
    root.setLevel(logging.DEBUG if _state.open_run_logs else level)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def run_log(path: Path) -> Iterator[Path]:
    """Write every event, at ``DEBUG`` and up, as JSON lines to ``path`` meanwhile.

    Missing parent folders are created readable by their owner only, and so is the
    file (on POSIX). The file is closed on exit; each run gets only its own events,
    provided runs in one process follow one another (one worker = one process).

    Args:
        path: the run's ``events.jsonl``; appended to if it exists.

    Yields:
        ``path``.

    Raises:
        ConfigurationError: :func:`configure_logging` was not called first.

    Example:
        >>> with run_log(settings.logs / "lab_results" / run_id / "events.jsonl"):
        ...     run_robot()
    """
    if not _state.shared or not structlog.is_configured():
        raise ConfigurationError(
            "call robotlib.logs.configure_logging() before run_log(): the run log "
            "needs its processors (redaction above all)"
        )
    _make_private_dirs(path.parent)
    _touch_private(path)
    handler = logging.FileHandler(path, encoding="utf-8", errors="backslashreplace")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(
        ProcessorFormatter(
            processors=[
                ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=_state.shared,
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    _state.open_run_logs += 1
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        _state.open_run_logs -= 1
        if not _state.open_run_logs:
            root.setLevel(_state.console_level)
        root.removeHandler(handler)
        handler.close()


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the events of an ``events.jsonl``, one dict per line.

    Blank lines are skipped. A line that is not a JSON object (say, cut short when
    a worker was killed) yields ``{"event": "unreadable_line", "line": N, ...}``
    instead of stopping the reading.

    Raises:
        OSError: the file cannot be opened.

    Example:
        >>> [event["event"] for event in read_events(run_dir / "events.jsonl")]
        ['run_started', 'item_done', 'run_finished']
    """
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError as exc:
                error = str(exc)
            else:
                if isinstance(event, dict):
                    yield event
                    continue
                error = f"a JSON {type(event).__name__}, not an object"
            yield {
                "event": "unreadable_line",
                "line": number,
                "error": error,
                "text": line.rstrip("\r\n")[:200],
            }


# Private API ----------------------------------------------------------------------


@dataclass
class _LoggingState:
    """What configure_logging set up, for run_log and for the next configuration."""

    shared: tuple[Processor, ...] = ()
    console: logging.Handler | None = None
    console_level: int = logging.INFO
    open_run_logs: int = 0


_state = _LoggingState()


def _level_number(name: str) -> int:
    number = logging.getLevelNamesMapping().get(name.upper())
    if number is None:
        raise ConfigurationError(
            f"unknown log level {name!r}: use DEBUG, INFO, WARNING or ERROR"
        )
    return number


def _console_handler(shared: list[Processor], level: int) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    renderer: Processor
    if sys.stderr.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    handler.setFormatter(
        ProcessorFormatter(
            processors=[ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    handler.setLevel(level)
    return handler


def _make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each readable by the owner only."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=0o700, exist_ok=True)
        if os.name == "posix":
            os.chmod(created, 0o700)


def _touch_private(path: Path) -> None:
    """Create ``path`` if missing and make it readable by its owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(descriptor)
    if os.name == "posix":
        os.chmod(path, 0o600)


def _create_key_file(path: Path) -> None:
    """Write a new key so that concurrent workers all end up with the same one."""
    _make_private_dirs(path.parent)
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    _touch_private(draft)
    draft.write_text(secrets.token_hex(32), encoding="ascii")
    try:
        os.link(draft, path)
    except FileExistsError:
        return  # another worker was first: keep theirs (finally removes the draft)
    except OSError:  # a file system without hard links
        if not path.exists():
            os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
