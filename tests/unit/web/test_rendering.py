"""The template filters that format what the pages show."""

from warehouse.web.rendering import event_details


def test_event_details_reads_as_one_line_without_ids_or_empty_values():
    details = {
        "token_id": "5c1b…",
        "previous_role": "Maintainer",
        "role": "Owner",
        "reason": "",
        "projects": ["alpha", "beta"],
        "username": None,
    }
    assert event_details(details) == "previous role: Maintainer; projects: alpha, beta; role: Owner"


def test_event_details_of_nothing_is_empty():
    assert event_details(None) == "" and event_details({}) == ""
