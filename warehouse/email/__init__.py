"""Outgoing email: an :class:`~warehouse.email.interfaces.IEmailSender` chosen by settings,
and :func:`send_email`, which renders a message and sends it once the transaction commits.

Sending after the commit means a message never describes a change that was rolled back (a
verification link to an address that was never saved). A later issue moves the sending to
a worker; callers will not change.
"""

from __future__ import annotations

import structlog

from warehouse.email.interfaces import IEmailSender
from warehouse.email.messages import render_email

log = structlog.get_logger(__name__)

SITE_NAME = "Warehouse"


def site_url(request) -> str:
    """The site's address for links in mail: the setting, else the address of this request."""
    configured = getattr(request.registry.settings["warehouse"], "site_url", "")
    return (configured or request.application_url).rstrip("/")


def send_email(request, template: str, to: str, **context) -> None:
    """Render ``template`` for ``to`` now; send it after the request's transaction commits."""
    rendered = render_email(template, site_url=site_url(request), site_name=SITE_NAME, **context)
    if request.registry.settings["warehouse"].email_via_worker:
        from warehouse.email.tasks import send_email as send_email_task

        # Sent to the broker only once the request's transaction commits.
        send_email_task.delay(to, rendered.subject, rendered.text, rendered.html)
        return
    sender = request.find_service(IEmailSender)

    def deliver(committed: bool) -> None:
        if not committed:
            return
        try:
            sender.send(to, rendered.subject, rendered.text, rendered.html)
        except Exception:  # noqa: BLE001 - the change is committed; a lost mail is logged
            log.exception("could not send email", template=template, to=to)

    request.tm.get().addAfterCommitHook(deliver)


def includeme(config) -> None:
    # Imported here: the SES-aware factory lives with the tasks (it needs the worker's app).
    from warehouse.email.tasks import sender_from_settings

    settings = config.registry.settings["warehouse"]
    # configure(..., **{"email.sender": ...}) picks a sender directly (tests, the worker).
    sender = config.registry.get("email.sender") or sender_from_settings(settings)
    config.register_service(sender, IEmailSender)
