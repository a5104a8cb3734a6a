"""What the RSS feeds say: the queries, and RSS 2.0 documents built with ElementTree.

ElementTree escapes text and attributes; the only thing left to do by hand is dropping the
characters XML 1.0 cannot carry at all, which a summary may contain.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import re
import xml.etree.ElementTree as ET

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.packaging.models import Project, Release
from warehouse.scanning.holds import served

ITEMS = 40
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclasses.dataclass(frozen=True)
class Item:
    title: str
    link: str
    description: str
    published: datetime.datetime
    author: str | None = None


@dataclasses.dataclass(frozen=True)
class Channel:
    title: str
    link: str
    description: str
    self_link: str


# Queries ----------------------------------------------------------------------------------

_RELEASE_COLUMNS = (
    Project.name,
    Release.version,
    Release.summary,
    Release.author_email,
    Release.created,
)


def latest_releases(session: orm.Session, project_id: int | None = None) -> list:
    """The newest releases (of one project, or of all), newest first; yanked ones are not
    news, so they are left out."""
    query = (
        sa.select(*_RELEASE_COLUMNS)
        .join(Project, Release.project_id == Project.id)
        .where(Release.yanked.is_(False), Project.lifecycle_status.is_(None), served(Release.id))
        .order_by(Release.created.desc(), Release.id.desc())
        .limit(ITEMS)
    )
    if project_id is not None:
        query = query.where(Release.project_id == project_id)
    return session.execute(query).all()


def newest_projects(session: orm.Session) -> list:
    """The newest projects with the summary of their newest release."""
    summary = (
        sa.select(Release.summary)
        .where(Release.project_id == Project.id)
        .order_by(Release.sort_order.desc())
        .limit(1)
        .scalar_subquery()
    )
    return session.execute(
        sa.select(Project.name, Project.created, summary.label("summary"))
        .where(Project.lifecycle_status.is_(None))
        .order_by(Project.created.desc(), Project.id.desc())
        .limit(ITEMS)
    ).all()


def find_project(session: orm.Session, normalized: str):
    return session.execute(
        sa.select(Project.id, Project.name).where(
            Project.normalized_name == normalized, Project.lifecycle_status.is_(None)
        )
    ).first()


# Rendering --------------------------------------------------------------------------------


def _clean(text: str | None) -> str:
    return _NOT_XML.sub("\ufffd", text or "")


def _add(parent: ET.Element, tag: str, text: str | None, **attributes) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attributes.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def rfc822(moment: datetime.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(datetime.UTC), usegmt=True)


def render(channel: Channel, items: list[Item]) -> bytes:
    ET.register_namespace("atom", "http://www.w3.org/2005/Atom")
    rss = ET.Element("rss", {"version": "2.0"})
    head = ET.SubElement(rss, "channel")
    _add(head, "title", channel.title)
    _add(head, "link", channel.link)
    _add(head, "description", channel.description)
    _add(head, "language", "en")
    _add(
        head,
        "{http://www.w3.org/2005/Atom}link",
        None,
        href=channel.self_link,
        rel="self",
        type="application/rss+xml",
    )
    if items:
        _add(head, "lastBuildDate", rfc822(max(i.published for i in items)))
    for item in items:
        entry = ET.SubElement(head, "item")
        _add(entry, "title", item.title)
        _add(entry, "link", item.link)
        _add(entry, "description", item.description)
        if item.author:
            _add(entry, "author", item.author)
        _add(entry, "pubDate", rfc822(item.published))
        _add(entry, "guid", item.link, isPermaLink="true")
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)
