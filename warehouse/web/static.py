"""Static file URLs that change whenever the file's content does."""

from __future__ import annotations

import hashlib
import os

from pyramid.path import AssetResolver
from pyramid.static import QueryStringCacheBuster


class ContentHashCacheBuster(QueryStringCacheBuster):
    """Adds ``?h=<first 12 hex digits of the file's sha256>`` to static URLs.

    The hash is remembered per (path, modification time), so a request costs one ``stat``
    and an edited file gets a new URL without a restart.
    """

    def __init__(self) -> None:
        super().__init__(param="h")
        self._resolver = AssetResolver()
        self._tokens: dict[tuple[str, int], str] = {}

    def tokenize(self, request, subpath, kw) -> str:
        path = self._resolver.resolve(kw["pathspec"]).abspath()
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return "missing"
        key = (path, mtime)
        token = self._tokens.get(key)
        if token is None:
            with open(path, "rb") as handle:
                token = hashlib.sha256(handle.read()).hexdigest()[:12]
            self._tokens[key] = token
        return token
