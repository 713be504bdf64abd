"""Desktop steps driving the legacy lab client on a private Xvfb display."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from robotlib.errors import ApplicationError, ConfigurationError, StepTimeoutError
from robotlib.steps import _screen, desktop
from robotlib.steps.desktop import NO_DISPLAY, Box, DesktopSession
from sandbox.legacy_client import ERROR_COLOUR, TITLE, Registration, validate

# Where the client's parts are on the screen (its window is fixed at +40+40).
HEADING = Box(left=52, top=52, width=180, height=22)
SAVE_BUTTON = Box(left=186, top=210, width=100, height=24)
STATUS_LINE = (40, 245, 460, 270)
GUI_MODULES = {"pyautogui", "mouseinfo"}


def registration(**fields: object) -> dict[str, object]:
    """A stored record with the fields of one valid registration, overridden."""
    record: dict[str, object] = {
        "id": "LAB-1",
        "cpr": "010190-1234",
        "test_code": "NPU02319",
        "value": 8.4,
        "unit": "mmol/L",
    }
    record.update(fields)
    return record


def fill_form(cpr: str, test_code: str, value: str, unit: str) -> None:
    """Type the four fields, moving on with Tab as an operator would."""
    desktop.fill_fields([cpr, test_code, value, unit])


def cut_image(box: Box, path: Path) -> Path:
    """Save the part of the current screen inside ``box`` as a PNG reference image."""
    shot = desktop.screenshot(path.with_name("screen.png"))
    with Image.open(shot) as screen:
        left, top, width, height = box
        screen.crop((left, top, left + width, top + height)).save(path)
    return path


def wait_for_status_colour(colour: str, tmp_path: Path, timeout_s: float = 10.0) -> int:
    """Poll screenshots until the status line shows text in ``colour``; count pixels."""
    wanted = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    deadline = time.monotonic() + timeout_s
    while True:
        with Image.open(desktop.screenshot(tmp_path / "status.png")) as screen:
            status = screen.convert("RGB").crop(STATUS_LINE)
            colours = status.getcolors(status.width * status.height) or []
            found = sum(count for count, pixel in colours if pixel == wanted)
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


# The client, typed into --------------------------------------------------------------


def test_typed_registrations_are_stored_exactly(legacy_client: Any) -> None:
    """Two registrations typed with Tab and Enter / Ctrl+S are stored as typed."""
    desktop.fill_fields(["010190-1234", "NPU02319", "8,4", "mmol/L"], then="enter")
    fill_form("241299-4321", "npu18016", "87", "µmol/L")
    desktop.hotkey("ctrl", "s")

    lines = legacy_client.records(2)

    expected = [
        registration(),
        registration(
            id="LAB-2",
            cpr="241299-4321",
            test_code="NPU18016",
            value=87.0,
            unit="µmol/L",
        ),
    ]
    assert expected == [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    ("cpr", "test_code", "value"),
    [
        ("0101901234", "NPU02319", "8,4"),
        ("010190-1234", "NPU99999", "8,4"),
        ("010190-1234", "NPU02319", "high"),
    ],
    ids=["cpr", "test-code", "value"],
)
def test_invalid_input_shows_red_message_and_stores_nothing(
    legacy_client: Any, tmp_path: Path, cpr: str, test_code: str, value: str
) -> None:
    """Invalid input turns the status line red and registers nothing."""
    fill_form(cpr, test_code, value, "mmol/L")
    desktop.press("enter")

    red_pixels = wait_for_status_colour(ERROR_COLOUR, tmp_path)

    assert red_pixels > 0
    assert [] == legacy_client.lines()


def test_click_image_clicks_the_save_button(legacy_client: Any, tmp_path: Path) -> None:
    """click_image finds the Save button cut from a screenshot and presses it."""
    button = cut_image(SAVE_BUTTON, tmp_path / "save.png")
    fill_form("010190-1234", "NPU02319", "8.4", "mmol/L")

    clicked = desktop.click_image(button, timeout_s=5)

    assert SAVE_BUTTON == clicked
    assert [registration()] == [json.loads(line) for line in legacy_client.records(1)]


def test_validate_names_each_problem() -> None:
    """The client's validation returns the record, or the message for what is wrong."""
    form = {"cpr": "010190-1234", "test_code": "npu02319", "value": "8,4", "unit": ""}

    assert Registration("010190-1234", "NPU02319", 8.4, "") == validate(form)
    assert "CPR must be DDMMYY-SSSS" == validate({**form, "cpr": "320190-1234"})
    assert "Unknown test code" == validate({**form, "test_code": "X"})
    assert "Value must be a number" == validate({**form, "value": "8,4,1"})


