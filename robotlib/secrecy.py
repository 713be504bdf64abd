"""What is secret: one answer for logs, step arguments, traces and credentials.

A *name* is secret when it looks like it holds a password, a token, a key, a
credential, a cookie or an authorization (``password``, ``api_key``,
``X-Auth-Token``, ``Authorization``): its value is hidden wherever it appears,
whether or not the value itself was ever registered. A *value* is secret when
it was registered (a credential's password, a token from a login): the log
redactor then hides it in every spelling it may take in a text
(:func:`spellings`). Every place that hides secrets asks this module, so a name
hidden in the logs is hidden in a trace too.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "is_secret_name",
    "mask_form_fields",
    "spellings",
]

#: What a hidden value is replaced by.
MASK = "***"

#: Values shorter than this are not registered: hiding every "ab" would ruin logs.
MIN_SECRET_LENGTH = 3

_WORDS = r"password|passwd|secret|token|key|credential|cookie|authorization"
_SECRET_NAME = re.compile(_WORDS, re.IGNORECASE)
#: ``password=...``-like fields in a form-encoded body or query string.
_SECRET_FORM_FIELD = re.compile(
    rf"\b((?:[\w.-]*)(?:{_WORDS})(?:[\w.-]*))=[^&\s]*", re.IGNORECASE
)


def is_secret_name(name: str) -> bool:
    """Tell whether a field, argument, header or selector name holds a secret.

    Example:
        >>> is_secret_name("api_key"), is_secret_name("X-Auth-Token")
        (True, True)
        >>> is_secret_name("cpr")
        False
    """
    return _SECRET_NAME.search(name) is not None


def mask_form_fields(text: str) -> str:
    """Return ``text`` with the values of secret ``name=value`` fields masked.

    Example:
        >>> mask_form_fields("user=robot&password=hunter2&next=/")
        'user=robot&password=***&next=/'
    """
    return _SECRET_FORM_FIELD.sub(rf"\1={MASK}", text)


def spellings(value: str) -> set[str]:
    """Return the ways a secret value may be written in a text that holds it.

    As typed, URL-quoted (both ways) and inside a JSON string (with and without
    non-ASCII escaped); empty when the value is too short to hide.

    Example:
        >>> sorted(spellings("pa ss"))
        ['pa ss', 'pa%20ss', 'pa+ss']
    """
    if len(value) < MIN_SECRET_LENGTH:
        return set()
    return {
        value,
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1],
    }
