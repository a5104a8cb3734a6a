"""What the admin area adds to the hot paths: the flag check on every upload and the
quarantine check on every download, both answered from process memory.

Run by hand (no server needed; a stand-in loader, no Redis): ``.venv/bin/python bench/admin_hot_paths.py``
"""

from __future__ import annotations

import os
import timeit

from warehouse.admin.flags import Flag, FlagReader, FlagState
from warehouse.admin.quarantine import BlobBlocklist


class _NoSession:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def main() -> None:
    states = {flag: FlagState(flag, False, "") for flag in Flag}
    reader = FlagReader(None, _NoSession, check_seconds=3600)
    reader.memo.load = lambda: states
    reader.refusal(Flag.READ_ONLY)
    blocklist = BlobBlocklist(None, _NoSession, interval=3600)
    blocklist._keys = frozenset(f"aa/bb/{n:060d}/quarantined-{n}.whl" for n in range(10_000))
    blocklist._loaded_at = 0.0
    blocklist._refresher_pid = os.getpid()  # no background thread in a benchmark
    key = "cc/dd/" + "e" * 60 + "/requests-2.32.3-py3-none-any.whl"
    n = 1_000_000
    for label, statement in (
        (
            "upload: two flag checks (read-only, disallow-new-upload)",
            lambda: (reader.refusal(Flag.READ_ONLY), reader.refusal(Flag.DISALLOW_NEW_UPLOAD)),
        ),
        ("download: blocklist check, 10,000 quarantined keys", lambda: blocklist.blocks(key)),
        ("remembered download: still-current check", lambda: blocklist.surely_allows(key)),
    ):
        seconds = min(timeit.repeat(statement, number=n, repeat=3))
        print(f"{label:<60} {seconds / n * 1e9:8.0f} ns")


if __name__ == "__main__":
    main()
