"""What every template can use beyond Jinja2's built-ins: filters and globals.

Templates are autoescaped. The only HTML that goes out unescaped is what passed through
:func:`warehouse.web.sanitize.clean_description` and was marked safe there.
"""

from __future__ import annotations

import datetime

from jinja2 import pass_context

SITE_NAME = "Warehouse"
_SIZE_UNITS = ("bytes", "kB", "MB", "GB", "TB")


def filesize(size: int | None) -> str:
    """``1536`` → ``"1.5 kB"``: decimal units, as pip and PyPI show sizes."""
    if size is None:
        return ""
    value = float(size)
    for unit in _SIZE_UNITS:
        if value < 1000 or unit == _SIZE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_date(value: datetime.datetime | None) -> str:
    """``"Mar 4, 2025"``: unambiguous in every locale that reads English."""
    if value is None:
        return ""
    return f"{value:%b} {value.day}, {value:%Y}"


def isodatetime(value: datetime.datetime | None) -> str:
    """For ``<time datetime="…">``: machine-readable, in UTC."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_details(additional: dict | None) -> str:
    """A security event's details on one line, ``key: value; …``, for the history tables.

    Empty values are left out, and so are internal ids (``token_id``), which mean nothing
    to the reader; lists are joined.
    """
    parts = []
    for key, value in sorted((additional or {}).items()):
        if value in (None, "", [], ()) or key.endswith("_id"):
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(item) for item in value)
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def intcomma(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@pass_context
def static_url(context, path: str) -> str:
    """The URL of ``warehouse/web/static/<path>``, with its content hash."""
    return context["request"].static_path(f"warehouse.web:static/{path}")


FILTERS = {
    "event_details": event_details,
    "filesize": filesize,
    "format_date": format_date,
    "isodatetime": isodatetime,
    "intcomma": intcomma,
}

GLOBALS = {
    "site_name": SITE_NAME,
    "static_url": static_url,
}


SETTINGS_PREFIX = "warehouse.jinja2."


def jinja2_settings() -> dict[str, object]:
    """pyramid_jinja2 settings for the ``.html`` renderer (under its own prefix)."""
    return {SETTINGS_PREFIX + "autoescape": "true", SETTINGS_PREFIX + "undefined": ""}


def configure_environment(environment) -> None:
    """Add the site's filters and globals to the ``.html`` Jinja2 environment."""
    # Autoescaping is what keeps uploaders' metadata inert; never run without it.
    if not environment.autoescape:
        raise RuntimeError("the .html Jinja2 environment must autoescape")
    environment.filters.update(FILTERS)
    environment.globals.update(GLOBALS)
