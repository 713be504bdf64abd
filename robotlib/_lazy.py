"""Names a package exports but imports only when first used (PEP 562).

A package's ``__init__`` keeps ``rpa --help`` and light imports light this way:

```python
__getattr__ = _lazy.lazy_exports(globals(), {"create_app": "robotlib.console._app"})
```
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: dict[str, Any], homes: Mapping[str, str], *, public: str | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing each name of ``homes`` from its module.

    Args:
        namespace: the package's ``globals()``; a name, once imported, is kept there.
        homes: each name → the module defining it.
        public: the module classes and functions should say they live in (their
            ``__module__``: ``robotlib.Robot``, not ``robotlib.robot.Robot``).
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        if public is not None and (
            isinstance(value, type) or (callable(value) and hasattr(value, "__code__"))
        ):
            value.__module__ = public
        namespace[name] = value
        return value

    return __getattr__
