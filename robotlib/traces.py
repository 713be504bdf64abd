"""Secrets out of saved traces: one rewrite of a trace file when it is kept.

A trace is kept for a failed attempt so a developer can replay it; it shows the
patient's pages (which is why traces are owner-only and purged with their run), but
never a password, cookie or token. :func:`scrub_trace` rewrites a Playwright trace
zip once, member by member: password fields, secret-named form fields and headers,
and cookies masked (``***``), and the text of every registered secret hidden
wherever it appears. Any other file is rewritten as a whole, its registered
secrets hidden. The engine scrubs every trace an application saves.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robotlib.secrecy import MASK, is_secret_name, mask_form_fields

__all__ = ["scrub_trace"]


def scrub_trace(path: Path, hide_secrets: Callable[[str], str] | None = None) -> None:
    """Rewrite a saved trace at ``path`` with its secrets masked, in one rewrite.

    In the JSON lines of ``*.trace`` and ``*.network``: the value of a password
    input in DOM snapshots, the value typed by an action into a field whose
    selector names a password, secret, token or key, every ``{"name", "value"}``
    pair (headers, form fields) whose name does, or names a cookie or an
    authorization, and every cookie. In text resources (request bodies):
    ``password=...``-like form fields. Then, in every member, the text
    ``hide_secrets`` hides (the run's :meth:`Redactor.hide_secrets
    <robotlib.logs.Redactor.hide_secrets>`: the passwords it logged in with).
    Bytes that are not UTF-8 (images) pass through unchanged. Patient data stays.
    """
    hide = hide_secrets or _unchanged
    if not zipfile.is_zipfile(path):
        data = path.read_bytes()
        hidden = _hidden(data, hide)
        if hidden is not data:
            path.write_bytes(hidden)
        return
    draft = path.with_name(f"{path.name}.part")
    try:
        with (
            zipfile.ZipFile(path) as source,
            zipfile.ZipFile(draft, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            if os.name == "posix":
                draft.chmod(0o600)
            for info in source.infolist():
                masked = _masked_member(info.filename, source.read(info))
                target.writestr(info, _hidden(masked, hide))
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def _unchanged(text: str) -> str:
    return text


def _hidden(data: bytes, hide: Callable[[str], str]) -> bytes:
    """``data`` with the registered secrets hidden; the same object if none was."""
    text = data.decode("utf-8", "surrogateescape")
    hidden = hide(text)
    return data if hidden == text else hidden.encode("utf-8", "surrogateescape")


def _masked_member(name: str, data: bytes) -> bytes:
    if name.endswith((".trace", ".network")):
        lines = data.decode("utf-8", "surrogateescape").split("\n")
        events = [_json_or_none(line) for line in lines]
        # the actions on a password field: their log lines quote the value typed
        secret_calls = {
            event["callId"]
            for event in events
            if isinstance(event, dict)
            and isinstance(event.get("params"), dict)
            and is_secret_name(str(event["params"].get("selector", "")))
            and "callId" in event
        }
        masked = [
            _masked_line(line, event, secret_calls)
            for line, event in zip(lines, events, strict=True)
        ]
        return "\n".join(masked).encode("utf-8", "surrogateescape")
    if name.startswith("resources/"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data  # an image or other binary body
        return mask_form_fields(text).encode("utf-8")
    return data


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _masked_line(line: str, event: Any, secret_calls: set[Any]) -> str:
    if event is None:
        return line
    masked = _masked(event)
    if (
        isinstance(masked, dict)
        and masked.get("type") == "log"
        and masked.get("callId") in secret_calls
    ):
        masked["message"] = MASK
    if masked == event:
        return line
    return json.dumps(masked, ensure_ascii=False, separators=(",", ":"))


def _masked(value: Any) -> Any:
    if isinstance(value, list):
        return [_masked(item) for item in value]
    if not isinstance(value, dict):
        return value
    masked = {key: _masked(item) for key, item in value.items()}
    if str(masked.get("type", "")).lower() == "password":
        for key in ("__playwright_value_", "value"):
            if isinstance(masked.get(key), str):
                masked[key] = MASK
    name = masked.get("name")
    if isinstance(name, str) and is_secret_name(name):
        if isinstance(masked.get("value"), str):
            masked["value"] = MASK
    selector = masked.get("selector")
    if isinstance(selector, str) and is_secret_name(selector):
        for key in ("value", "text"):
            if isinstance(masked.get(key), str):
                masked[key] = MASK
    cookies = masked.get("cookies")
    if isinstance(cookies, list):
        masked["cookies"] = [
            {**cookie, "value": MASK} if isinstance(cookie, dict) else cookie
            for cookie in cookies
        ]
    return masked
