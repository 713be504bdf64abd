"""Tests of robotlib.logs: redaction, structlog setup and run logs."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
import structlog

from robotlib.errors import ConfigurationError
from robotlib.logs import (
    Redactor,
    build_redactor,
    configure_logging,
    read_events,
    redaction_key,
    run_log,
)
from robotlib.settings import CprInLogs, Settings

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
CPR = "240512-4123"  # fictitious, well-formed: 24 May 2012
SECRET = "robot-pass-1"

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def make_redactor(mode: CprInLogs = "hash", key: bytes = KEY) -> Redactor:
    """Return a redactor that knows SECRET."""
    redactor = Redactor(cpr_mode=mode, key=key)
    redactor.add_secret(SECRET)
    return redactor


def lines_of(path: Path) -> list[dict[str, object]]:
    """Return the JSON objects of a JSON-lines file, failing on any other line."""
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


# Redactor as a processor -------------------------------------------------------------


def test_secret_is_masked() -> None:
    """A registered secret is replaced by *** wherever it appears in a value."""
    event = make_redactor()(None, "info", {"event": "login", "url": f"x?pw={SECRET}"})

    assert {"event": "login", "url": "x?pw=***"} == event


def test_longest_secret_wins() -> None:
    """When one secret contains another, the longer one is hidden whole."""
    redactor = make_redactor()
    redactor.add_secret("robot")

    assert "*** and ***" == redactor.redact(f"{SECRET} and robot")


def test_short_values_are_not_secrets() -> None:
    """Values under three characters are not registered, so logs stay readable."""
    redactor = make_redactor()
    redactor.add_secret("ab")
    redactor.add_secret("")

    assert "ab cd" == redactor.redact("ab cd")


def test_url_encoded_secret_is_masked() -> None:
    """A secret appears URL-encoded in form bodies and URLs, and is hidden there."""
    redactor = make_redactor()
    redactor.add_secret("p&ss word")

    assert "a=***&b=***" == redactor.redact("a=p%26ss%20word&b=p%26ss+word")


def test_cpr_hashed_consistently_with_one_key() -> None:
    """One CPR number gives one token with a key, with or without the dash."""
    redactor = make_redactor()

    first = redactor.redact(f"patient {CPR}")
    second = make_redactor().redact("patient 2405124123")

    assert first == second
    assert first.startswith("patient cpr:")
    assert len("patient cpr:") + 10 == len(first)
    assert "4123" not in first


def test_a_token_redacted_again_stays_the_same() -> None:
    """Redacting twice (a stored message, then its log line) keeps the token.

    Found as a flaky preflight test: a digest of nine digits and one letter,
    like ``cpr:5973a70536``, looked like a mistyped CPR number and was hashed again.
    """
    redactor = make_redactor()
    tokens = [f"cpr:{n:09d}"[:8] + "a" + f"{n:09d}"[-5:] for n in range(20)]
    tokens += ["cpr:5973a70536", "cpr:a123456789", "cpr:123456789b"]
    for token in tokens:
        assert redactor.redact(f"patient {token}") == f"patient {token}"
    # and a real mistyped number is still hashed
    assert redactor.redact("patient 2202O94002").startswith("patient cpr:")
    once = redactor.redact(f"patient {CPR} and 2202O94002")
    assert redactor.redact(once) == once


def test_cpr_hashed_differently_with_another_key() -> None:
    """Another project key gives another token for the same CPR number."""
    assert make_redactor().redact(CPR) != make_redactor(key=OTHER_KEY).redact(CPR)


def test_different_cpr_numbers_get_different_tokens() -> None:
    """Two patients are told apart by their tokens."""
    redactor = make_redactor()

    assert redactor.redact(CPR) != redactor.redact("240512-4124")


def test_mask_mode() -> None:
    """Mask mode keeps the birth date and hides the serial."""
    event = make_redactor("mask")(None, "info", {"cpr": "2405124123", "n": CPR})

    assert {"cpr": "240512-****", "n": "240512-****"} == event


def test_clear_mode() -> None:
    """Clear mode leaves CPR numbers as they are but still hides secrets."""
    redactor = make_redactor("clear", b"")

    assert f"{CPR} ***" == redactor.redact(f"{CPR} {SECRET}")


def test_ten_digits_without_a_real_date_are_untouched() -> None:
    """Order numbers and timestamps (ten bare digits, no real date) stay readable."""
    text = "order 9912319999, ts 1763793600, 3102991234, 12345678901"

    assert text == make_redactor().redact(text)


def test_secret_inside_nested_dict_and_keys() -> None:
    """Secrets and CPR numbers are found in nested containers, keys included."""
    redactor = make_redactor("mask")
    value = {"form": {"fields": [SECRET, (CPR,)]}, CPR: {"ok"}}

    expected = {"form": {"fields": ["***", ("240512-****",)]}, "240512-****": {"ok"}}
    assert expected == redactor.redact_value(value)


def test_secret_inside_exception_text() -> None:
    """An exception logged as a value becomes its redacted text."""
    event = make_redactor("mask")(
        None, "error", {"error": ValueError(f"login {SECRET} for {CPR} refused")}
    )

    assert {"error": "login *** for 240512-**** refused"} == event


def test_secret_like_keys_are_masked() -> None:
    """A value under a key such as password or api_token is hidden unregistered."""
    event = make_redactor()(
        None, "info", {"password": "typed-in", "api_token": "t0k", "user": "robot"}
    )

    assert {"password": "***", "api_token": "***", "user": "robot"} == event


def test_other_objects_are_kept_unless_they_leak() -> None:
    """Objects pass through unless their repr holds something to hide."""
    path = Path("reports") / f"{CPR}.xlsx"
    event = make_redactor("mask")(None, "info", {"n": 3, "ok": True, "path": path})

    assert 3 == event["n"]
    assert event["ok"] is True
    assert CPR not in event["path"]
    assert "240512-****.xlsx" in event["path"]


def test_hash_mode_needs_a_key() -> None:
    """Hashing without a key would be guessable, so it is refused."""
    with pytest.raises(ValueError, match="key"):
        Redactor(cpr_mode="hash", key=b"")


# The key and the redactor from settings ----------------------------------------------


def test_redaction_key_is_created_once(tmp_path: Path) -> None:
    """The key is made on first use and read back unchanged afterwards."""
    settings = Settings(project_dir=tmp_path)

    first = redaction_key(settings)

    assert 32 == len(first)
    assert first == redaction_key(settings)
    assert [] == [p.name for p in settings.state_dir.iterdir() if p.name != "log-key"]


@posix_only
def test_redaction_key_is_private(tmp_path: Path) -> None:
    """The key file and the state folder are readable by their owner only."""
    settings = Settings(project_dir=tmp_path)

    redaction_key(settings)

    assert 0o700 == stat.S_IMODE(settings.state_dir.stat().st_mode)
    assert 0o600 == stat.S_IMODE((settings.state_dir / "log-key").stat().st_mode)


def test_damaged_key_names_the_file(tmp_path: Path) -> None:
    """A damaged key file gives a ConfigurationError naming it."""
    settings = Settings(project_dir=tmp_path)
    settings.state_dir.mkdir()
    (settings.state_dir / "log-key").write_text("not hex")

    with pytest.raises(ConfigurationError, match="log-key"):
        redaction_key(settings)


def test_build_redactor_uses_the_project_key(tmp_path: Path) -> None:
    """Two redactors of one project hash a CPR number to the same token."""
    settings = Settings(project_dir=tmp_path, cpr_in_logs="hash")

    first = build_redactor(settings).redact(CPR)

    assert first == build_redactor(settings).redact(CPR)
    assert first.startswith("cpr:")


def test_build_redactor_in_mask_mode_makes_no_key(tmp_path: Path) -> None:
    """Mask mode needs no key, so no state folder is created for it."""
    settings = Settings(project_dir=tmp_path, cpr_in_logs="mask")

    assert "240512-****" == build_redactor(settings).redact(CPR)
    assert not settings.state_dir.exists()


# configure_logging and run_log ------------------------------------------------------


def configure(tmp_path: Path, mode: CprInLogs = "mask") -> Redactor:
    """Configure logging for a project in tmp_path and return its redactor."""
    settings = Settings(project_dir=tmp_path, cpr_in_logs=mode)
    redactor = build_redactor(settings)
    redactor.add_secret(SECRET)
    configure_logging(settings, redactor=redactor)
    return redactor


def test_structlog_and_stdlib_events_land_in_the_run_log(tmp_path: Path) -> None:
    """Both logging worlds reach events.jsonl as JSON with context, redacted."""
    configure(tmp_path)
    path = tmp_path / "logs" / "robot" / "run-1" / "events.jsonl"

    with (
        run_log(path),
        structlog.contextvars.bound_contextvars(run_id="run-1", robot="lab"),
    ):
        structlog.get_logger("robotlib.engine").info("item_done", cpr=CPR)
        logging.getLogger("playwright").warning("login with %s failed", SECRET)

    first, second = lines_of(path)
    assert {"event": "item_done", "cpr": "240512-****", "level": "info"}.items() <= (
        first.items()
    )
    assert {
        "event": "login with *** failed",
        "level": "warning",
        "logger": "playwright",
    }.items() <= second.items()
    for event in (first, second):
        assert ("run-1", "lab") == (event["run_id"], event["robot"])
        assert str(event["timestamp"]).endswith("Z")


def test_run_log_gets_debug_whatever_the_console_level(tmp_path: Path) -> None:
    """The run log records DEBUG events even when the console shows only INFO."""
    configure(tmp_path)
    path = tmp_path / "events.jsonl"

    with run_log(path):
        structlog.get_logger().debug("detail", n=1)
    structlog.get_logger().debug("after_the_run")

    assert ["detail"] == [event["event"] for event in lines_of(path)]
    assert logging.INFO == logging.getLogger().level


def test_console_level_filters_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console gets JSON off a terminal, at the chosen level, redacted."""
    settings = Settings(project_dir=tmp_path, cpr_in_logs="mask")
    configure_logging(
        settings, redactor=build_redactor(settings), console_level="warning"
    )

    structlog.get_logger().info("hidden")
    structlog.get_logger().warning("shown", cpr=CPR)

    lines = capsys.readouterr().err.splitlines()
    assert 1 == len(lines)
    assert {"event": "shown", "cpr": "240512-****"}.items() <= json.loads(
        lines[0]
    ).items()