# Images and screenshots ---------------------------------------------------------------


def test_wait_for_image_finds_a_cut_out(legacy_client: Any, tmp_path: Path) -> None:
    """wait_for_image returns where an image cut from the screen is."""
    heading = cut_image(HEADING, tmp_path / "heading.png")

    found = desktop.wait_for_image(heading, timeout_s=5)

    assert HEADING == found


def test_wait_for_image_times_out_naming_the_image(
    display: Any, tmp_path: Path
) -> None:
    """An image that never shows ends in StepTimeoutError naming the file."""
    absent = tmp_path / "absent.png"
    pattern = Image.new("RGB", (12, 12), "#123456")
    pattern.putpixel((5, 5), (250, 1, 99))
    pattern.save(absent)

    with pytest.raises(StepTimeoutError) as raised:
        desktop.wait_for_image(absent, timeout_s=0.3, interval_s=0.05)

    assert str(absent) in str(raised.value)


def test_wait_for_image_refuses_a_missing_file(display: Any, tmp_path: Path) -> None:
    """A reference image that does not exist is a configuration error naming it."""
    missing = tmp_path / "missing.png"

    with pytest.raises(ConfigurationError) as raised:
        desktop.wait_for_image(missing, timeout_s=0.1)

    assert f"image file not found: {missing}" == str(raised.value)


def test_screenshot_writes_a_png_of_the_screen(display: Any, tmp_path: Path) -> None:
    """screenshot saves a PNG of the whole screen, creating its folder."""
    written = desktop.screenshot(tmp_path / "shots" / "screen.png")

    with Image.open(written) as image:
        assert ("PNG", (1024, 768)) == (image.format, image.size)


def test_session_screenshot_for_the_engine(display: Any, tmp_path: Path) -> None:
    """DesktopSession is an application whose screenshot is the whole screen."""
    session = DesktopSession()

    written = session.screenshot(tmp_path / "failure.png")

    assert (tmp_path / "failure.png", "desktop") == (written, session.name)


