"""The exception tree of robotlib.

```
RobotlibError
├─ ConfigurationError         bad settings, robot or input: `rpa` exits 2
│  ├─ BrowserNotFoundError    no Chromium to launch; says what to install
│  ├─ RobotDefinitionError    a robot file is invalid; names file and line
│  ├─ CredentialsError        a system missing from credentials, unsafe file mode
│  └─ InputError              an input file is unusable; names file/sheet/row/column
├─ BusinessRuleError          the data is wrong, or the case is not for a robot:
│                             never retried, goes to the exception queue
├─ ApplicationError           the target system misbehaved: retried after a restart
│  ├─ TargetSystemError       the system answered wrongly (HTTP 500, login refused)
│  └─ StepTimeoutError        a step waited too long
├─ QueueError                 the work queue refused an operation
│  ├─ ItemNotFoundError
│  ├─ LeaseLostError          the item is no longer leased to this worker
│  └─ InvalidTransitionError  the item's state does not allow the operation
└─ NotifyError                a notifier (command, e-mail) could not deliver
```

Whether an item is retried depends only on the branch: a ``BusinessRuleError`` never
is; every other exception (an ``ApplicationError``, a Playwright timeout, a bug) is a
system exception and is retried within the robot's retry policy.

Which is which, by example:

- "No patient with CPR 010101-xxxx in EPJ", "value 99 is outside the plausible range",
  "already registered with another value": ``BusinessRuleError``. A person must look.
- "HTTP 500", "the login page did not load", "element #value not found", "browser
  crashed": ``ApplicationError`` (or any other exception). Trying again may work.

Each error falls back to its class docstring as its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "ApplicationError",
    "BrowserNotFoundError",
    "BusinessRuleError",
    "ConfigurationError",
    "CredentialsError",
    "InputError",
    "InvalidTransitionError",
    "ItemNotFoundError",
    "LeaseLostError",
    "NotifyError",
    "QueueError",
    "RobotDefinitionError",
    "RobotlibError",
    "StepTimeoutError",
    "TargetSystemError",
]


class RobotlibError(Exception):
    """Something went wrong in robotlib."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


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


class RobotDefinitionError(ConfigurationError):
    """A robot definition is invalid."""

    def __init__(self, message: str, *, file: Path | str, line: int | None = None):
        self.file = str(file)
        self.line = line
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {message}")


class CredentialsError(ConfigurationError):
    """The credentials are missing or unsafe."""


class InputError(ConfigurationError):
    """An input file cannot be used.

    Attributes name where the problem is, as far as it is known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | str,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file, self.sheet, self.row, self.column = str(file), sheet, row, column
        where = [f"file {self.file}"]
        if sheet is not None:
            where.append(f"sheet {sheet!r}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class BusinessRuleError(RobotlibError):
    """The item breaks a business rule; a person must look at it."""

    def __init__(self, message: str | None = None, *, code: str | None = None):
        self.code = code
        super().__init__(message)


class ApplicationError(RobotlibError):
    """The application misbehaved; the item may succeed when tried again."""


class TargetSystemError(ApplicationError):
    """The target system answered with an error."""


class StepTimeoutError(ApplicationError):
    """A step waited longer than its timeout."""


class QueueError(RobotlibError):
    """The work queue refused the operation."""


class ItemNotFoundError(QueueError, KeyError):
    """No work item has that id."""

    def __init__(self, item_id: int) -> None:
        self.item_id = item_id
        super().__init__(f"no work item with id {item_id}")

    def __str__(self) -> str:
        return self.message


class LeaseLostError(QueueError):
    """The item is no longer leased to this worker."""

    def __init__(self, item_id: int, owner: str) -> None:
        self.item_id, self.owner = item_id, owner
        super().__init__(f"work item {item_id} is not leased to {owner}")


class InvalidTransitionError(QueueError):
    """The item's state does not allow that operation."""

    def __init__(self, item_id: int, state: str, action: str) -> None:
        self.item_id, self.state, self.action = item_id, state, action
        super().__init__(f"work item {item_id} is {state}: cannot {action} it")


class NotifyError(RobotlibError):
    """A notification could not be delivered."""
