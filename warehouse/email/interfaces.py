from __future__ import annotations

from zope.interface import Interface


class IEmailSender(Interface):
    def send(to, subject, text, html=None) -> None:
        """Deliver one message to the address ``to``; raises on failure.

        ``text`` is the plain-text body; ``html``, when given, is an alternative part.
        """
