"""Guards on the house's rooms: the public surface, who imports whom, and sizes.

docs/architecture.md says the rules; these tests keep them. They read the source
with :mod:`ast`, so they see every import, also those inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import robotlib
import robotlib.steps

PACKAGE = Path(robotlib.__file__).parent
TESTS = Path(__file__).parents[1]

#: What robot authors import from ``robotlib``. Adding a name is a decision:
#: change this list, the README and CHANGELOG.md together.
PUBLIC = [
    "Application",
    "ApplicationError",
    "BusinessRuleError",
    "ConfigurationError",
    "Context",
    "Cpr",
    "InputError",
    "RetryPolicy",
    "Robot",
    "RobotlibError",
    "Row",
    "RowError",
    "Stage",
    "StepTimeoutError",
    "TargetSystemError",
    "step",
]

#: The rooms (packages, and the top-level modules that are rooms of their own).
ROOMS = (
    "cli",
    "console",
    "scheduler",
    "fleet",
    "workers",
    "project",
    "engine",
    "queue",
    "steps",
    "db",
)

#: Who may not import whom (docs/architecture.md, "Who may import whom"): a room
#: imports only rooms below it. The core modules (errors, settings, secrecy, logs,
#: cpr, validation, locales, retrying, robot, context, traces, workbooks) are below
#: every room.
#: The rooms above the engine: none of the rooms below may import them.
_ABOVE_ENGINE = ("cli", "console", "scheduler", "fleet", "workers", "project")
FORBIDDEN = {
    "robotlib.workbooks": ROOMS,
    "robotlib.traces": ROOMS,
    "robotlib.validation": ROOMS,
    "robotlib.secrecy": ROOMS,
    "robotlib.db": (*_ABOVE_ENGINE, "engine", "queue", "steps"),
    "robotlib.queue": (*_ABOVE_ENGINE, "engine", "steps"),
    "robotlib.steps": (*_ABOVE_ENGINE, "engine", "queue", "db"),
    "robotlib.engine": (*_ABOVE_ENGINE, "steps"),
    "robotlib.scheduler": ("cli", "console"),
    "robotlib.fleet": ("cli", "console", "scheduler"),
    "robotlib.workers": ("cli", "console", "scheduler", "fleet"),
    "robotlib.console": ("cli",),
}

#: Data every room may read: the queue's records (items, runs, states).
SHARED = ("robotlib.queue.models",)

MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield module_name(path), path, ast.parse(path.read_text("utf-8"))


def imported(name: str, path: Path, node: ast.AST) -> list[str]:
    """The robotlib modules (or names in them) an import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [f"{base}.{alias.name}" for alias in node.names]


def is_private_of_other_package(target: str, importer: str) -> bool:
    """``robotlib.<pkg>._x`` named from outside ``robotlib.<pkg>``."""
    parts = target.split(".")
    for index, part in enumerate(parts[2:], start=2):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:index])
            return importer != owner and not importer.startswith(owner + ".")
    return False


def test_the_public_surface_is_what_robot_authors_use() -> None:
    """robotlib exports the agreed names, each saying it lives in ``robotlib``."""
    assert PUBLIC == robotlib.__all__
    assert ["step"] == robotlib.steps.__all__
    for name in robotlib.__all__:
        public = getattr(robotlib, name)
        if isinstance(public, type) or hasattr(public, "__code__"):
            assert "robotlib" == public.__module__, name


def test_no_module_imports_another_packages_private_module() -> None:
    """``from robotlib.<pkg>._x import`` appears only inside ``robotlib.<pkg>``."""
    offences = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {target}"
        for name, path, tree in sources()
        for node in ast.walk(tree)
        for target in imported(name, path, node)
        if target.startswith("robotlib.") and is_private_of_other_package(target, name)
    ]
    assert [] == offences


def test_rooms_import_only_the_rooms_below_them() -> None:
    """The queue knows no engine, the engine no steps, nothing below the CLI the CLI."""
    offences = []
    for name, path, tree in sources():
        room = next(
            (r for r in FORBIDDEN if name == r or name.startswith(r + ".")), None
        )
        if room is None:
            continue
        banned = tuple(f"robotlib.{other}" for other in FORBIDDEN[room])
        offences += [
            f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {target}"
            for node in ast.walk(tree)
            for target in imported(name, path, node)
            if any(target == b or target.startswith(b + ".") for b in banned)
            and not any(target.startswith(s + ".") for s in SHARED)
        ]
    assert [] == offences


def top_level_imports(name: str, path: Path, tree: ast.Module) -> Iterator[str]:
    """Imports run when the module loads (not in functions, not TYPE_CHECKING)."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        yield from imported(name, path, node)
        pending.extend(ast.iter_child_nodes(node))


def test_no_import_cycle() -> None:
    """Loading a module never needs a module that needs it back."""
    modules = {name for name, _, _ in sources()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path, tree in sources():
        for target in top_level_imports(name, path, tree):
            while target and target not in modules:
                target = target.rpartition(".")[0]  # a name inside a module
            if target and target != name:
                graph[name].add(target)
    cycles = strongly_connected(graph)
    assert [] == [sorted(c) for c in cycles if len(c) > 1]


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (the graph is small, the stack is not)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_rooms_stay_small() -> None:
    """No module over 600 lines, no class over 400: one job per room."""
    too_big = []
    for _, path, tree in sources():
        where = path.relative_to(PACKAGE.parent)
        lines = len(path.read_text("utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{where}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    too_big.append(f"{where}: class {node.name}, {length} lines")
    assert [] == too_big


def test_tests_use_the_public_fake_clock() -> None:
    """One FakeClock, robotlib.testing's, not a copy per test folder."""
    copies = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if path != Path(__file__) and "class FakeClock" in path.read_text("utf-8")
    ]
    assert [] == copies


def test_the_guards_see_what_they_guard() -> None:
    """The readers above find the imports they are meant to judge."""
    tree = ast.parse("from robotlib.queue._rows import x\nfrom ._y import z\n")
    path = PACKAGE / "console" / "_app.py"
    found = [
        t for node in tree.body for t in imported("robotlib.console._app", path, node)
    ]
    assert ["robotlib.queue._rows.x", "robotlib.console._y.z"] == found
    assert is_private_of_other_package(
        "robotlib.queue._rows.x", "robotlib.console._app"
    )
    assert not is_private_of_other_package(
        "robotlib.queue._rows", "robotlib.queue.base"
    )
    assert not is_private_of_other_package(
        "robotlib._lease", "robotlib.steps._registry"
    )
    assert [{"a", "b"}, {"c"}] == [
        c for c in strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}})
    ]