def test_configure_twice_adds_no_second_console(tmp_path: Path) -> None:
    """Configuring again replaces the console handler instead of adding one."""
    root = logging.getLogger()
    before = len(root.handlers)

    configure(tmp_path)
    configure(tmp_path)

    assert before + 1 == len(root.handlers)


def test_unknown_console_level_is_refused(tmp_path: Path) -> None:
    """A misspelt level gives a ConfigurationError naming it."""
    settings = Settings(project_dir=tmp_path, cpr_in_logs="mask")

    with pytest.raises(ConfigurationError, match="LOUD"):
        configure_logging(
            settings, redactor=build_redactor(settings), console_level="LOUD"
        )


def test_consecutive_run_logs_do_not_mix(tmp_path: Path) -> None:
    """Each of two runs in one process gets only its own events."""
    configure(tmp_path)
    log = structlog.get_logger()

    with run_log(tmp_path / "run-1" / "events.jsonl") as first:
        log.info("one")
    with run_log(tmp_path / "run-2" / "events.jsonl") as second:
        log.info("two")

    assert ["one"] == [event["event"] for event in lines_of(first)]
    assert ["two"] == [event["event"] for event in lines_of(second)]


@posix_only
def test_run_log_is_private(tmp_path: Path) -> None:
    """The run folders it creates and the events file are owner-only."""
    configure(tmp_path)
    path = tmp_path / "logs" / "robot" / "run-1" / "events.jsonl"

    with run_log(path):
        pass

    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    for folder in (path.parent, path.parent.parent, tmp_path / "logs"):
        assert 0o700 == stat.S_IMODE(folder.stat().st_mode)


