"""The operator web console (``rpa console``): the morning review in a browser.

Internal modules, one job each:

- ``_accounts``: console users (argon2 password hashes, roles), their sessions
  and the login rate limiter;
- ``_reports``: what the pages show, read from the queue, the run folders and the
  scheduler's records (no web code); it re-exports what the pages need from the
  four modules below;
- ``_records``: the frozen dataclasses the pages render;
- ``_masking``: CPR numbers masked and secrets hidden on every page, and a
  reference search that cannot reveal a masked number;
- ``_run_files``: the files of a run folder, listed for the pages and served
  without a way out of the folder;
- ``_chart``: the dashboard's items-per-night chart as inline SVG;
- ``_security``: session cookies, roles, CSRF tokens, response headers;
- ``_app``: the pages and form actions (FastAPI, Jinja2 templates).
"""

from robotlib.console._app import create_app

__all__ = ["create_app"]
