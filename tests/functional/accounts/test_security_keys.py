"""WebAuthn security keys as a second factor, with a software authenticator."""

from __future__ import annotations

import html
import json
import re

import sqlalchemy as sa

from tests.functional.accounts.conftest import form_for, log_in, text_of
from tests.functional.accounts.soft_authenticator import SoftAuthenticator
from warehouse.accounts.models import RecoveryCode, WebAuthnCredential
from warehouse.events.models import Event

KEYS_PAGE = "/manage/account/two-factor/security-keys/"
KEY_LOGIN = "/account/two-factor/security-key/"


def page_options(page) -> str:
    match = re.search(r'data-webauthn-options="([^"]*)"', page.text)
    assert match, "no security key form on the page"
    return html.unescape(match.group(1))


def add_key(site, key: SoftAuthenticator, label="YubiKey", *, status=200, **create_kwargs):
    page = site.get(KEYS_PAGE)
    form = form_for(page, KEYS_PAGE)
    form["label"] = label
    form["credential"] = json.dumps(key.create(page_options(page), **create_kwargs))
    return form.submit(status=status)


def log_in_with_key(site, key: SoftAuthenticator, *, status=303, **get_kwargs):
    response = log_in(site)
    assert response.headers["Location"].endswith("/account/two-factor/")
    page = response.follow()
    form = form_for(page, KEY_LOGIN)
    form["credential"] = json.dumps(key.get(page_options(page), **get_kwargs))
    return form.submit(status=status)


def test_the_page_offers_registration_through_the_script(site, user):
    log_in(site)
    page = site.get(KEYS_PAGE)
    options = json.loads(page_options(page))
    assert options["rp"] == {"id": "localhost", "name": "Warehouse"}
    assert options["user"]["name"] == "alice"
    script = re.search(r'<script src="(/account/static/webauthn\.js\?h=[0-9a-f]{12})"', page.text)
    assert script and "navigator.credentials" in site.get(script.group(1)).text
    assert "<noscript>" in page.text


def test_add_a_key_then_log_in_with_it(make_site, user, smtp_server, db_session):
    site = make_site()
    log_in(site)
    key = SoftAuthenticator()
    result = add_key(site, key)
    assert "Two-factor authentication is on" in text_of(result)
    assert len(re.findall(r"<li><code>", result.text)) == 8  # first factor: recovery codes
    mail = smtp_server.wait_for_message(to="alice@example.com")
    assert "A security key (YubiKey)" in mail.text

    other = make_site()
    response = log_in_with_key(other, key)
    assert response.headers["Location"].endswith("/manage/account/")
    assert other.get("/manage/account/").status_int == 200
    db_session.rollback()
    stored = db_session.scalar(sa.select(WebAuthnCredential))
    assert stored.label == "YubiKey" and stored.sign_count == 1 and stored.last_used
    event = db_session.scalar(
        sa.select(Event).where(Event.tag == "account:login:success").order_by(Event.id.desc())
    )
    assert event.additional == {"method": "webauthn"}


def test_an_answer_for_another_origin_is_refused(make_site, user, db_session):
    site = make_site()
    log_in(site)
    key = SoftAuthenticator()
    page = add_key(site, key, origin="https://evil.example")
    assert "could not be registered" in text_of(page)
    db_session.rollback()
    assert db_session.scalar(sa.select(WebAuthnCredential)) is None

    add_key(site, key)
    other = make_site()
    response = log_in_with_key(other, key, status=200, origin="https://evil.example")
    assert "did not verify" in text_of(response)
    assert other.get("/manage/account/", status=303)


def test_an_unregistered_key_and_a_replayed_answer_are_refused(make_site, user):
    site = make_site()
    log_in(site)
    key = SoftAuthenticator()
    add_key(site, key)

    stranger = SoftAuthenticator()
    stranger.credential_id = key.credential_id  # claims the same id, signs with another key
    other = make_site()
    response = log_in_with_key(other, stranger, status=200)
    assert "did not verify" in text_of(response)

    third = make_site()
    page = log_in(third).follow()
    answer = json.dumps(key.get(page_options(page)))
    form = form_for(page, KEY_LOGIN)
    form["credential"] = answer
    form.submit(status=303)
    # The same answer again: its challenge has been used.
    replay = make_site()
    page = log_in(replay).follow()
    form = form_for(page, KEY_LOGIN)
    form["credential"] = answer
    assert "did not verify" in text_of(form.submit(status=200))


def test_labels_must_be_given_and_distinct(site, user):
    log_in(site)
    assert "Name the key" in text_of(add_key(site, SoftAuthenticator(), label=""))
    add_key(site, SoftAuthenticator(), label="one")
    assert "already have a key with that name" in text_of(
        add_key(site, SoftAuthenticator(), label="one")
    )


def test_removing_the_last_key_turns_two_factor_off(site, user, db_session):
    log_in(site)
    add_key(site, SoftAuthenticator())
    page = site.get(KEYS_PAGE)
    response = form_for(page, KEYS_PAGE + "remove/").submit(status=303)
    assert "has been removed" in text_of(response.follow())
    db_session.rollback()
    assert db_session.scalar(sa.select(WebAuthnCredential)) is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
    form_for(site.get("/account/logout/"), "/account/logout/").submit()
    assert log_in(site).headers["Location"].endswith("/manage/account/")
