"""The API's answers are written as text, partly by PostgreSQL, for speed: the bytes must be
json.dumps' own for the same dicts, kept past days or not."""

import datetime

import pytest

from warehouse.stats import services
from warehouse.stats.models import DailyDownloads
from warehouse.stats.services import DatabaseStatsService
from warehouse.stats.views import _answer, _encoded

TODAY = datetime.date(2026, 12, 4)
# Categories JSON must escape, or that sort differently by bytes and by locale.
CATEGORIES = ["1.0", "2.0b1", 'say "hi"', "back\\slash", "tab\there", "ünï", "Zed", "ω", "🐍"]


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(services, "utc_today", lambda: TODAY)
    return TODAY


def _dicts(project, kind, data):
    return _encoded({"data": data, "package": project, "type": kind})


def test_api_answers_are_the_dicts_encoded(db_session, redis_client, today):
    for back in (40, 2, 1, 0):
        day = today - datetime.timedelta(days=back)
        for number, category in enumerate(CATEGORIES):
            for mirror in (False, True):
                if (back + number) % 3 == 0 and mirror:
                    continue
                db_session.add(
                    DailyDownloads(
                        project="sample",
                        dimension="version",
                        day=day,
                        category=category,
                        mirror=mirror,
                        downloads=10**12 + back * 100 + number + mirror,
                    )
                )
        for mirror in (False, True):
            db_session.add(
                DailyDownloads(
                    project="sample",
                    dimension="overall",
                    day=day,
                    category="",
                    mirror=mirror,
                    downloads=back + 1 + 5 * mirror,
                )
            )
    db_session.flush()
    plain = DatabaseStatsService(db_session)
    cached = DatabaseStatsService(db_session, redis_client)
    for service in (plain, cached, cached):  # the second cached reads the kept past
        for mirrors in (False, True):
            texts = service.answer_items("sample", "version", mirrors=mirrors)
            rows = plain.series("sample", "version", mirrors=mirrors)
            assert list(texts) == sorted(CATEGORIES)
            expected = _dicts(
                "sample",
                "version_downloads",
                [{"category": c, "date": d.isoformat(), "downloads": n} for d, c, n in rows],
            )
            assert _answer(list(texts.values()), "sample", "version_downloads") == expected
        texts = service.answer_items("sample", "overall", mirrors=None)
        overall = plain.overall("sample")
        data = [
            {"category": category, "date": row[0].isoformat(), "downloads": row[index]}
            for category, index in (("with_mirrors", 1), ("without_mirrors", 2))
            for row in overall
        ]
        assert _answer(list(texts.values()), "sample", "overall_downloads") == _dicts(
            "sample", "overall_downloads", data
        )
    assert service.answer_items("nothing", "version", mirrors=False) == {}
