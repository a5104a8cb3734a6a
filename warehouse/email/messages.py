"""The emails the site sends, rendered from templates in text and HTML.

Each message is a folder under ``templates/``: ``subject.txt``, ``body.txt`` and
``body.html``. The text part is what people with plain-text mail readers see and what
tests read; the HTML part says the same with a little formatting.
"""

from __future__ import annotations

import dataclasses

import jinja2

_html = jinja2.Environment(
    loader=jinja2.PackageLoader("warehouse.email", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
# Plain text must not be HTML-escaped ("&amp;" in a link would break it).
_text = jinja2.Environment(
    loader=jinja2.PackageLoader("warehouse.email", "templates"),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclasses.dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(name: str, **context) -> RenderedEmail:
    subject = _text.get_template(f"{name}/subject.txt").render(**context)
    return RenderedEmail(
        # A header cannot span lines; templates may end with a newline.
        subject=" ".join(subject.split()),
        text=_text.get_template(f"{name}/body.txt").render(**context),
        html=_html.get_template(f"{name}/body.html").render(**context),
    )


def template_names() -> list[str]:
    return sorted({name.split("/")[0] for name in _text.list_templates() if "/" in name})
