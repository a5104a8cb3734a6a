"""Answering a request on the event loop, when that needs no waiting.

The web app's ASGI front (:mod:`warehouse.asgi`) first tries the installers' hot paths right on
its event loop, where a cached page costs a fraction of the hand-off to a worker thread. Code on
those paths calls :func:`check` before anything that may wait (Redis, PostgreSQL, a remote
object store); on the loop that raises :class:`WouldBlock`, and the front hands the request to
a thread, where the same code runs to the end. Anywhere else, :func:`check` does nothing.
"""

from __future__ import annotations

import contextvars

_ON_LOOP: contextvars.ContextVar[bool] = contextvars.ContextVar("on_event_loop", default=False)


class WouldBlock(Exception):
    """The answer needs I/O that must not run on the event loop."""


def active() -> bool:
    return _ON_LOOP.get()


def check() -> None:
    if _ON_LOOP.get():
        raise WouldBlock


class on_loop:  # noqa: N801 - used like a function: ``with on_loop(): ...``
    """Within this block, :func:`check` raises. (A class: it runs on every hot request.)"""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _ON_LOOP.set(True)

    def __exit__(self, *exc_info) -> None:
        _ON_LOOP.reset(self._token)
