"""A robot project opened for work: settings, queue, log redaction, robots.

The CLI, the scheduler and the console open a project the same way and call the
same services; none of them holds business logic of its own.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from robotlib.credentials import Credentials
from robotlib.discovery import LoadedRobot, Problem, discover, load_robot
from robotlib.engine import Engine, RunObserver, run_started_at
from robotlib.errors import ConfigurationError
from robotlib.logs import Redactor, build_redactor
from robotlib.queue import QueueBackend, open_backend
from robotlib.queue.models import Run
from robotlib.settings import Settings
from robotlib.versions import code_version

__all__ = ["Project", "PurgeResult"]


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed."""

    run_folders: int
    items: int
    #: Output logs of scheduled preflights (``.rpa/firings/*.log``) removed.
    firing_logs: int = 0
    #: Playwright traces (``*.zip``) removed from run folders that were kept.
    traces: int = 0
    #: Input files uploaded in the console (``.rpa/uploads/``) removed.
    uploads: int = 0


@dataclass
class Project:
    """A robot project: the folder with ``robots/``, ``logs/``, ``rpa.toml``.

    Args:
        settings: the project's settings (``load_settings``).
        environ: the environment credentials may come from (the CLI passes
            ``os.environ``).
        input_stable_s: seconds an input file must stay unchanged before its
            engines read it (``rpa run --stable-for``; the scheduler passes the
            project's ``input_stable_s``).
    """

    settings: Settings
    environ: Mapping[str, str] = field(default_factory=dict)
    input_stable_s: float = 0.0

    @cached_property
    def redactor(self) -> Redactor:
        """Masks secrets and CPR numbers in logs and stored messages."""
        return build_redactor(self.settings)

    @cached_property
    def backend(self) -> QueueBackend:
        """The work queue and run records."""
        if self.settings.database_url is None:
            self.settings.state_dir.mkdir(parents=True, exist_ok=True)
            if os.name == "posix":
                self.settings.state_dir.chmod(0o700)
        return open_backend(self.settings.database)

    def close(self) -> None:
        """Release the database connections."""
        if "backend" in self.__dict__:
            self.backend.close()

    # Robots --------------------------------------------------------------------------

    def robots(self) -> tuple[dict[str, LoadedRobot], list[Problem]]:
        """Every robot of the project, and the problems found loading them."""
        return discover(self.settings.robots_dir)

    def robot(self, name: str) -> LoadedRobot:
        """One robot by name (raises ConfigurationError when it is not there)."""
        return load_robot(self.settings.robots_dir, name)

    def check_robot_name(self, name: str) -> None:
        """Refuse a name that is neither a robot here nor one the database knows.

        A robot whose file was removed still has its runs and items to review.

        Raises:
            ConfigurationError: the name is unknown; the message lists the robots.
        """
        robots, _ = discover(self.settings.robots_dir)
        if name in robots or self.backend.runs(name, limit=1):
            return
        if any(self.backend.counts(name).values()):
            return
        known = ", ".join(sorted(robots)) or "none"
        raise ConfigurationError(
            f"no robot named {name!r} in {self.settings.robots_dir} (robots there: "
            f"{known})"
        )

    def credentials(self) -> Credentials:
        """Load the credentials; their secrets join the redactor."""
        return Credentials.load(
            self.settings, environ=self.environ, redactor=self.redactor
        )

    def engine(
        self,
        name: str,
        *,
        observer: RunObserver | None = None,
        stop: threading.Event | None = None,
    ) -> Engine:
        """An engine to run robot ``name`` against this project's queue."""
        loaded = self.robot(name)
        return Engine(
            loaded.robot,
            version=code_version(loaded.file),
            settings=self.settings,
            backend=self.backend,
            redactor=self.redactor,
            credentials_loader=self.credentials,
            observer=observer,
            stop=stop,
            input_stable_s=self.input_stable_s,
        )

    # Runs and logs -------------------------------------------------------------------

    def run_dir(self, run: Run) -> Path:
        """The folder of a run's log, screenshots and report."""
        return self.settings.logs / run.robot / run.id

    def find_run(self, run_id: str) -> Run:
        """A run by its id or a unique prefix of it (raises KeyError)."""
        try:
            return self.backend.get_run(run_id)
        except KeyError:
            matches = [r for r in self.backend.runs() if r.id.startswith(run_id)]
            if len(matches) == 1:
                return matches[0]
            raise KeyError(
                f"no run {run_id!r}" if not matches else f"{run_id!r} is ambiguous"
            ) from None

    def purge(
        self, *, before: datetime, traces_before: datetime | None = None
    ) -> PurgeResult:
        """Delete what is older than ``before``: run folders (logs, screenshots,
        traces, reports), finished items and runs, and the output logs of
        scheduled preflights. The audit trail and waiting items are kept.

        Traces (``*.zip``, patient data in clear) last written before
        ``traces_before`` go from the run folders that are kept as well, and so do
        the input files uploaded in the console before then.
        """
        folders = 0
        traces = 0
        for folder in self.settings.logs.glob("*/*"):
            started = run_started_at(folder.name)
            if not folder.is_dir() or started is None:
                continue
            if started < before:
                shutil.rmtree(folder)
                folders += 1
            elif traces_before is not None:
                traces += _purge_traces(folder, traces_before)
        firing_logs = 0
        for path in (self.settings.state_dir / "firings").glob("*.log"):
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            if path.is_file() and modified < before:
                path.unlink()
                firing_logs += 1
        # Uploads hold patient data in clear, as traces do: they go with them.
        uploads = _purge_uploads(
            self.settings.state_dir / "uploads", traces_before or before
        )
        items = self.backend.purge(finished_before=before)
        return PurgeResult(
            run_folders=folders,
            items=items,
            firing_logs=firing_logs,
            traces=traces,
            uploads=uploads,
        )


def _purge_uploads(folder: Path, before: datetime) -> int:
    """Delete the console's uploads (``<time>-<sha256>/`` folders) from before."""
    gone = 0
    for upload in folder.glob("*-*"):
        started = run_started_at(upload.name)
        if upload.is_dir() and started is not None and started < before:
            shutil.rmtree(upload)
            gone += 1
    return gone


def _purge_traces(folder: Path, before: datetime) -> int:
    """Delete the traces (``*.zip``) in a run folder last written before ``before``."""
    gone = 0
    for path in folder.rglob("*.zip"):
        if path.is_symlink() or not path.is_file():
            continue  # a link is not the run's own trace
        if datetime.fromtimestamp(path.stat().st_mtime, UTC) < before:
            path.unlink()
            gone += 1
    return gone
