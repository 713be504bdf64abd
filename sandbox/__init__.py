"""The sandbox clinical system: a practice EPJ that robots are developed against.

It binds to 127.0.0.1, keeps its own SQLite database of fictitious patients, and has
what robots meet in real clinical systems: logins with session expiry, searches,
validated forms behind spinners, notice dialogs, paginated lists with exports, uploads
and fault injection.
"""

from sandbox.app import create_app
from sandbox.config import Faults, SandboxConfig
from sandbox.server import SandboxServer

__all__ = ["Faults", "SandboxConfig", "SandboxServer", "create_app"]
