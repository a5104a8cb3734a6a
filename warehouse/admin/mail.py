"""How admin actions tell owners: after the commit, from the web or the CLI."""

from __future__ import annotations

from sqlalchemy import orm

from warehouse import db
from warehouse.admin.services import Mailer
from warehouse.email import SITE_NAME, send_email
from warehouse.email.messages import render_email


def request_mailer(request) -> Mailer:
    def mail(to: str, template: str, **context) -> None:
        send_email(request, template, to, **context)

    return mail


def session_mailer(session: orm.Session, site_url: str) -> Mailer:
    """For the CLI: the mail goes to the workers once the session's transaction commits."""

    def mail(to: str, template: str, **context) -> None:
        from warehouse.email.tasks import send_email as send_email_task

        rendered = render_email(template, site_url=site_url, site_name=SITE_NAME, **context)
        db.after_commit(
            session,
            lambda: send_email_task.send_now((to, rendered.subject, rendered.text, rendered.html)),
        )

    return mail
