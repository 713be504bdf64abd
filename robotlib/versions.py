"""Which code a run ran: robotlib's version, the robot file's SHA-256, the git commit.

Recorded on every run (``rpa runs show``, the console's run and item pages), so
that a registration in a patient's record can be traced to the exact robot that
made it: the file's hash names its bytes even where the project is no git
checkout, or has changes not yet committed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CodeVersion", "code_version"]

#: How long ``git rev-parse`` may take before the commit is left unknown.
_GIT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class CodeVersion:
    """The code of a run.

    Attributes:
        robotlib_version: robotlib's version (``0.1.0``).
        robot_sha256: the SHA-256 of the robot's file, in hex.
        git_commit: the commit checked out where the robot's file is, or "" when
            it is in no git checkout (or git is not installed).
    """

    robotlib_version: str = ""
    robot_sha256: str = ""
    git_commit: str = ""


def code_version(robot_file: Path) -> CodeVersion:
    """The code version of a run of the robot in ``robot_file``."""
    from robotlib import __version__

    digest = hashlib.sha256(robot_file.read_bytes()).hexdigest()
    return CodeVersion(__version__, digest, _git_commit(robot_file.parent))


def _git_commit(folder: Path) -> str:
    git = shutil.which("git")
    if git is None:
        return ""
    try:
        found = subprocess.run(
            [git, "-C", str(folder), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    commit = found.stdout.strip()
    return commit if found.returncode == 0 and len(commit) == 40 else ""