def test_confidence_without_opencv_names_the_extra(
    display: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A confidence without OpenCV installed says which extra to install."""
    monkeypatch.setitem(sys.modules, "cv2", None)

    with pytest.raises(ImportError) as raised:
        desktop.click_image(tmp_path / "button.png", confidence=0.9)

    assert 'pip install "robotlib[vision]"' in str(raised.value)


# Windows and programs -----------------------------------------------------------------


def test_window_exists_by_exact_title(legacy_client: Any) -> None:
    """window_exists sees the client's window by its exact title, and only that."""
    assert (True, False, False) == (
        desktop.window_exists(TITLE),
        desktop.window_exists("Legacy Lab"),
        desktop.window_exists("Legacy.Lab.Client"),
    )


def test_window_exists_by_title_prefix(legacy_client: Any) -> None:
    """With prefix, window_exists matches the start of a title, taken literally."""
    assert (True, True, False, False) == (
        desktop.window_exists("Legacy Lab", prefix=True),
        desktop.window_exists(TITLE, prefix=True),
        desktop.window_exists("Lab Client", prefix=True),
        desktop.window_exists("Legacy.Lab", prefix=True),
    )


def test_wait_for_window_by_prefix_returns_the_whole_title(legacy_client: Any) -> None:
    """wait_for_window with prefix returns the title the client shows after a save."""
    fill_form("010190-1234", "NPU02319", "8,4", "mmol/L")
    desktop.press("enter")

    title = desktop.wait_for_window(f"{TITLE} - ", prefix=True, timeout_s=10)

    assert f"{TITLE} - Saved as LAB-1" == title


def test_title_shows_a_refusal_and_escape_starts_a_new_entry(
    legacy_client: Any,
) -> None:
    """A refusal shows in the title; Escape clears the form, the title and the focus."""
    fill_form("010190-1234", "NPU99999", "8,4", "mmol/L")
    desktop.press("enter")
    refused = desktop.wait_for_window(f"{TITLE} - ", prefix=True, timeout_s=10)
    desktop.press("esc")
    ready = desktop.wait_for_window(TITLE, timeout_s=10)
    fill_form("010190-1234", "NPU02319", "8,4", "mmol/L")
    desktop.press("enter")
    saved = desktop.wait_for_window(f"{TITLE} - Saved", prefix=True, timeout_s=10)

    expected = (
        f"{TITLE} - Error: Unknown test code",
        TITLE,
        f"{TITLE} - Saved as LAB-1",
    )
    assert expected == (refused, ready, saved)
    assert [registration()] == [json.loads(line) for line in legacy_client.lines()]


def test_wait_for_window_by_prefix_times_out_saying_so(display: Any) -> None:
    """A title start that never shows ends in StepTimeoutError naming the prefix."""
    with pytest.raises(StepTimeoutError) as raised:
        desktop.wait_for_window("No such program", prefix=True, timeout_s=0.2)

    expected = (
        "no window with a title starting with 'No such program' appeared within 0.2 s"
    )
    assert expected == str(raised.value)


def test_close_ends_the_launched_program(legacy_client: Any) -> None:
    """Closing the session ends the client and its window goes away."""
    session = legacy_client.session
    process = session.processes[0]

    session.close()

    assert (False, False) == (process.poll() is None, desktop.window_exists(TITLE))


def test_launch_reports_a_program_that_ends_early(display: Any) -> None:
    """A program ending before its window shows is an ApplicationError with output."""
    session = DesktopSession()
    argv = [sys.executable, "-c", "import sys; sys.exit('no licence server')"]

    with pytest.raises(ApplicationError) as raised:
        session.launch(argv, window_title="Never", timeout_s=10)

    assert "exit code 1" in str(raised.value)
    assert "no licence server" in str(raised.value)


def test_launch_times_out_without_the_window(display: Any) -> None:
    """A program whose window never shows ends in StepTimeoutError; close ends it."""
    session = DesktopSession()
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]

    with pytest.raises(StepTimeoutError):
        session.launch(argv, window_title="Never", timeout_s=0.3)
    process = session.processes[0]
    session.close()

    assert process.poll() is not None


# Errors -------------------------------------------------------------------------------


def test_no_display_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without DISPLAY every step says how to get a display, not a KeyError."""
    monkeypatch.delenv("DISPLAY", raising=False)
    calls = [
        lambda: desktop.type_text("x"),
        lambda: desktop.press("tab"),
        lambda: desktop.click(1, 1),
        lambda: desktop.screenshot(tmp_path / "s.png"),
        lambda: desktop.window_exists(TITLE),
    ]

    messages = []
    for call in calls:
        with pytest.raises(ConfigurationError) as raised:
            call()
        messages.append(str(raised.value))

    assert [NO_DISPLAY] * len(calls) == messages


def test_missing_xauthority_says_how_to_fix_it(
    display: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyautogui's import failing on a missing XAUTHORITY file names file and fix."""
    missing = tmp_path / "no-such-Xauthority"
    monkeypatch.setenv("XAUTHORITY", str(missing))
    loaded = [name for name in sys.modules if name.split(".")[0] in GUI_MODULES]
    for name in loaded:
        monkeypatch.delitem(sys.modules, name)

    with pytest.raises(ConfigurationError) as raised:
        desktop.press("tab")

    assert str(missing) in str(raised.value)
    assert "create_xauthority()" in str(raised.value)


