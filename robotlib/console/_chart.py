"""The dashboard's chart: items per night as an inline SVG stacked bar chart.

No JavaScript and no chart library: :func:`svg_chart` writes the ``<svg>``
element as text, every label escaped, for the template to embed as it is. Each
bar carries a ``<title>`` (the tooltip) and the chart an ``aria-label`` that sums
the nights up, so it reads without the picture too.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from robotlib.console._i18n import ENGLISH, N_, Catalogue
from robotlib.console._records import NightCounts

__all__ = ["svg_chart"]

#: The stacked series, bottom first: the count's attribute, its colour, its label.
_SERIES = (
    ("done", "#2e7d32", N_("done")),
    ("business_exception", "#b35c00", N_("business exceptions")),
    ("failed", "#c62828", N_("failed")),
)


def svg_chart(
    nights: Sequence[NightCounts],
    *,
    width: int = 640,
    height: int = 220,
    catalogue: Catalogue = ENGLISH,
) -> str:
    """Draw items per night as a stacked bar chart: inline SVG, no JavaScript.

    Each night is a ``<g class="night">`` with a ``<title>`` (the tooltip), one
    ``<rect>`` per non-zero outcome (done at the bottom, then business
    exceptions, then failed) and its day of month as a text label. The chart has
    ``role="img"`` and an ``aria-label`` summing the nights up, a legend, and the
    scale's top value. Its words are in ``catalogue``'s language.

    Example:
        >>> svg = svg_chart(dashboard(project, now=now).nights)  # doctest: +SKIP
        >>> svg.startswith("<svg")  # doctest: +SKIP
        True
    """
    left, right, top, bottom = 36, 8, 28, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    largest = max((night.total for night in nights), default=0)
    scale = plot_h / largest if largest else 0.0
    slot = plot_w / len(nights) if nights else plot_w
    summary = _chart_summary(nights, catalogue)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(summary)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="nights-chart" '
        f'font-family="sans-serif">',
        f"<title>{escape(summary)}</title>",
    ]
    x_legend = left
    for _key, colour, name in _SERIES:
        label = catalogue.gettext(name)
        parts.append(
            f'<rect x="{x_legend}" y="6" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x_legend + 14}" y="15" font-size="11">{escape(label)}</text>'
        )
        x_legend += 30 + 6 * len(label)
    baseline = top + plot_h
    parts.append(
        f'<line x1="{left}" y1="{baseline}" x2="{left + plot_w}" y2="{baseline}" '
        f'stroke="#555"/>'
        f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end">'
        f"{largest}</text>"
        f'<text x="{left - 4}" y="{baseline}" font-size="10" text-anchor="end">0</text>'
    )
    for index, night in enumerate(nights):
        x = left + index * slot
        bar_x, bar_w = x + slot * 0.15, slot * 0.7
        parts.append(
            f'<g class="night" data-night="{night.night.isoformat()}">'
            f"<title>{escape(_night_text(night, catalogue))}</title>"
            f'<rect class="hit" x="{x:.1f}" y="{top}" width="{slot:.1f}" '
            f'height="{plot_h}" fill="transparent"/>'
        )
        y = float(baseline)
        for key, colour, _label in _SERIES:
            value: int = getattr(night, key)
            if not value:
                continue
            bar_h = value * scale
            y -= bar_h
            parts.append(
                f'<rect class="{key}" x="{bar_x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{bar_h:.1f}" fill="{colour}"/>'
            )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{baseline + 14}" font-size="9" '
            f'text-anchor="middle">{night.night.day}</text></g>'
        )
    if not nights:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            f'text-anchor="middle" font-size="12">'
            f"{escape(catalogue.gettext('No nights to show'))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# Private API ----------------------------------------------------------------------


def _night_text(night: NightCounts, catalogue: Catalogue) -> str:
    text = catalogue.ngettext(
        "Night %(night)s %(year)d: %(done)d done, %(num)d business exception, "
        "%(failed)d failed",
        "Night %(night)s %(year)d: %(done)d done, %(num)d business exceptions, "
        "%(failed)d failed",
        night.business_exception,
    )
    return text % {
        "night": night.label,
        "year": night.night.year,
        "done": night.done,
        "num": night.business_exception,
        "failed": night.failed,
    }


def _chart_summary(nights: Sequence[NightCounts], catalogue: Catalogue) -> str:
    if not nights:
        return catalogue.gettext("Items per night: no nights to show")
    last = nights[-1]
    text = catalogue.gettext(
        "Items per night, %(nights)d nights from %(first)s to %(last)s. In all: "
        "done %(done)d, business exceptions %(business)d, failed %(failed)d. The "
        "latest night: done %(last_done)d, business exceptions %(last_business)d, "
        "failed %(last_failed)d"
    )
    return text % {
        "nights": len(nights),
        "first": nights[0].label,
        "last": last.label,
        "done": sum(night.done for night in nights),
        "business": sum(night.business_exception for night in nights),
        "failed": sum(night.failed for night in nights),
        "last_done": last.done,
        "last_business": last.business_exception,
        "last_failed": last.failed,
    }
