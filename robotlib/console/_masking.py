"""How patient data appears on a console page: CPR numbers masked, secrets hidden.

Every text a page shows passes through :func:`shown_text` or :func:`shown_data`:
a CPR number reads ``240512-****`` unless the page may show it in clear (the web
layer decides who may), and keys that look like passwords stay hidden either way.
:func:`reference_matches` searches references without letting a search reveal a
masked number digit by digit.
"""

from __future__ import annotations

from typing import Any

from robotlib.cpr import CPR_PATTERN
from robotlib.logs import display_masker

__all__ = ["reference_matches", "shown_data", "shown_text"]

_MASKED = display_masker()
_CLEAR = display_masker(clear=True)  # still hides password-like keys


def shown_text(text: str | None, *, clear: bool) -> str:
    """Return text for a page: CPR numbers masked (``240512-****``) unless ``clear``.

    Example:
        >>> shown_text("No patient with CPR 2405129999", clear=False)
        'No patient with CPR 240512-****'
    """
    if not text:
        return ""
    return text if clear else _MASKED.redact(text)


def shown_data(value: dict[str, Any], *, clear: bool) -> dict[str, Any]:
    """Return a payload or output for a page: texts masked, password-like keys hidden.

    Example:
        >>> shown_data({"cpr": "2405129999"}, clear=False)
        {'cpr': '240512-****'}
    """
    shown: dict[str, Any] = (_CLEAR if clear else _MASKED).redact_value(value)
    return shown


def reference_matches(reference: str, search: str, *, clear: bool) -> bool:
    """Tell whether an item's reference holds the search text (case-insensitive).

    A search holding a full CPR number is compared with the reference in clear,
    with or without the dash, so typing a patient's number finds the masked row.
    Any other text is compared with the reference as the page shows it (masked
    unless ``clear``), so a search cannot reveal a hidden serial digit by digit.

    Example:
        >>> reference_matches("2405129999|NPU02319", "240512-9999", clear=False)
        True
        >>> reference_matches("2405129999|NPU02319", "2405129", clear=False)
        False
    """
    wanted = search.strip()
    if not wanted:
        return True
    if clear or CPR_PATTERN.search(wanted):
        return _normalised(wanted) in _normalised(reference)
    return wanted.casefold() in shown_text(reference, clear=False).casefold()


def _normalised(text: str) -> str:
    """Casefolded, with every CPR number written ``DDMMYY-SSSS``."""
    return CPR_PATTERN.sub(r"\1\2\3-\4", text).casefold()
