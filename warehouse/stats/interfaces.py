"""What the rest of the index may ask of the download statistics."""

from __future__ import annotations

from zope.interface import Interface


class IStatsService(Interface):
    def recent(project: str, today=None) -> dict:
        """``{"last_day": n, "last_week": n, "last_month": n}`` without mirrors: today (UTC)
        so far, today and the 6 days before, today and the 29 days before."""

    def recent_many(projects: list[str], today=None) -> dict:
        """:meth:`recent` for several projects at once, by normalized name."""

    def series(project: str, dimension: str, *, mirrors: bool, since=None) -> list:
        """``(day, category, downloads)`` rows of one dimension, by category then day;
        ``mirrors`` True adds the mirrors' downloads in."""

    def series_many(project: str, dimensions, *, mirrors: bool, since=None) -> dict:
        """:meth:`series` of each of ``dimensions``, by dimension."""

    def answer_items(project: str, dimension: str, *, mirrors) -> dict:
        """pypistats' data items of ``dimension`` (or "overall") as JSON text, by category:
        each category's items, oldest first, joined by commas."""

    def overall(project: str, *, since=None) -> list:
        """``(day, with_mirrors, without_mirrors)`` per day, oldest first."""
