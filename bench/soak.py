"""A bounded soak of the whole production shape through Varnish, by hand.

    .venv/bin/python bench/soak.py --minutes 10 --clients 32

Starts what ``make serve`` starts (``python -m devstack.services serve``: PostgreSQL, Redis,
SeaweedFS, Varnish, the web and uploads apps, a Celery worker and beat; data under .state/)
unless it already answers on --url, then runs a mix of real clients against Varnish for the
given time:

- uploads: twine's form, a new version of one of the soak's projects each time, paced;
- installs: what pip and uv do (the PEP 691 or HTML project page, the newest wheel's
  ``.metadata``, the wheel), plus real ``pip download`` and ``uv pip install`` runs;
- reads: the root listing, the JSON API, search;
- logins: the login form, its CSRF token, the post, the projects page;
- a bandersnatch 8 mirror kept in sync by running ``bandersnatch mirror`` again and again.

It prints errors per kind (goal: none), the median and p99 of each kind, and the resident
memory of every long-lived process of the stack one minute in and at the end (goal: flat).
``--json PATH`` writes the same figures.

``--at-size`` is issue 16's load test, on a stack whose database holds PyPI's shape
(``bench/pypi_shape.py`` loaded into make serve's database): the uploads go on as above,
one client uploads a new project every 10 s and asks for the root listing through Varnish
until its serial reaches the project's (the listing's freshness; then it checks the listing
names the project), and the readers ask for the simple pages and JSON API
of the index's own projects (drawn from the database) besides the soak's; no logins, pip, uv
or bandersnatch (a mirror of 700,000 generated projects, whose files have no blobs, is not
the point). It also prints the CPU the stack spent per request (all its processes, from
/proc).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from load_dataset import twine_fields  # noqa: E402

from devstack.services import Varnish, dev_environment, dev_services  # noqa: E402
from tests.support.artifacts import make_wheel  # noqa: E402
from tests.support.bandersnatch import (  # noqa: E402
    FLAVOURS,
    Bandersnatch,
    TlsProxy,
    ensure_bandersnatch,
    log_problems,
    make_certificates,
)
from warehouse.settings import STATE_DIR  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
PROJECTS = 40
PASSWORD = "soak-password-1234"
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
SEARCH_WORDS = ("soak", "example", "project", "alpha", "tool", "zzz-nothing")


@dataclasses.dataclass
class Tally:
    """Latencies and errors per kind of request, shared by every client thread."""

    latencies: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def ok(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)

    def fail(self, kind: str, why: str) -> None:
        with self.lock:
            self.errors[kind].append(why)

    def timed(self, kind: str, call, *args, expect=(200,), **kwargs):
        started = time.perf_counter()
        try:
            response = call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a soak counts every failure, of any kind
            self.fail(kind, f"{type(exc).__name__}: {exc}"[:300])
            return None
        elapsed = time.perf_counter() - started
        status = getattr(response, "status_code", 200)
        if status not in expect:
            self.fail(kind, f"{status} {getattr(response, 'url', '')}")
            return None
        self.ok(kind, elapsed)
        return response


class Soak:
    def __init__(self, url: str, env: dict[str, str], tally: Tally, deadline: float, work: Path):
        self.url = url.rstrip("/")
        self.env = env
        self.tally = tally
        self.deadline = deadline
        self.work = work
        self.token = ""
        # Fresh names each run: a project an earlier run's user owns refuses this run's uploads.
        stamp = time.strftime("%m%d%H%M")
        self.projects = [f"soak-{stamp}-{n:03d}" for n in range(PROJECTS)]
        self.versions: dict[str, int] = defaultdict(int)
        self.versions_lock = threading.Lock()
        # --at-size: a sample of the index's own projects, for index_reader.
        self.index_projects: list[str] = []

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    # Set-up --------------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [str(VENV_BIN / "warehouse"), *args], env=self.env, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise SystemExit(f"warehouse {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def set_up(self, logins: int) -> None:
        user = f"soak{int(time.time())}"
        self.cli("user", "create", user, "--email", f"{user}@example.com", "--password", PASSWORD)
        self.token = self.cli("token", "create", user).strip()
        self.login_users = [user]
        for n in range(1, logins):
            name = f"{user}x{n}"
            self.cli(
                "user", "create", name, "--email", f"{name}@example.com", "--password", PASSWORD
            )
            self.login_users.append(name)
        # Every project gets a first release before the clients start, so readers find files.
        with requests.Session() as session:
            for project in self.projects:
                self.upload(session, project, kind="seed-upload")

    # Clients -------------------------------------------------------------------------------

    def upload(self, session: requests.Session, project: str, kind: str = "upload") -> None:
        with self.versions_lock:
            self.versions[project] += 1
            version = f"1.0.{self.versions[project]}.{int(time.time() * 1000) % 100000}"
        folder = Path(tempfile.mkdtemp(dir=self.work))
        path = make_wheel(folder, project, version)
        try:
            with path.open("rb") as content:
                self.tally.timed(
                    kind,
                    session.post,
                    f"{self.url}/legacy/",
                    data=twine_fields(path),
                    files={"content": (path.name, content)},
                    auth=("__token__", self.token),
                    timeout=120,
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def uploader(self, per_minute_each: float) -> None:
        interval = 60.0 / per_minute_each
        with requests.Session() as session:
            while self.running():
                started = time.monotonic()
                self.upload(session, random.choice(self.projects))
                time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def installer(self) -> None:
        """What pip and uv ask for: the project page, the newest wheel's metadata, the wheel."""
        with requests.Session() as session:
            while self.running():
                project = random.choice(self.projects)
                if random.random() < 0.5:
                    page = self.tally.timed(
                        "simple-json",
                        session.get,
                        f"{self.url}/simple/{project}/",
                        headers={"Accept": JSON_ACCEPT},
                        timeout=60,
                    )
                    urls = [f["url"] for f in page.json()["files"]] if page is not None else []
                else:
                    page = self.tally.timed(
                        "simple-html", session.get, f"{self.url}/simple/{project}/", timeout=60
                    )
                    urls = re.findall(r'href="([^"#]+)', page.text) if page is not None else []
                if not urls:
                    continue
                wheel = requests.compat.urljoin(f"{self.url}/simple/{project}/", urls[-1])
                self.tally.timed("metadata", session.get, f"{wheel}.metadata", timeout=60)
                self.tally.timed("file", session.get, wheel, timeout=60)

    def prober(self) -> None:
        """The root listing's freshness: a new project uploaded, then ``/simple/`` asked
        through Varnish (HEAD, every 50 ms) until its ``X-PyPI-Last-Serial`` reaches the
        project's serial; the time from the upload's answer. The listing is then read whole
        once, to check that it names the project."""
        with requests.Session() as session:
            number = 0
            while self.running():
                number += 1
                project = f"{self.projects[0]}-fresh-{number}"
                self.upload(session, project, kind="upload-new")
                uploaded = time.monotonic()
                serial = session.get(f"{self.url}/pypi/{project}/json", timeout=60)
                if serial.status_code != 200:
                    self.tally.fail("freshness", f"{project}: JSON API {serial.status_code}")
                    continue
                wanted = serial.json()["last_serial"]
                while self.running():
                    head = session.head(f"{self.url}/simple/", timeout=60)
                    if int(head.headers.get("X-PyPI-Last-Serial", 0)) >= wanted:
                        self.tally.ok("freshness", time.monotonic() - uploaded)
                        listing = self.tally.timed(
                            "root-listing", session.get, f"{self.url}/simple/", timeout=60
                        )
                        if listing is not None and f">{project}<".encode() not in listing.content:
                            self.tally.fail("freshness", f"{project}: serial {wanted}, not listed")
                        break
                    if time.monotonic() - uploaded > 60:
                        self.tally.fail("freshness", f"{project} not listed after 60 s")
                        break
                    time.sleep(0.05)
                time.sleep(max(0.0, 10 - (time.monotonic() - uploaded)))

    def index_reader(self) -> None:
        """The index's own projects (PyPI's shape): their simple pages and JSON documents."""
        kinds = (
            ("index-simple-json", "/simple/{}/", JSON_ACCEPT),
            ("index-simple-html", "/simple/{}/", "text/html"),
            ("index-json-api", "/pypi/{}/json", "application/json"),
        )
        with requests.Session() as session:
            while self.running():
                kind, path, accept = random.choices(kinds, (2, 2, 1))[0]
                url = self.url + path.format(random.choice(self.index_projects))
                self.tally.timed(kind, session.get, url, headers={"Accept": accept}, timeout=60)

    def reader(self) -> None:
        """The other read paths: the root listing, the JSON API, search."""
        with requests.Session() as session:
            while self.running():
                choice = random.random()
                if choice < 0.15:
                    accept = random.choice(("text/html", JSON_ACCEPT))
                    self.tally.timed(
                        "root-listing",
                        session.get,
                        f"{self.url}/simple/",
                        headers={"Accept": accept},
                        timeout=60,
                    )
                elif choice < 0.6:
                    project = random.choice(self.projects)
                    self.tally.timed(
                        "json-api", session.get, f"{self.url}/pypi/{project}/json", timeout=60
                    )
                else:
                    word = random.choice(SEARCH_WORDS)
                    self.tally.timed(
                        "search", session.get, f"{self.url}/search/?q={word}", timeout=60
                    )

    def login(self, user: str) -> None:
        while self.running():
            with requests.Session() as session:
                form = self.tally.timed(
                    "login-form", session.get, f"{self.url}/account/login/", timeout=60
                )
                if form is None:
                    continue
                match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
                if not match:
                    self.tally.fail("login", "no CSRF token on the login form")
                    continue
                answer = self.tally.timed(
                    "login",
                    session.post,
                    f"{self.url}/account/login/",
                    data={"csrf_token": match.group(1), "username": user, "password": PASSWORD},
                    allow_redirects=False,
                    timeout=60,
                    expect=(303,),
                )
                if answer is not None:
                    self.tally.timed(
                        "manage-projects", session.get, f"{self.url}/manage/projects/", timeout=60
                    )

    def real_client(self, which: str) -> None:
        """pip and uv themselves, unmodified, installing one of the soak's projects."""
        while self.running():
            project = random.choice(self.projects)
            target = Path(tempfile.mkdtemp(dir=self.work))
            if which == "pip":
                argv = [str(VENV_BIN / "python"), "-m", "pip", "download", "--no-deps"]
                argv += ["--no-cache-dir", "-q", "-d", str(target)]
                argv += ["--index-url", f"{self.url}/simple/", project]
            else:
                argv = [str(VENV_BIN / "uv"), "pip", "install", "--no-cache", "--no-deps"]
                argv += ["--target", str(target), "--index-url", f"{self.url}/simple/", project]
            self.tally.timed(which, _run, argv)
            shutil.rmtree(target, ignore_errors=True)

    def bandersnatch(self) -> None:
        """An unmodified bandersnatch 8 mirror, synced again and again as new uploads land."""
        flavour = FLAVOURS["8"]
        executable = ensure_bandersnatch(flavour)
        folder = self.work / "bandersnatch"
        ca, certificate, key = make_certificates(folder / "tls")
        port = int(self.url.rsplit(":", 1)[1])
        proxy = TlsProxy(port, certificate, key).start()
        try:
            mirror = Bandersnatch(flavour, executable, folder / "mirror", proxy.url, ca)
            mirror.write_config()
            while self.running():
                log = self.tally.timed("bandersnatch", _bandersnatch_run, mirror)
                if log is not None:
                    for problem in log_problems(log.output):
                        self.tally.fail("bandersnatch", problem[:300])
        finally:
            proxy.stop()


