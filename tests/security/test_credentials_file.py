"""credentials.toml must be readable by its owner only, or it is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from robotlib.credentials import Credentials
from robotlib.errors import CredentialsError
from robotlib.settings import Settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

PASSWORD = "s3cret-Pa55word"


def _write(folder: Path, mode: int) -> Settings:
    path = folder / "credentials.toml"
    path.write_text(
        f'[sandbox]\nusername = "robot"\npassword = "{PASSWORD}"\n', encoding="utf-8"
    )
    path.chmod(mode)
    return Settings(project_dir=folder)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o666, 0o620])
def test_a_file_others_can_reach_is_refused(tmp_path: Path, mode: int) -> None:
    """Any group or other permission bit refuses the file, naming it and the fix."""
    settings = _write(tmp_path, mode)
    with pytest.raises(CredentialsError) as raised:
        Credentials.load(settings, environ={})
    message = str(raised.value)
    path = settings.credentials_path
    assert f"{path} has mode {mode:#o}" in message
    assert f"chmod 600 {path}" in message
    assert PASSWORD not in message


def test_owner_only_file_is_read(tmp_path: Path) -> None:
    """A 0o600, 0o400 or 0o700 file is read, and its password held as a secret."""
    for mode in (0o600, 0o400, 0o700):
        settings = _write(tmp_path, mode)
        sandbox = Credentials.load(settings, environ={}).get("sandbox")
        assert sandbox.password is not None
        assert PASSWORD == sandbox.password.get_secret_value()
        assert PASSWORD not in repr(sandbox)
