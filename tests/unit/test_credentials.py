"""Tests of robotlib.credentials: file, environment, keyring and redaction."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from robotlib.credentials import Credentials
from robotlib.errors import CredentialsError
from robotlib.logs import Redactor
from robotlib.settings import Settings

SANDBOX = """
[sandbox]
url = "http://127.0.0.1:8765"
username = "robot"
password = "robot-pass-1"
"""

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

Write = Callable[..., Settings]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Return a factory writing credentials.toml (mode 0o600) and returning settings."""

    def make(text: str = SANDBOX, *, mode: int = 0o600, **settings: object) -> Settings:
        path = tmp_path / "credentials.toml"
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        return Settings(project_dir=tmp_path, **settings)  # type: ignore[arg-type]

    return make


def test_file_is_read(write: Write) -> None:
    """A system's table becomes its credentials, the password a SecretStr."""
    sandbox = Credentials.load(write(), environ={}).get("sandbox")

    assert ("http://127.0.0.1:8765", "robot") == (sandbox.url, sandbox.username)
    assert sandbox.password is not None
    assert "robot-pass-1" == sandbox.password.get_secret_value()
    assert {} == sandbox.extra


@posix_only
def test_file_readable_by_others_is_refused(write: Write) -> None:
    """A 0o644 file is refused, naming the file, its mode and the chmod fix."""
    settings = write(mode=0o644)

    with pytest.raises(CredentialsError) as caught:
        Credentials.load(settings, environ={})

    path = settings.credentials_path
    assert f"{path} has mode 0o644" in str(caught.value)
    assert f"chmod 600 {path}" in str(caught.value)


@posix_only
def test_private_file_is_accepted(write: Write) -> None:
    """A 0o600 file is accepted."""
    assert ["sandbox"] == Credentials.load(write(mode=0o600), environ={}).systems()


def test_environment_wins_over_file(write: Write) -> None:
    """An RPA_CRED_ variable replaces the file's value of that field."""
    environ = {"RPA_CRED_SANDBOX_PASSWORD": "from-env", "PATH": "/bin"}

    sandbox = Credentials.load(write(), environ=environ).get("sandbox")

    assert sandbox.password is not None
    assert "from-env" == sandbox.password.get_secret_value()
    assert "robot" == sandbox.username


def test_environment_only_system(tmp_path: Path) -> None:
    """A system may come from the environment alone, and answers to its dashed name."""
    environ = {
        "RPA_CRED_LAB_PORTAL_URL": "https://lab.example",
        "RPA_CRED_LAB_PORTAL_USERNAME": "robot",
        "RPA_CRED_LAB_PORTAL_API_TOKEN": "t-123",
    }

    credentials = Credentials.load(Settings(project_dir=tmp_path), environ=environ)

    lab = credentials.get("lab_portal")
    assert ["lab_portal"] == credentials.systems()
    assert ("https://lab.example", "robot") == (lab.url, lab.username)
    assert ["api_token"] == list(lab.extra)
    assert "t-123" == lab.extra["api_token"].get_secret_value()  # type: ignore[union-attr]
    assert lab is credentials.get("lab-portal")


def test_environment_only_system_with_extras_only(tmp_path: Path) -> None:
    """A system known only by extra fields is found when asked for by name."""
    environ = {"RPA_CRED_ARCHIVE_API_TOKEN": "t-9"}

    archive = Credentials.load(Settings(project_dir=tmp_path), environ=environ).get(
        "archive"
    )

    assert ["api_token"] == list(archive.extra)
    assert archive.password is None


def test_environment_override_of_a_dashed_extra(write: Write) -> None:
    """A variable overrides a file field written with a dash, keeping its name."""
    settings = write(SANDBOX + 'client-secret = "file"\n')
    environ = {"RPA_CRED_SANDBOX_CLIENT_SECRET": "env"}

    sandbox = Credentials.load(settings, environ=environ).get("sandbox")

    assert ["client-secret"] == list(sandbox.extra)
    assert "env" == sandbox.extra["client-secret"].get_secret_value()  # type: ignore[union-attr]