def test_exception_traceback_is_redacted(tmp_path: Path) -> None:
    """log.exception writes the traceback as text, with secrets and CPR hidden."""
    configure(tmp_path)
    path = tmp_path / "events.jsonl"

    with run_log(path):
        try:
            raise RuntimeError(f"login {SECRET} for {CPR} failed")
        except RuntimeError:
            structlog.get_logger().exception("item_failed")

    (event,) = lines_of(path)
    assert "item_failed" == event["event"]
    assert "Traceback (most recent call last)" in str(event["exception"])
    assert "RuntimeError: login *** for 240512-**** failed" in str(event["exception"])
    assert SECRET not in path.read_text("utf-8")
    assert CPR not in path.read_text("utf-8")


def test_stdlib_exception_traceback_is_redacted(tmp_path: Path) -> None:
    """A library's logger.exception is redacted the same way."""
    configure(tmp_path)
    path = tmp_path / "events.jsonl"

    with run_log(path):
        try:
            raise OSError(SECRET)
        except OSError:
            logging.getLogger("sqlalchemy.pool").exception("pool error")

    (event,) = lines_of(path)
    assert "OSError: ***" in str(event["exception"])
    assert SECRET not in path.read_text("utf-8")


def test_run_log_keeps_non_ascii_text(tmp_path: Path) -> None:
    """Danish text is written as UTF-8, not as escapes."""
    configure(tmp_path)
    path = tmp_path / "events.jsonl"

    with run_log(path):
        structlog.get_logger().info("værdi_registreret", enhed="µmol/L")

    assert "værdi_registreret" in path.read_text("utf-8")


def test_run_log_needs_configure_logging(tmp_path: Path) -> None:
    """Without configure_logging a run log would not be redacted, so it refuses."""
    with (
        pytest.raises(ConfigurationError, match="configure_logging"),
        run_log(tmp_path / "events.jsonl"),
    ):
        pass


# read_events --------------------------------------------------------------------------


def test_read_events_skips_blanks_and_reports_bad_lines(tmp_path: Path) -> None:
    """Blank lines are skipped; bad lines become unreadable_line events."""
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "a"}\n\n{"event": "b"\n[1]\n{"event": "c"}\n', "utf-8")

    events = list(read_events(path))

    assert ["a", "unreadable_line", "unreadable_line", "c"] == [
        event["event"] for event in events
    ]
    assert [3, 4] == [event["line"] for event in events[1:3]]


def test_read_events_reads_a_run_log(tmp_path: Path) -> None:
    """What run_log writes, read_events reads back."""
    configure(tmp_path)
    path = tmp_path / "events.jsonl"

    with run_log(path), structlog.contextvars.bound_contextvars(run_id="r1"):
        structlog.get_logger().info("run_started", items=2)

    (event,) = read_events(path)
    assert ("run_started", 2, "r1") == (event["event"], event["items"], event["run_id"])


def test_cpr_shaped_number_with_impossible_date_is_still_hidden() -> None:
    """DDMMYY-SSSS with no such date (a typo) is hidden; bare ten digits are not."""
    redactor = Redactor(cpr_mode="mask", key=KEY)
    assert "310299-**** and 3102991234" == redactor.redact("310299-1234 and 3102991234")
