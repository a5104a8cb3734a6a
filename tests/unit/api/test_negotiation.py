import pytest

from warehouse.api import negotiation
from warehouse.api.negotiation import HTML, LATEST_JSON, V1_HTML, V1_JSON, choose

PIP = f"{V1_JSON}, {V1_HTML}; q=0.1, text/html; q=0.01"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, ("html", "text/html; charset=utf-8")),
        ("", ("html", "text/html; charset=utf-8")),
        ("*/*", ("html", "text/html; charset=utf-8")),
        (PIP, ("json", V1_JSON)),
        (LATEST_JSON, ("json", V1_JSON)),
        (f"{HTML};q=0.2, {V1_JSON};q=0.3", ("json", V1_JSON)),
        (f"{V1_JSON};q=0.3, {V1_HTML};q=0.4", ("html", V1_HTML)),
        # The most specific range decides an offer's q-value.
        (f"application/*;q=0.9, {V1_HTML};q=0.1, text/html;q=0.5", ("json", V1_JSON)),
        # Equal preference: plain HTML first.
        (f"{V1_JSON}, text/html", ("html", "text/html; charset=utf-8")),
        ("text/html;q=0, */*;q=0.5", ("html", V1_HTML)),
        ("not a media type at all ;;", ("html", "text/html; charset=utf-8")),
    ],
)
def test_choose(accept, expected):
    assert choose(accept) == expected


@pytest.mark.parametrize("accept", ["application/json", "text/plain", f"{V1_JSON};q=0", "*/*;q=0"])
def test_nothing_acceptable(accept):
    assert choose(accept) is None


def test_format_parameter_names_one_type_and_wins():
    assert choose("text/html", V1_JSON) == ("json", V1_JSON)
    assert choose(V1_JSON, "TEXT/HTML") == ("html", "text/html; charset=utf-8")
    assert choose(None, "json") is None
    assert choose(None, "") is None


def test_answers_are_remembered_but_bounded(monkeypatch):
    monkeypatch.setattr(negotiation, "_memo", {})
    monkeypatch.setattr(negotiation, "_MEMO_SIZE", 3)
    for q in range(10):
        assert choose(f"{V1_JSON};q=0.{q + 1}") == ("json", V1_JSON)
        assert len(negotiation._memo) <= 3
