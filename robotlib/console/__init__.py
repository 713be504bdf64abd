"""The operator web console (``rpa console``): the morning review in a browser.

Internal modules, one job each:

- ``_users``: roles, the user and session records, the name and password rules;
- ``_sessions``: session tokens (only their SHA-256 stored), lifetime, idle
  timeout, notices;
- ``_accounts``: the account store: users with argon2 password hashes, on top of
  the sessions;
- ``_login_limiter``: failed sign-ins per user and address (``limits``);
- ``_reports``: what the pages show, read from the queue, the run folders and the
  scheduler's records (no web code); it re-exports what the pages need from the
  modules below;
- ``_attention``: whether a run needs a look and why ("Needs attention");
- ``_timeline``: a run's event log as the run page's timeline;
- ``_records``: the frozen dataclasses the pages render;
- ``_masking``: CPR numbers masked and secrets hidden on every page, and a
  reference search that cannot reveal a masked number;
- ``_run_files``: the files of a run folder, listed for the pages and served
  without a way out of the folder;
- ``_chart``: the dashboard's items-per-night chart as inline SVG;
- ``_security``: session cookies, roles, CSRF tokens, response headers;
- ``_app``: the pages and form actions (FastAPI, Jinja2 templates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robotlib import _lazy
from robotlib.console._users import (
    MIN_PASSWORD_LENGTH,
    Role,
    User,
    check_name,
    check_password,
)

if TYPE_CHECKING:
    from robotlib.console._accounts import AccountStore
    from robotlib.console._app import create_app

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AccountStore",
    "Role",
    "User",
    "check_name",
    "check_password",
    "create_app",
]


#: The web stack (FastAPI, Jinja2) and SQLAlchemy are imported only by what serves
#: pages or stores accounts.
__getattr__ = _lazy.lazy_exports(
    globals(),
    {
        "AccountStore": "robotlib.console._accounts",
        "create_app": "robotlib.console._app",
    },
)
