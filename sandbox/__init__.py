"""The sandbox clinical system: a practice EPJ that robots are developed against.

It binds to 127.0.0.1, keeps its own SQLite database of fictitious patients, and has
what robots meet in real clinical systems: logins with session expiry, searches,
validated forms behind spinners, notice dialogs, paginated lists with exports, uploads
and fault injection. ``sandbox.legacy_client`` is a small desktop (Tk) lab client.

The web app's names load on first use, so the desktop client starts without FastAPI.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.app import create_app
    from sandbox.config import Faults, SandboxConfig
    from sandbox.server import SandboxServer

__all__ = ["Faults", "SandboxConfig", "SandboxServer", "create_app"]

_HOMES = {
    "Faults": "sandbox.config",
    "SandboxConfig": "sandbox.config",
    "SandboxServer": "sandbox.server",
    "create_app": "sandbox.app",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
