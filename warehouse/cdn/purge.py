"""Purge backends: tell the CDN that responses tagged with some surrogate keys are stale.

* ``fastly``: ``POST {api}/service/{id}/purge/{key}`` with ``Fastly-Key``, one request per
  key, soft (``Fastly-Soft-Purge: 1``: marked stale rather than dropped, so the edge can
  still serve it if the origin fails) unless configured otherwise;
* ``varnish``: ``PURGE /`` with ``Surrogate-Key: k1 k2 ...`` to the Varnish that fronts the
  apps; ``config/varnish/default.vcl`` hands the header to xkey;
* ``none``: nothing (no CDN, or development without one).

A failed purge raises :class:`PurgeError`, which the purge task retries with backoff.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

import structlog
import urllib3

from warehouse.settings import Settings

log = structlog.get_logger(__name__)


class PurgeError(ConnectionError):
    """The CDN did not confirm a purge; worth another try."""


class NoPurger:
    def purge(self, keys: Iterable[str]) -> None:
        pass


class _HTTPPurger:
    def __init__(self):
        # Retries are the task's job (with backoff); a purge must not hang a worker.
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=10))

    def _send(self, method: str, url: str, headers: dict[str, str]) -> None:
        try:
            response = self.http.request(method, url, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise PurgeError(f"{method} {url}: {exc}") from exc
        if response.status >= 300:
            raise PurgeError(f"{method} {url}: {response.status} {response.data[:200]!r}")


class VarnishPurger(_HTTPPurger):
    # Header values stay far below Varnish's limits at this many keys per request.
    BATCH = 64

    def __init__(self, url: str):
        super().__init__()
        self.url = url.rstrip("/") + "/"

    def purge(self, keys: Iterable[str]) -> None:
        keys = sorted(set(keys))
        for start in range(0, len(keys), self.BATCH):
            batch = " ".join(keys[start : start + self.BATCH])
            self._send("PURGE", self.url, {"Surrogate-Key": batch})


class FastlyPurger(_HTTPPurger):
    def __init__(self, api_url: str, service_id: str, api_key: str, *, soft: bool = True):
        super().__init__()
        self.base = f"{api_url.rstrip('/')}/service/{quote(service_id, safe='')}/purge/"
        self.headers = {"Fastly-Key": api_key, "Accept": "application/json"}
        if soft:
            self.headers["Fastly-Soft-Purge"] = "1"

    def purge(self, keys: Iterable[str]) -> None:
        for key in sorted(set(keys)):
            self._send("POST", self.base + quote(key, safe="/"), self.headers)


def purger_from_settings(settings: Settings):
    if settings.cdn_backend == "varnish":
        return VarnishPurger(settings.cdn_varnish_url or f"http://127.0.0.1:{settings.port}")
    if settings.cdn_backend == "fastly":
        return FastlyPurger(
            settings.fastly_api_url,
            settings.fastly_service_id,
            settings.fastly_api_key,
            soft=settings.fastly_soft_purge,
        )
    return NoPurger()