@dataclasses.dataclass
class _Ran:
    output: str
    status_code: int = 200


def _bandersnatch_run(mirror: Bandersnatch) -> _Ran:
    return _Ran(mirror.run("mirror"))


def _run(argv: list[str]) -> _Ran:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"exit {result.returncode}: {(result.stdout + result.stderr)[-300:]}")
    return _Ran(result.stdout)


# The stack's processes ---------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children[int(fields[1])].append(int(entry.name))
    return children


def _rss_mib(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    return ""


APP_ROLES = (
    ("gunicorn-web.conf.py", "web"),
    ("gunicorn-uploads.conf.py", "uploads"),
    ("warehouse.tasks worker", "worker"),
    ("warehouse.tasks beat", "beat"),
)


def stack_processes() -> dict[str, int]:
    """Every long-lived process of the dev stack, by a stable label (role and pid)."""
    pg, redis, s3 = dev_services()
    varnish = Varnish(STATE_DIR / "varnish", 0, 0, 0)
    children = _children()
    labelled: dict[str, int] = {}

    def with_descendants(label: str, pid: int | None) -> None:
        stack = [pid] if pid else []
        while stack:
            current = stack.pop()
            labelled[f"{label}:{current}"] = current
            stack.extend(children.get(current, ()))

    with_descendants("postgres", pg.pid())
    with_descendants("redis", redis.pid())
    with_descendants("seaweedfs", s3.pid())
    with_descendants("varnish", varnish.pid())
    for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()):
        command = _cmdline(pid)
        for needle, role in APP_ROLES:
            if needle in command and str(REPO) in command:
                labelled[f"{role}:{pid}"] = pid
    return labelled


