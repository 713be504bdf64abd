"""Helpers for tests that read the sandbox's pages over HTTP."""

from __future__ import annotations

import re
from html import unescape

__all__ = ["field_errors"]

_FIELD_ERROR = re.compile(r'\bid="([\w-]+)-error"[^>]*>([^<]*)<')


def field_errors(html: str) -> dict[str, str]:
    """Return the validation messages a page shows beside its fields, by field name.

    Example:
        >>> field_errors('<p class="field-error" id="value-error">Enter a value.</p>')
        {'value': 'Enter a value.'}
    """
    return {name: unescape(message) for name, message in _FIELD_ERROR.findall(html)}
