"""Finding robots in a project's ``robots/`` folder, and reporting what is wrong.

``robots/`` is a Python package (its ``__init__.py`` may be empty), so mypy and
editors follow its imports. Every ``robots/*.py`` whose name does not start with
``_`` is imported as a module of it; each :class:`~robotlib.robot.Robot` it defines
at module level is a robot. Files starting with ``_`` are helpers robots import
relatively (``from ._epj import open_patient``). Nothing is added to ``sys.path``;
each discovery imports the files afresh.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from robotlib.errors import ConfigurationError, RobotDefinitionError
from robotlib.robot import Robot
from robotlib.validation import field_problem, field_problems

__all__ = ["LoadedRobot", "Problem", "discover", "load_robot"]

#: The name robots/ is imported under: private, so that it cannot shadow a
#: ``robots`` package of the project's own.
PACKAGE = "_rpa_robots"


@dataclass(frozen=True)
class LoadedRobot:
    """A robot and the file that declares it."""

    robot: Robot[Any]
    file: Path


@dataclass(frozen=True)
class Problem:
    """Something wrong with a robot file, where it is, and what to do."""

    file: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.message}"


def discover(robots_dir: Path) -> tuple[dict[str, LoadedRobot], list[Problem]]:
    """Import every robot file; return the robots by name and the problems found."""
    robots: dict[str, LoadedRobot] = {}
    problems: list[Problem] = []
    if not robots_dir.is_dir():
        return robots, [Problem(robots_dir, None, "there is no robots folder here")]
    for path in sorted(robots_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        found, problem = _import(path, robots_dir)
        if problem is not None:
            problems.append(problem)
            continue
        if not found:
            problems.append(Problem(path, None, "defines no Robot(...)"))
        for robot in found:
            if robot.name in robots:
                other = robots[robot.name].file
                problems.append(
                    Problem(path, None, f"robot name {robot.name!r} is used by {other}")
                )
                continue
            robots[robot.name] = LoadedRobot(robot, path)
            if robot.source is None:
                problems.append(
                    Problem(path, None, f"robot {robot.name!r} has no source")
                )
    return robots, problems


def load_robot(robots_dir: Path, name: str) -> LoadedRobot:
    """Return one robot by name.

    Raises:
        RobotDefinitionError: the robot's file has a problem.
        ConfigurationError: no robot has that name; the message lists those there are.
    """
    path = robots_dir / f"{name}.py"
    if path.is_file():
        found, problem = _import(path, robots_dir)
        if problem is not None:
            raise RobotDefinitionError(problem.message, file=path, line=problem.line)
        for robot in found:
            if robot.name == name:
                return LoadedRobot(robot, path)
    robots, problems = discover(robots_dir)
    if name in robots:
        return robots[name]
    for problem in problems:
        if problem.file == path:
            raise RobotDefinitionError(problem.message, file=path, line=problem.line)
    known = ", ".join(sorted(robots)) or "none"
    raise ConfigurationError(
        f"no robot named {name!r} in {robots_dir} (robots there: {known})"
    )


def _import(path: Path, robots_dir: Path) -> tuple[list[Robot[Any]], Problem | None]:
    try:
        _fresh_package(robots_dir)
        module_name = f"{PACKAGE}.{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            return [], Problem(path, None, "cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        return [], Problem(path, exc.lineno, f"syntax error: {exc.msg}")
    except ValidationError as exc:
        return [], Problem(path, _line_in(exc, path), _validation_message(exc))
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        return [], Problem(path, _line_in(exc, path), message)
    robots = [value for value in vars(module).values() if isinstance(value, Robot)]
    return robots, None


def _fresh_package(robots_dir: Path) -> None:
    """Make ``robots_dir`` the package :data:`PACKAGE`, its modules not yet imported.

    Every import of a robot file starts afresh (a file edited since is read again),
    and a robot file's relative imports find the helpers beside it.
    """
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]
    init = robots_dir / "__init__.py"
    folder = [str(robots_dir.resolve())]
    spec = (
        importlib.util.spec_from_file_location(
            PACKAGE, init, submodule_search_locations=folder
        )
        if init.is_file()
        else None
    )
    if spec is None:  # a folder without __init__.py: a namespace package
        spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = folder
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    if spec.loader is not None:
        spec.loader.exec_module(package)


def _line_in(exc: BaseException, path: Path) -> int | None:
    """The line of ``path`` the exception passed through last."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    return line


def _validation_message(exc: ValidationError) -> str:
    parts = [field_problem(*problem) for problem in field_problems(exc)]
    return f"invalid {exc.title}: " + "; ".join(parts)
