"""The console's languages: English (the source texts) and Danish, chosen per request.

The Danish catalogue is ``locale/da/LC_MESSAGES/messages.po``. It is compiled in
memory when the console starts, so no ``.mo`` file is committed and none can be
older than the ``.po``. ``make messages`` extracts the texts again
(``babel.cfg``) and updates the catalogues.
"""

from __future__ import annotations

import functools
import gettext as gettext_module
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

__all__ = [
    "ENGLISH",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "Catalogue",
    "choose_language",
    "load_catalogues",
    "template_callables",
    "translations",
]

#: Where the catalogues live: ``messages.pot`` and ``<language>/LC_MESSAGES/``.
LOCALE_DIR = Path(__file__).parent / "locale"
#: The console's languages; the first is the fallback of last resort.
LANGUAGES = ("da", "en")
_SOURCE = "en"
_DOMAIN = "messages"

#: A language's catalogue: ``gettext`` and ``ngettext`` of its texts.
Catalogue = gettext_module.NullTranslations
#: The source texts as they are: what a page says outside a request.
ENGLISH: Catalogue = NullTranslations()


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


@functools.cache
def translations(language: str) -> Catalogue:
    """The catalogue of ``language``, compiled from its ``.po`` (English: none)."""
    if language == _SOURCE:
        return ENGLISH
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{_DOMAIN}.po"
    with path.open("rb") as file:
        catalog = read_po(file, locale=language, domain=_DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=_DOMAIN)


def load_catalogues() -> None:
    """Compile every catalogue now, so a broken ``.po`` stops the start, not a page."""
    for language in LANGUAGES:
        translations(language)


def choose_language(chosen: str | None, accept_language: str, default: str) -> str:
    """The language to show: the user's choice, else the browser's, else ``default``.

    Args:
        chosen: the language the user picked in the console, or None.
        accept_language: the request's ``Accept-Language`` header ("" if none).
        default: the project's locale (``settings.locale``, e.g. ``da_DK``).
    """
    if chosen in LANGUAGES:
        return chosen
    best = Locale.negotiate(_preferred(accept_language), LANGUAGES, sep="-")
    if best is not None and best.language in LANGUAGES:
        return best.language
    try:
        language = Locale.parse(default).language
    except (ValueError, UnknownLocaleError):
        language = LANGUAGES[0]
    return language if language in LANGUAGES else LANGUAGES[0]


def _preferred(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip()))
    return [tag for _quality, _position, tag in sorted(weighted)]


def template_callables(catalogue: Catalogue) -> dict[str, Callable[..., str]]:
    """``gettext``, ``ngettext`` and ``_`` for a template, "newstyle" as Jinja's.

    As ``install_gettext_callables(newstyle=True)`` makes them: the translated
    text is marked safe when autoescaping (the values put in are escaped) and
    ``%``-formatted with the keyword arguments (``num`` too for ``ngettext``).
    """

    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        text: str = catalogue.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    @pass_context
    def ngettext(
        context: Context, singular: str, plural: str, num: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        text: str = catalogue.ngettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return {"gettext": gettext, "ngettext": ngettext, "_": gettext}
