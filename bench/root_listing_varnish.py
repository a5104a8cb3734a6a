"""The streamed ``/simple/`` listing through Varnish (devstack's, with config/varnish), by hand.

    BENCH_WORK=/tmp/bench-rootlist .venv/bin/python bench/root_listing_varnish.py \\
        --stack rootlist --varnish-port 18744

Starts Varnish in front of a bench/stack.py stack, fetches the JSON listing from the origin
(identity), then through Varnish with gzip (a miss: Varnish checks the gzip stream it fetches),
without gzip (a hit Varnish gunzips) and with gzip again (a hit), and says whether each equals
the origin's bytes once decompressed. Also prints what ``gzip.compress`` of the whole would weigh.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devstack.services import Varnish  # noqa: E402

WORK = Path(os.environ.get("BENCH_WORK", "/tmp/bench")) / "warehouse"
V1_JSON = "application/vnd.pypi.simple.v1+json"


def get(port: int, encoding: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", "/simple/", headers={"Accept": V1_JSON, "Accept-Encoding": encoding})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="rootlist")
    parser.add_argument("--varnish-port", type=int, default=18744)
    args = parser.parse_args()
    state = json.loads((WORK / args.stack / "stack.json").read_text())
    varnish = Varnish(
        WORK / args.stack / "varnish",
        args.varnish_port,
        web_port=state["port"],
        uploads_port=state["port"] + 2,
    )
    varnish.start()
    try:
        time.sleep(2)
        _, _, origin = get(state["port"], "identity")
        print(f"origin, identity: {len(origin)} bytes")
        for encoding in ("gzip", "identity", "gzip"):
            status, headers, body = get(args.varnish_port, encoding)
            gzipped = headers.get("content-encoding") == "gzip"
            plain = gzip.decompress(body) if gzipped else body
            print(
                f"varnish, {encoding}: {status}, {'gzip' if gzipped else 'plain'} {len(body)}"
                f" bytes, identical once decompressed: {plain == origin},"
                f" age {headers.get('age')}"
            )
        print(f"gzip.compress(whole, 6): {len(gzip.compress(origin, 6, mtime=0))} bytes")
    finally:
        varnish.stop()


if __name__ == "__main__":
    main()