def test_longer_system_name_owns_its_variables(write: Write) -> None:
    """RPA_CRED_LAB_PORTAL_* belongs to [lab_portal], not to [lab]."""
    settings = write('[lab]\nurl = "a"\n[lab_portal]\nurl = "b"\n')
    environ = {"RPA_CRED_LAB_PORTAL_URL": "c"}

    credentials = Credentials.load(settings, environ=environ)

    assert ("a", "c") == (credentials.get("lab").url, credentials.get("lab_portal").url)
    assert {} == credentials.get("lab").extra


def test_missing_system_names_file_table_and_variables(write: Write) -> None:
    """Asking for an unknown system names the file, the table and the variables."""
    settings = write()

    with pytest.raises(CredentialsError) as caught:
        Credentials.load(settings, environ={}).get("epj")

    message = str(caught.value)
    assert str(settings.credentials_path) in message
    assert "[epj] with url, username and password" in message
    for variable in (
        "RPA_CRED_EPJ_URL",
        "RPA_CRED_EPJ_USERNAME",
        "RPA_CRED_EPJ_PASSWORD",
    ):
        assert variable in message
    assert "Systems with credentials: sandbox." in message


def test_missing_file_is_fine_until_a_system_is_asked_for(tmp_path: Path) -> None:
    """Without a file, loading works and asking says the file does not exist."""
    credentials = Credentials.load(Settings(project_dir=tmp_path), environ={})

    assert [] == credentials.systems()
    with pytest.raises(CredentialsError, match="does not exist"):
        credentials.get("sandbox")


def test_unknown_keys_are_kept_in_extra(write: Write) -> None:
    """Extra fields are kept; those named like secrets become SecretStr."""
    settings = write(
        SANDBOX + 'tenant = "north"\nclient_secret = "s3"\napi_key = "k9"\n'
    )

    sandbox = Credentials.load(settings, environ={}).get("sandbox")

    assert "north" == sandbox.extra["tenant"]
    assert "s3" == sandbox.extra["client_secret"].get_secret_value()  # type: ignore[union-attr]
    assert "k9" == sandbox.extra["api_key"].get_secret_value()  # type: ignore[union-attr]


def test_repr_shows_no_secret(write: Write) -> None:
    """Neither the password nor secret extras appear in repr or str."""
    settings = write(SANDBOX + 'client_secret = "s3cret-x"\n')
    credentials = Credentials.load(settings, environ={})
    sandbox = credentials.get("sandbox")

    for text in (repr(sandbox), str(sandbox), repr(credentials)):
        assert "robot-pass-1" not in text
        assert "s3cret-x" not in text
    assert "'sandbox'" in repr(credentials)


def test_secrets_are_registered_with_the_redactor(write: Write) -> None:
    """Passwords and secret extras are hidden in logs; plain fields are not."""
    settings = write(SANDBOX + 'tenant = "north"\napi_token = "tok-77"\n')
    redactor = Redactor(cpr_mode="clear", key=b"")

    Credentials.load(
        settings, environ={"RPA_CRED_EPJ_PASSWORD": "epj-pw"}, redactor=redactor
    )

    assert "***" == redactor.redact("robot-pass-1")
    assert "*** ***" == redactor.redact("tok-77 epj-pw")
    assert "north robot" == redactor.redact("north robot")


def test_invalid_toml_names_file_and_line(write: Write) -> None:
    """A TOML syntax error names the file and the parser's line and column."""
    settings = write('[sandbox]\nurl = "x"\npassword = robot\n')

    with pytest.raises(CredentialsError) as caught:
        Credentials.load(settings, environ={})

    assert str(settings.credentials_path) in str(caught.value)
    assert "line 3" in str(caught.value)


def test_wrong_type_names_file_and_key_but_not_value(write: Write) -> None:
    """A number where text belongs names the file and key, never the value."""
    settings = write("[sandbox]\nusername = 'robot'\npassword = 987654\n")

    with pytest.raises(CredentialsError) as caught:
        Credentials.load(settings, environ={})

    message = str(caught.value)
    assert str(settings.credentials_path) in message
    assert "[sandbox] password must be text in quotes" in message
    assert "987654" not in message


def test_value_outside_a_table_is_refused(write: Write) -> None:
    """A key above every table is refused with a hint to put it in one."""
    with pytest.raises(CredentialsError, match="not inside a table"):
        Credentials.load(write('password = "x"\n' + SANDBOX), environ={})


