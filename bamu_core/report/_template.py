"""The HTML page of a report and its building blocks, as Jinja2 templates (``templates/``, package data).

Autoescaping is on for every template: a value is escaped unless it is :class:`~markupsafe.Markup`,
and only the report's own code makes Markup, from parts it escaped (:func:`html_fragment`). The page
loads nothing from the network: styles are inline, plotly.js and images are embedded by the builder.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

__all__ = ["render_page", "html_fragment", "section_html", "table_html", "kv_html"]


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("bamu_core.report", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def html_fragment(text: str) -> Markup:
    """HTML that the report's code assembled from escaped parts (never a user's string as it is)."""
    return text if isinstance(text, Markup) else Markup(text)


def _parts():
    return _environment().get_template("parts.html.j2").module


def section_html(anchor: str, title: str, content: str) -> str:
    """A card with an ``id`` and a heading; ``title`` is escaped, ``content`` is the section's HTML."""
    return str(_parts().section(anchor, title, html_fragment(content)))


def table_html(head: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]], *, wide: bool = False) -> str:
    """A table in its own horizontally scrolling box: ``head`` (label, css class) escaped here, the
    cells HTML escaped by the caller; ``wide``: many columns, intervals under their values."""
    cells = [[html_fragment(c) for c in r] for r in rows]
    return str(_parts().table(list(head), cells, wide))


def kv_html(pairs: Iterable[tuple[str, Any]]) -> str:
    """A definition list: keys escaped here, values HTML escaped by the caller; empty values left out."""
    kept = [(k, html_fragment(str(v))) for k, v in pairs if v not in (None, "")]
    return str(_parts().kv(kept))


def render_page(
    *,
    version: str,
    title: str,
    heading: str,
    subheading: Sequence[str],
    toc: Sequence[tuple[str, str]],
    sections: Sequence[str],
    footer: str,
    before_colour: str,
    after_colour: str,
) -> str:
    """The whole page. Plain strings are escaped by the template; ``subheading`` parts and
    ``sections`` may be Markup (HTML the builder made from escaped parts)."""
    page = _environment().get_template("page.html.j2")
    return page.render(
        version=version,
        title=title,
        heading=heading,
        subheading=list(subheading),
        toc=list(toc),
        sections=[html_fragment(s) for s in sections],
        footer=footer,
        before_colour=before_colour,
        after_colour=after_colour,
    )
