"""The exception tree of robotlib.

```
RobotlibError
└─ ConfigurationError        bad settings, robot definition or input; `rpa` exits 2
   └─ BrowserNotFoundError   no Chromium to launch; says what to install
```

Every error builds its message in ``__init__`` from structured attributes, and falls
back to its class docstring when no message is given.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["BrowserNotFoundError", "ConfigurationError", "RobotlibError"]


class RobotlibError(Exception):
    """Something went wrong in robotlib."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigurationError(RobotlibError):
    """The configuration is invalid."""


class BrowserNotFoundError(ConfigurationError):
    """No Chromium browser could be found."""

    def __init__(self, *, looked_for: Sequence[str]) -> None:
        self.looked_for = list(looked_for)
        lines = [
            "No Chromium browser was found. Looked for:",
            *(f"  - {place}" for place in self.looked_for),
            "Install one of these:",
            "  - Debian/Ubuntu:  sudo apt-get install chromium-headless-shell chromium",
            "  - any system:     python -m playwright install chromium",
            "  - or point RPA_BROWSER_PATH at a Chrome, Chromium or Edge executable.",
        ]
        super().__init__("\n".join(lines))