def test_create_xauthority_makes_a_private_empty_file(tmp_path: Path) -> None:
    """create_xauthority creates an empty owner-only file and keeps an existing one."""
    path = desktop.create_xauthority(tmp_path / "x" / "Xauthority")
    path.write_bytes(b"cookie")

    again = desktop.create_xauthority(path)

    assert (path, b"cookie") == (again, again.read_bytes())
    if sys.platform != "win32":
        assert 0o600 == path.stat().st_mode & 0o777


def test_unknown_key_name_is_refused(display: Any) -> None:
    """A misspelt key name is an error instead of pyautogui's silent no-op."""
    with pytest.raises(ConfigurationError) as raised:
        desktop.press("tab", "entr")

    assert "unknown key name(s) 'entr'" in str(raised.value)


def test_fill_fields_refuses_an_unknown_key_before_typing(legacy_client: Any) -> None:
    """A misspelt ``then`` key is refused before any field is typed or saved."""
    with pytest.raises(ConfigurationError) as raised:
        desktop.fill_fields(["010190-1234", "NPU02319", "8,4", "mmol/L"], then="entr")
    desktop.press("enter")  # the form is still empty: nothing to save

    assert "unknown key name(s) 'entr'" in str(raised.value)
    title = desktop.wait_for_window(f"{TITLE} - ", prefix=True, timeout_s=10)
    assert title.startswith(f"{TITLE} - Error: ")
    assert [] == legacy_client.lines()


def test_failsafe_corner_stops_the_steps(display: Any) -> None:
    """With the mouse pushed into a screen corner, the next step fails saying why."""
    subprocess.run(["xdotool", "mousemove", "0", "0"], check=True)
    try:
        with pytest.raises(ApplicationError) as raised:
            desktop.press("tab")
    finally:
        subprocess.run(["xdotool", "mousemove", "512", "384"], check=True)

    assert "fail-safe" in str(raised.value)


def test_untypable_text_is_refused_before_typing(
    legacy_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without xdotool, text with µ is refused whole, so no half value is typed."""
    with monkeypatch.context() as patch, pytest.raises(ConfigurationError) as raised:
        patch.setattr(shutil, "which", lambda name: None)
        desktop.type_text("01µ")
    fill_form("010190-1234", "NPU02319", "8,4", "mmol/L")
    desktop.press("enter")

    assert "Cannot type 'µ'" in str(raised.value)
    assert [registration()] == [json.loads(line) for line in legacy_client.records(1)]


def test_screenshot_falls_back_to_scrot(
    display: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where Pillow cannot read the X screen, the screenshot comes from scrot."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    scrot = fake_bin / "scrot"
    scrot.write_text(
        f"#!{sys.executable}\n"
        "import sys\nfrom PIL import Image\n"
        "Image.new('RGB', (64, 48), '#010203').save(sys.argv[-1])\n"
    )
    scrot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(_screen.features, "check", lambda feature: False)

    written = desktop.screenshot(tmp_path / "screen.png")

    with Image.open(written) as image:
        assert ((64, 48), (1, 2, 3)) == (image.size, image.getpixel((0, 0)))


def test_screenshot_without_any_way_names_scrot(
    display: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Pillow's X grab and without scrot, the error says what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_screen.features, "check", lambda feature: False)

    with pytest.raises(ConfigurationError) as raised:
        desktop.screenshot(tmp_path / "screen.png")

    assert "sudo apt-get install scrot" in str(raised.value)
