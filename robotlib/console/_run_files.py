"""The files of a run folder: listing them for the pages, serving one safely.

A run writes its event log, screenshots, Playwright traces and report into
``<logs>/<robot>/<run id>/``. The pages list them with :func:`run_artifacts` and
:func:`item_artifact`, and the web layer serves one only through
:func:`run_file`, which refuses any path (absolute, ``..``, a symbolic link)
that leads outside the run folder, and any run folder outside the logs folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

from robotlib.console._records import Artifact, ArtifactKind
from robotlib.project import Project
from robotlib.queue.models import Run, WorkItem

__all__ = ["find_run", "item_artifact", "run_artifacts", "run_file"]

_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


def find_run(project: Project, run_id: str) -> Run:
    """Return the run with this id or unique prefix; refuse an empty id.

    Raises:
        KeyError: the id is blank, no run has it, or the prefix is ambiguous.

    Example:
        >>> find_run(project, "20261122T01").robot  # doctest: +SKIP
        'lab_results'
    """
    if not run_id.strip():
        raise KeyError("no run '': give a run id")
    return project.find_run(run_id)


def run_file(project: Project, run_id: str, relative: str) -> Path:
    """Return the file ``relative`` of a run's folder, refusing any way out of it.

    The web layer serves screenshots and downloads through this function only.

    Args:
        project: the project.
        run_id: the run's id (or a unique prefix).
        relative: a path inside the run folder, ``/``-separated
            (``item-7-attempt-1-lab.png``).

    Returns:
        The file's resolved path, inside the run folder.

    Raises:
        KeyError: no such run.
        ValueError: the path is empty, absolute, holds ``..``, or leads (through a
            symbolic link) outside the run folder, or the run folder lies outside
            the project's logs.
        FileNotFoundError: there is no such file.

    Example:
        >>> run_file(project, run.id, "report.xlsx")  # doctest: +SKIP
        PosixPath('/srv/rpa/logs/lab_results/20261122T010000Z-3f9a1c/report.xlsx')
    """
    run = find_run(project, run_id)
    parts = _relative_parts(relative)
    folder = project.run_dir(run)
    try:
        root = folder.resolve(strict=True)
    except OSError:
        raise FileNotFoundError(f"run {run.id} has no folder") from None
    if not root.is_relative_to(project.settings.logs.resolve()):
        raise ValueError(f"the folder of run {run.id} lies outside the logs folder")
    try:
        target = root.joinpath(*parts).resolve(strict=True)
    except OSError:
        raise FileNotFoundError(f"run {run.id} has no file {relative!r}") from None
    if not target.is_relative_to(root):
        raise ValueError(f"{relative!r} leads outside the folder of run {run.id}")
    if not target.is_file():
        raise FileNotFoundError(f"{relative!r} of run {run.id} is not a file")
    return target


def run_artifacts(
    folder: Path, logs: Path, run_id: str, items: Sequence[WorkItem]
) -> list[Artifact]:
    """List the files of a run folder worth showing, each tied to its item if recorded.

    Screenshots, traces, ``report.xlsx`` and ``events.jsonl`` are listed, in path
    order; other files, and links that lead out of the folder, are left out.

    Args:
        folder: the run folder.
        logs: the project's logs folder (items record artifacts relative to it).
        run_id: the run the files belong to.
        items: the run's items, to tie each recorded artifact to its item.

    Example:
        >>> files = run_artifacts(folder, logs, run.id, items)  # doctest: +SKIP
        >>> [(f.kind, f.path, f.item_id) for f in files][:1]  # doctest: +SKIP
        [('screenshot', 'item-7-attempt-1-lab.png', 7)]
    """
    if not folder.is_dir():
        return []
    owners: dict[str, int] = {}
    for item in items:
        for recorded in item.artifacts:
            owners[recorded] = item.id
    root = folder.resolve()
    prefix = folder.relative_to(logs).as_posix() if folder.is_relative_to(logs) else ""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        kind = _kind(relative)
        if kind == "file" or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            continue  # a link out of the folder: run_file would refuse it
        found.append(
            Artifact(run_id, str(relative), kind, owners.get(f"{prefix}/{relative}"))
        )
    return found


def item_artifact(project: Project, item: WorkItem, recorded: str) -> Artifact:
    """Return an item's artifact, recorded relative to the logs folder.

    ``recorded`` reads ``robot/run id/file``; one that does not (or holds ``..``)
    comes back with no run and ``exists`` False, so the page shows it unlinked.

    Example:
        >>> found = item_artifact(project, item, item.artifacts[0])  # doctest: +SKIP
        >>> found.path, found.kind, found.exists  # doctest: +SKIP
        ('item-7-attempt-1-lab.png', 'screenshot', True)
    """
    parts = PurePosixPath(recorded).parts
    if len(parts) < 3 or parts[0] != item.robot or ".." in parts:
        return Artifact(None, recorded, _kind(PurePosixPath(recorded)), item.id, False)
    run_id, relative = parts[1], "/".join(parts[2:])
    path = project.settings.logs.joinpath(*parts)
    return Artifact(
        run_id, relative, _kind(PurePosixPath(relative)), item.id, path.is_file()
    )


# Private API ----------------------------------------------------------------------


def _kind(path: PurePosixPath) -> ArtifactKind:
    name = path.name.lower()
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        return "screenshot"
    if name.endswith(".zip"):
        return "trace"
    if name == "report.xlsx":
        return "report"
    if name == "events.jsonl":
        return "log"
    return "file"


def _relative_parts(relative: str) -> tuple[str, ...]:
    """The parts of a safe relative path; refuse absolute paths and ``..``."""
    if not relative or "\x00" in relative:
        raise ValueError("a file of a run needs a relative path")
    windows = PureWindowsPath(relative)
    if relative.startswith(("/", "\\")) or windows.drive or windows.is_absolute():
        raise ValueError(f"{relative!r} is an absolute path; give one inside the run")
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if not parts or ".." in parts:
        raise ValueError(f"{relative!r} leads outside the run folder")
    return parts
