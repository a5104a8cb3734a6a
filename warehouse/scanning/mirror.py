"""The latest release's files of every project in a bandersnatch mirror.

bandersnatch writes ``web/json/<project>`` (the JSON API document as the index served it) and
the files under ``web/packages/<hash path>/<filename>``, the path of the file's URL after
``/packages/``. A project's latest release is the JSON document's ``info.version``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class MirrorError(Exception):
    pass


@dataclass(frozen=True)
class MirrorFile:
    project: str
    version: str
    path: Path
    present: bool


def latest_files(root: str | Path) -> Iterator[MirrorFile]:
    root = Path(root)
    json_dir = root / "web" / "json"
    packages = root / "web" / "packages"
    if not json_dir.is_dir():
        raise MirrorError(f"{root} is not a bandersnatch mirror: no web/json directory")
    for document_path in sorted(json_dir.iterdir()):
        if not document_path.is_file():
            continue
        try:
            document = json.loads(document_path.read_bytes())
            version = document["info"]["version"]
            files = document.get("releases", {}).get(version) or document.get("urls") or []
        except (OSError, ValueError, KeyError, TypeError):
            continue  # an unreadable document is the mirror's problem, not a scan finding
        for file in files:
            url_path = urlsplit(file.get("url", "")).path
            if "/packages/" not in url_path:
                continue
            local = packages / url_path.split("/packages/", 1)[1]
            yield MirrorFile(document_path.name, version, local, local.is_file())
