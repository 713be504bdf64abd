"""The screen as pictures: grabbing it, and finding a reference image on it.

Private to the desktop steps, which check that there is a display first.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image, ImageGrab, UnidentifiedImageError, features

from robotlib.errors import ApplicationError, ConfigurationError

__all__ = [
    "VISION_EXTRA",
    "Box",
    "grab_screen",
    "is_flat",
    "load_image",
    "locate",
    "require_opencv",
    "save_screenshot",
]

VISION_EXTRA = 'pip install "robotlib[vision]"'


class Box(NamedTuple):
    """A rectangle on the screen, in pixels."""

    left: int
    top: int
    width: int
    height: int

    @property
    def center(self) -> tuple[int, int]:
        """The point in the middle of the box, where a click lands."""
        return self.left + self.width // 2, self.top + self.height // 2


def require_opencv() -> None:
    """Raise the ImportError naming the extra when OpenCV is not installed."""
    try:
        importlib.import_module("cv2")
    except ImportError as exc:
        raise ImportError(
            "Matching images with a confidence needs OpenCV: "
            f"{VISION_EXTRA}, or leave out confidence for an exact match"
        ) from exc


def is_flat(image: Image.Image) -> bool:
    """Whether every pixel of the image has the same colour."""
    extrema: Any = image.getextrema()
    return all(low == high for low, high in extrema)


def load_image(path: Path) -> Image.Image:
    """Read a reference image as RGB; a missing or broken file is a clear error."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise ConfigurationError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigurationError(f"not an image file: {path} ({exc})") from None


def locate(
    needle: Image.Image, haystack: Image.Image, confidence: float | None
) -> Box | None:
    """Where the needle is in the haystack: exactly, or as close as ``confidence``."""
    if confidence is None:
        return _locate_exactly(needle, haystack)
    return _locate_with_opencv(needle, haystack, confidence)


def _locate_exactly(needle: Image.Image, haystack: Image.Image) -> Box | None:
    """The first place (top to bottom, left to right) where every pixel matches.

    pyscreeze's own exact search reads Pillow's ``getdata``, deprecated (removed in
    Pillow 14), and copies the screen into a million tuples per look. This compares
    bytes instead: it finds the needle's most varied row in each screen row with
    ``bytes.find``, then checks the other rows at that place.
    """
    width, height = needle.size
    screen_width, screen_height = haystack.size
    if width > screen_width or height > screen_height:
        return None
    row_size, screen_row_size = width * 3, screen_width * 3
    pixels, screen = needle.tobytes(), haystack.tobytes()
    rows = [pixels[y * row_size : (y + 1) * row_size] for y in range(height)]
    anchor = max(range(height), key=lambda y: len(set(rows[y][0::3])))
    for top in range(screen_height - height + 1):
        line_start = (top + anchor) * screen_row_size
        line_end = line_start + screen_row_size
        found = screen.find(rows[anchor], line_start, line_end)
        while found != -1:
            offset = found - line_start
            if offset % 3 == 0 and all(
                screen[start : start + row_size] == row
                for y, row in enumerate(rows)
                for start in [(top + y) * screen_row_size + offset]
            ):
                return Box(offset // 3, top, width, height)
            found = screen.find(rows[anchor], found + 1, line_end)
    return None


def _locate_with_opencv(
    needle: Image.Image, haystack: Image.Image, confidence: float
) -> Box | None:
    """The best match by normalised cross-correlation, if it is close enough."""
    cv2 = importlib.import_module("cv2")
    numpy = importlib.import_module("numpy")
    scores = cv2.matchTemplate(
        numpy.asarray(haystack), numpy.asarray(needle), cv2.TM_CCOEFF_NORMED
    )
    _, best, _, (left, top) = cv2.minMaxLoc(scores)
    if not best >= confidence:  # also when the score is NaN
        return None
    return Box(int(left), int(top), *needle.size)


def grab_screen() -> Image.Image:
    """The whole screen: Pillow's grab, or scrot on an X server Pillow cannot read."""
    if not sys.platform.startswith("linux"):
        return ImageGrab.grab().convert("RGB")
    reason = "Pillow was built without X11 (XCB) support"
    if features.check("xcb"):
        try:
            return ImageGrab.grab().convert("RGB")
        except (OSError, subprocess.CalledProcessError) as exc:
            reason = f"Pillow could not grab the screen ({exc})"
    scrot = shutil.which("scrot")
    if scrot is None:
        raise ConfigurationError(
            f"Cannot take a screenshot: {reason} and scrot is not installed. "
            "Install it: sudo apt-get install scrot"
        )
    with tempfile.TemporaryDirectory() as folder:
        shot = Path(folder) / "screen.png"
        done = subprocess.run(
            [scrot, "-z", str(shot)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise ApplicationError(f"scrot could not take a screenshot: {message}")
        with Image.open(shot) as image:
            return image.convert("RGB")


def save_screenshot(path: Path) -> Path:
    """Save the whole screen as a PNG at ``path``, creating its folder."""
    image = grab_screen()
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path
