"""scripts/ensure-browser.sh: keeps a found browser, or stops saying what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-browser.sh"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="the setup script needs bash")


def _fake_bin(tmp_path: Path, *, rpa: str, uid: str) -> Path:
    """A PATH holding a fake `rpa` and `id`, and no apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"rpa": rpa, "id": f"echo {uid}"}.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def _run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BASH), str(SCRIPT), str(bin_dir)],
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_found_browser_is_kept(tmp_path: Path) -> None:
    """When `rpa browser` finds a Chromium the script installs nothing and succeeds."""
    bin_dir = _fake_bin(tmp_path, rpa="echo 'Chromium: /usr/bin/chromium'", uid="0")
    result = _run(bin_dir)
    assert 0 == result.returncode
    assert "Chromium: /usr/bin/chromium" in result.stdout
    assert "apt-get" not in result.stdout


def test_without_root_it_stops_with_what_to_install(tmp_path: Path) -> None:
    """Without a browser and without root the script exits 1 with the advice."""
    advice = "No Chromium browser was found. sudo apt-get install chromium"
    bin_dir = _fake_bin(tmp_path, rpa=f"echo '{advice}' >&2; exit 2", uid="1000")
    result = _run(bin_dir)
    assert 1 == result.returncode
    assert advice in result.stderr
    assert "cannot install one here" in result.stderr
