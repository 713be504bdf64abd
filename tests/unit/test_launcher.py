"""The browser launcher: where it looks, in what order, what it says when it fails."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robotlib import launcher
from robotlib.errors import BrowserNotFoundError, ConfigurationError
from robotlib.settings import Settings


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_system_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide every system Chromium from the launcher."""
    monkeypatch.setattr(launcher, "_HEADLESS_ONLY_PATHS", ())
    monkeypatch.setattr(launcher, "_WINDOWS_PATHS", ())
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)


def test_configured_path_wins(tmp_path: Path) -> None:
    """RPA_BROWSER_PATH is used before Playwright's and the system's browsers."""
    chrome = _executable(tmp_path / "chrome")
    playwright_chrome = _executable(tmp_path / "pw-chrome")
    found = launcher.find_chromium(
        settings=Settings(browser_path=chrome),
        playwright_executable=str(playwright_chrome),
    )
    assert launcher.ChromiumBinary("settings", chrome) == found


def test_configured_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    """A configured browser path that is not a file is refused, naming the path."""
    missing = tmp_path / "no-such-chrome"
    with pytest.raises(ConfigurationError, match="no-such-chrome"):
        launcher.find_chromium(settings=Settings(browser_path=missing))


def test_playwright_browser_comes_before_the_system(tmp_path: Path) -> None:
    """Playwright's own Chromium is used where it is installed."""
    playwright_chrome = _executable(tmp_path / "chrome")
    found = launcher.find_chromium(
        settings=Settings(), playwright_executable=str(playwright_chrome)
    )
    assert launcher.ChromiumBinary("playwright", None) == found
    assert "Playwright's own Chromium" == found.describe()


def test_headless_shell_is_preferred_when_headless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_system_browser: None
) -> None:
    """Debian's chromium-headless-shell comes before chromium, but only headless."""
    shell = _executable(tmp_path / "chromium-headless-shell")
    full = _executable(tmp_path / "chromium")
    monkeypatch.setattr(launcher, "_HEADLESS_ONLY_PATHS", (str(shell),))
    monkeypatch.setattr(
        launcher.shutil, "which", lambda name: str(full) if name == "chromium" else None
    )
    settings = Settings()
    assert shell == launcher.find_chromium(settings=settings, headless=True).path
    assert full == launcher.find_chromium(settings=settings, headless=False).path


def test_no_browser_names_every_place_and_what_to_install(
    tmp_path: Path, no_system_browser: None
) -> None:
    """Without any Chromium the error lists where it looked and what to install."""
    with pytest.raises(BrowserNotFoundError) as caught:
        launcher.find_chromium(
            settings=Settings(), playwright_executable=str(tmp_path / "pw" / "chrome")
        )
    message = str(caught.value)
    for expected in (
        "RPA_BROWSER_PATH",
        str(tmp_path / "pw" / "chrome"),
        "chromium-headless-shell",
        "google-chrome",
        "apt-get install chromium-headless-shell chromium",
        "python -m playwright install chromium",
    ):
        assert expected in message


def _rpa_browser(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `rpa browser` in its own process, as a user would."""
    rpa = Path(sys.executable).with_name("rpa")
    return subprocess.run(
        [str(rpa), "browser"],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_rpa_browser_without_a_browser_exits_2_with_the_message(
    tmp_path: Path,
) -> None:
    """`rpa browser` prints the install advice (no traceback) and exits 2."""
    missing = tmp_path / "no-such-chrome"
    result = _rpa_browser({"RPA_BROWSER_PATH": str(missing)})
    assert 2 == result.returncode
    assert f"RPA_BROWSER_PATH is {missing}, which is not a file" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_rpa_browser_names_the_configured_browser(tmp_path: Path) -> None:
    """`rpa browser` reports the browser it would launch."""
    chrome = _executable(tmp_path / "chrome")
    result = _rpa_browser({"RPA_BROWSER_PATH": str(chrome)})
    assert 0 == result.returncode
    assert f"Chromium: {chrome} (settings)" in result.stdout


def test_launch_without_a_browser_raises_our_error(no_system_browser: None) -> None:
    """launch_chromium raises BrowserNotFoundError, not a Playwright error."""

    class FakeChromium:
        executable_path = "/nonexistent/chrome"

        def launch(self, **kwargs: object) -> None:
            raise AssertionError("launch must not be reached without a browser")

    class FakePlaywright:
        chromium = FakeChromium()

    with pytest.raises(BrowserNotFoundError):
        launcher.launch_chromium(
            FakePlaywright(),  # type: ignore[arg-type]
            settings=Settings(),
        )


SIGNALLED_ROBOT = """\
import signal, sys, time
from robotlib.launcher import launch_chromium, start_playwright
from robotlib.settings import Settings

asked = []
for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, lambda signum, frame: asked.append(signum))
playwright = start_playwright()
browser = launch_chromium(playwright, settings=Settings())
page = browser.new_page()
page.set_content("<p>before</p>")
print("ready", flush=True)
while len(asked) < 2:
    time.sleep(0.05)
time.sleep(1)  # what a driver that took the signals would need to be gone
page.set_content("<p>after the signals</p>")
print(page.inner_text("p"), flush=True)
browser.close()
playwright.stop()
"""


@pytest.mark.browser
def test_ctrl_c_and_sigterm_reach_the_robot_not_its_browser(tmp_path: Path) -> None:
    """Ctrl+C to the process group, SIGTERM to the robot: the browser stays open.

    A terminal's Ctrl+C goes to every process of the foreground group; Playwright's
    driver would exit on it, taking the browser along in the middle of an item. The
    scheduler sends SIGTERM to the robot's process alone.
    """
    script = tmp_path / "robot.py"
    script.write_text(SIGNALLED_ROBOT, "utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert "ready" == process.stdout.readline().strip()

    os.killpg(process.pid, signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)

    assert 0 == process.returncode, output
    assert "after the signals" in output