def fake_keyring(passwords: dict[tuple[str, str], str]) -> SimpleNamespace:
    """Return a stand-in for the keyring module holding the given passwords."""
    return SimpleNamespace(
        get_password=lambda service, username: passwords.get((service, username))
    )


def test_keyring_marker_reads_the_os_keyring(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """password = "keyring" takes the password from robotlib:<system> in the keyring."""
    keyring = fake_keyring({("robotlib:epj", "robot"): "from-keyring"})
    monkeypatch.setitem(sys.modules, "keyring", keyring)
    settings = write('[epj]\nusername = "robot"\npassword = "keyring"\n')
    redactor = Redactor(cpr_mode="clear", key=b"")

    epj = Credentials.load(settings, environ={}, redactor=redactor).get("epj")

    assert epj.password is not None
    assert "from-keyring" == epj.password.get_secret_value()
    assert "***" == redactor.redact("from-keyring")
    assert "keyring" == redactor.redact("keyring")


def test_use_keyring_fills_missing_passwords(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With use_keyring on, a system without a password gets it from the keyring."""
    keyring = fake_keyring({("robotlib:epj", "robot"): "kr"})
    monkeypatch.setitem(sys.modules, "keyring", keyring)
    settings = write('[epj]\nusername = "robot"\n' + SANDBOX, use_keyring=True)

    credentials = Credentials.load(settings, environ={})

    assert "kr" == credentials.get("epj").password.get_secret_value()  # type: ignore[union-attr]
    assert (
        "robot-pass-1" == credentials.get("sandbox").password.get_secret_value()  # type: ignore[union-attr]
    )


def test_keyring_without_entry_names_service_and_user(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyring that has no such password says which service and user it lacks."""
    monkeypatch.setitem(sys.modules, "keyring", fake_keyring({}))
    settings = write('[epj]\nusername = "robot"\npassword = "keyring"\n')

    with pytest.raises(CredentialsError) as caught:
        Credentials.load(settings, environ={}).get("epj")

    assert "'robot'" in str(caught.value)
    assert "'robotlib:epj'" in str(caught.value)


def test_missing_keyring_package_names_the_extra(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the keyring package the error says which extra to install."""
    monkeypatch.setitem(sys.modules, "keyring", None)
    settings = write('[epj]\nusername = "robot"\npassword = "keyring"\n')

    with pytest.raises(CredentialsError) as caught:
        Credentials.load(settings, environ={}).get("epj")

    assert 'pip install "robotlib[keyring]"' in str(caught.value)


def test_keyring_needs_a_username(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyring password without a username is refused, naming the system."""
    monkeypatch.setitem(sys.modules, "keyring", fake_keyring({}))
    settings = write('[epj]\npassword = "keyring"\n')

    with pytest.raises(CredentialsError, match=r"\[epj\].*needs a username"):
        Credentials.load(settings, environ={}).get("epj")


def test_use_keyring_leaves_token_only_systems_alone(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With use_keyring on, a system without username asks the keyring nothing."""
    monkeypatch.setitem(sys.modules, "keyring", None)
    settings = write('[archive]\napi_token = "t-1"\n', use_keyring=True)

    archive = Credentials.load(settings, environ={}).get("archive")

    assert archive.password is None


def test_find_is_none_only_for_a_system_without_credentials(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """find: None for an unknown system; one from the env found; a broken one raises."""
    monkeypatch.setitem(sys.modules, "keyring", fake_keyring({}))
    settings = write('[epj]\nusername = "robot"\npassword = "keyring"\n' + SANDBOX)
    environ = {"RPA_CRED_LEGACY_LAB_STORE": "/srv/lab.jsonl"}
    credentials = Credentials.load(settings, environ=environ)

    assert credentials.find("nowhere") is None
    assert credentials.find("sandbox") == credentials.get("sandbox")
    lab = credentials.find("legacy_lab")
    assert lab is not None and {"store": "/srv/lab.jsonl"} == lab.extra
    with pytest.raises(CredentialsError, match="keyring"):
        credentials.find("epj")  # there, but its password is not: not "optional"
    with pytest.raises(CredentialsError, match=r"no credentials for system 'nowhere'"):
        credentials.get("nowhere")
