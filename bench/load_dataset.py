"""Fill an index with a harness corpus by real uploads to its /legacy/ API, in parallel.

    .venv/bin/python bench/load_dataset.py /tmp/bench/data/N20000-meta \
        --upload http://127.0.0.1:18191/legacy/ --token pypi-... [--threads 8]

The form fields are the ones twine itself sends (built by twine's own code).
Already-uploaded files answer 200, so an interrupted load can simply be run again.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import threading
import time
from pathlib import Path

import requests
from twine.package import PackageFile
from twine.repository import Repository


def twine_fields(path: Path) -> list[tuple[str, str]]:
    """Exactly the form fields twine sends for ``path`` (it joins keywords, formats URLs...)."""
    package = PackageFile.from_filename(str(path), comment=None)
    data = Repository._convert_metadata_to_list_of_tuples(package.metadata_dictionary())
    return [*data, (":action", "file_upload"), ("protocol_version", "1")]


def upload_one(session: requests.Session, url: str, token: str, path: Path) -> None:
    data = twine_fields(path)
    with path.open("rb") as content:
        response = session.post(
            url,
            data=data,
            files={"content": (path.name, content)},
            auth=("__token__", token),
            timeout=120,
        )
    if response.status_code != 200:
        raise RuntimeError(f"{path.name}: {response.status_code} {response.reason}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="a harness data folder (has upload-files.txt)")
    parser.add_argument("--upload", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    paths = [
        Path(line) if Path(line).is_absolute() else args.data / line
        for line in (args.data / "upload-files.txt").read_text().split()
    ]
    local = threading.local()

    def task(path: Path) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        upload_one(local.session, args.upload, args.token, path)

    started = time.monotonic()
    done = 0
    with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
        for future in concurrent.futures.as_completed(pool.submit(task, p) for p in paths):
            future.result()
            done += 1
            if done % 500 == 0 or done == len(paths):
                rate = done / (time.monotonic() - started)
                print(
                    f"\r{done}/{len(paths)} files, {rate:.0f}/s",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
