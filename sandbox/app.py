"""The sandbox clinical web system as a FastAPI app.

Example:
    >>> config = SandboxConfig(db_path=Path("/tmp/sandbox.db"))
    >>> app = create_app(config)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox import database
from sandbox.config import SandboxConfig
from sandbox.routes import (
    api,
    auth,
    board,
    documents,
    lab,
    patients,
    pro,
    spa,
    worklist,
)
from sandbox.web import LoginRequiredError, Sandbox, render, sandbox_of

__all__ = ["create_app"]

_UNFAULTED_PREFIXES = ("/api/", "/static/")


def create_app(config: SandboxConfig) -> FastAPI:
    """Create (and seed, if new) the database and return the app serving it."""
    database.create(
        config.db_path,
        seed=config.seed,
        patients=config.patients,
        history_results=config.history_results,
    )
    app = FastAPI(title="Sandbox clinical system", docs_url="/api/docs", redoc_url=None)
    app.state.sandbox = Sandbox(config)
    app.mount(
        "/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="static",
    )
    for module in (auth, patients, lab, pro, documents, board, worklist, spa, api):
        app.include_router(module.router)
    app.middleware("http")(_inject_faults)
    app.add_exception_handler(LoginRequiredError, _to_login)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _error_page)  # type: ignore[arg-type]
    app.add_exception_handler(OverflowError, _too_large_id)
    return app


async def _inject_faults(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Apply the latency and HTTP 500 switches to page requests (not to the API)."""
    if request.url.path.startswith(_UNFAULTED_PREFIXES):
        return await call_next(request)
    sandbox = sandbox_of(request)
    faults = sandbox.faults
    delay_ms = faults.latency_ms
    if faults.latency_jitter_ms:
        delay_ms += sandbox.random.randint(0, faults.latency_jitter_ms)
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    if sandbox.random.random() < faults.error_rate:
        return _server_error()
    if faults.fail_next and sandbox.take_planned_failure(
        request.method, request.url.path
    ):
        return _server_error()
    response = await call_next(request)
    if sandbox.random.random() < faults.error_after_rate:
        return _server_error()
    return response


def _server_error() -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><title>Internal Server Error</title>"
        "<h1>Internal Server Error</h1>"
        "<p>The system is temporarily unavailable. Please try again.</p>",
        status_code=500,
    )


async def _to_login(request: Request, exc: LoginRequiredError) -> Response:
    query = {}
    if exc.expired:
        query["expired"] = "1"
    if exc.next_url:
        query["next"] = exc.next_url
    suffix = f"?{urlencode(query)}" if query else ""
    return RedirectResponse(f"/login{suffix}", status_code=303)


async def _too_large_id(request: Request, exc: Exception) -> Response:
    """An id too large for SQLite names no record: answer 404, not 500."""
    return await _error_page(
        request, StarletteHTTPException(status_code=404, detail="No such record.")
    )


async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
    if request.url.path.startswith(("/api/", "/spa/api/")):
        return await http_exception_handler(request, exc)
    return render(
        request, "error.html", {"detail": exc.detail}, status_code=exc.status_code
    )
