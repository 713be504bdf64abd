"""The operator web console (``rpa console``): the morning review in a browser.

Internal modules, one job each:

- ``_accounts``: console users (argon2 password hashes, roles), their sessions
  and the login rate limiter;
- ``_reports``: what the pages show, read from the queue, the run folders and the
  scheduler's records (no web code);
- ``_security``: session cookies, roles, CSRF tokens, response headers;
- ``_app``: the pages and form actions (FastAPI, Jinja2 templates).
"""

from robotlib.console._app import create_app

__all__ = ["create_app"]