def memory(labelled: dict[str, int]) -> dict[str, float]:
    return {label: rss for label, pid in labelled.items() if (rss := _rss_mib(pid)) is not None}


def cpu_seconds(labelled: dict[str, int]) -> dict[str, float]:
    """User + system CPU of each process (and of its waited-for children), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for label, pid in labelled.items():
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[label] = sum(int(f) for f in fields[11:15]) / tick
    return found


def index_sample(env: dict[str, str], size: int = 5000) -> list[str]:
    """Names of the index's own projects, a random sample (PyPI's shape: 700,000)."""
    import psycopg

    url = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        return [
            name
            for (name,) in connection.execute(
                "SELECT normalized_name FROM projects TABLESAMPLE SYSTEM (2) LIMIT %s", (size,)
            )
        ]


# Running it --------------------------------------------------------------------------------------


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(f"{url}/_health/", timeout=2) as response:
            return response.status == 200
    return False


@contextlib.contextmanager
def running_stack(url: str):
    if _answers(url):
        yield None
        return
    log = open(STATE_DIR / "soak-serve.log", "ab")  # noqa: SIM115 - closed below
    serve = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "devstack.services", "serve"],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while not _answers(url):
            if serve.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the stack did not start: see {log.name}")
            time.sleep(1)
        yield serve
    finally:
        serve.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            serve.wait(60)
        log.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(tally: Tally, seconds: float, rss_start: dict, rss_end: dict, clients: int) -> dict:
    kinds = sorted(set(tally.latencies) | set(tally.errors))
    figures = {"seconds": round(seconds), "clients": clients, "kinds": {}, "rss_mib": {}}
    print(f"\nsoak: {clients} clients for {seconds / 60:.1f} min through Varnish")
    print(f"{'kind':<16}{'requests':>9}{'errors':>8}{'median ms':>11}{'p99 ms':>10}")
    for kind in kinds:
        done, failed = tally.latencies.get(kind, []), tally.errors.get(kind, [])
        median = statistics.median(done) * 1000 if done else float("nan")
        p99 = percentile(done, 0.99) * 1000 if done else float("nan")
        print(f"{kind:<16}{len(done) + len(failed):>9}{len(failed):>8}{median:>11.1f}{p99:>10.1f}")
        figures["kinds"][kind] = {
            "requests": len(done) + len(failed),
            "errors": len(failed),
            "median_ms": round(median, 1),
            "p99_ms": round(p99, 1),
            "first_errors": failed[:5],
        }
    for kind, failed in tally.errors.items():
        for why in failed[:3]:
            print(f"  {kind} error: {why}")
    print(f"\n{'process':<24}{'RSS at 1 min':>14}{'RSS at end':>12}{'change':>9}")
    for label in sorted(set(rss_start) & set(rss_end)):
        start, end = rss_start[label], rss_end[label]
        print(f"{label:<24}{start:>12.0f} M{end:>10.0f} M{end - start:>+8.0f}M")
        figures["rss_mib"][label] = {"start": round(start, 1), "end": round(end, 1)}
    roles = sorted({label.split(":")[0] for label in rss_start})
    print(f"\n{'all processes of':<24}{'at 1 min':>14}{'at end':>12}")
    for role in roles:
        start = sum(v for k, v in rss_start.items() if k.startswith(f"{role}:") and k in rss_end)
        end = sum(v for k, v in rss_end.items() if k.startswith(f"{role}:") and k in rss_start)
        print(f"{role:<24}{start:>12.0f} M{end:>10.0f} M")
    return figures


def cpu_report(tally: Tally, start: dict[str, float], end: dict[str, float]) -> dict:
    """The stack's CPU over the run, by role, and per request answered (every kind but the
    prober's freshness, which is not a request)."""
    by_role: dict[str, float] = defaultdict(float)
    # A process born during the run counts whole; one that ended is in its parent's
    # children's time (gunicorn's master reaps the workers it recycles).
    for label in end:
        by_role[label.split(":")[0]] += end[label] - start.get(label, 0.0)
    requests_done = sum(len(v) for k, v in tally.latencies.items() if k != "freshness")
    total = sum(by_role.values())
    print(f"\nstack CPU over the run: {total:.0f} s for {requests_done:,} requests")
    for role, seconds in sorted(by_role.items(), key=lambda item: -item[1]):
        print(f"  {role:<12}{seconds:>8.1f} s")
    per_request = total / requests_done * 1000 if requests_done else float("nan")
    print(f"  {'per request':<12}{per_request:>8.1f} ms")
    return {
        "seconds": {role: round(v, 1) for role, v in by_role.items()},
        "ms_per_request": round(per_request, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="Varnish, as make serve")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--uploads-per-minute", type=float, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--at-size", action="store_true", help="issue 16's load test on a PyPI-shaped index"
    )
    args = parser.parse_args()
    if args.clients < 8:
        raise SystemExit("--clients: at least 8 (one of each kind)")

    pg, redis, s3 = dev_services()
    env = dev_environment(pg, redis, s3)
    work = Path(tempfile.mkdtemp(prefix="warehouse-soak-"))
    tally = Tally()
    with running_stack(args.url):
        # Fixed seats for the slow kinds, the rest split between installers and readers.
        uploaders, logins = 3, (0 if args.at_size else 3)
        soak = Soak(args.url, env, tally, deadline=float("inf"), work=work)
        soak.set_up(max(logins, 1))
        if args.at_size:
            # The prober's new project every 10 s is one of the minute's uploads.
            soak.index_projects = index_sample(env)
            rest = args.clients - uploaders - 1
            per_minute = (args.uploads_per_minute - 6) / uploaders
            plan = [(soak.uploader, (per_minute,))] * uploaders + [(soak.prober, ())]
            plan += [(soak.installer, ())] * (rest // 3) + [(soak.reader, ())] * (rest // 3)
            plan += [(soak.index_reader, ())] * (rest - 2 * (rest // 3))
        else:
            rest = args.clients - uploaders - logins - 3  # pip, uv, bandersnatch
            plan = [(soak.uploader, (args.uploads_per_minute / uploaders,))] * uploaders
            plan += [(soak.login, (user,)) for user in soak.login_users]
            plan += [(soak.real_client, (c,)) for c in ("pip", "uv")] + [(soak.bandersnatch, ())]
            plan += [(soak.installer, ())] * (rest - rest // 3) + [(soak.reader, ())] * (rest // 3)
        cpu_start = cpu_seconds(stack_processes())
        started = time.monotonic()
        soak.deadline = started + args.minutes * 60
        threads = [threading.Thread(target=target, args=a, daemon=True) for target, a in plan]
        for thread in threads:
            thread.start()
        time.sleep(min(60, args.minutes * 60 / 2))
        processes = stack_processes()
        rss_start = memory(processes)
        for thread in threads:
            thread.join(max(1, soak.deadline - time.monotonic() + 600))
        rss_end = memory(processes)
        cpu_end = cpu_seconds(stack_processes())
        figures = report(tally, time.monotonic() - started, rss_start, rss_end, len(plan))
        figures["cpu"] = cpu_report(tally, cpu_start, cpu_end)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    failed = sum(len(errors) for errors in tally.errors.values())
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
