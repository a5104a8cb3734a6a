"""Unmodified bandersnatch against our index: its virtualenvs, a TLS front and a file server.

bandersnatch 6.8 (Python 3.11, XML-RPC changelog) and 8.x (Python 3.12+, the JSON simple index)
each get a throwaway virtualenv under ``.state/tools/`` (git-ignored), created the first time a
test or the benchmark asks for it and kept afterwards. Their pins live here, in one place.

bandersnatch only talks to an ``https`` master (``verify`` has no way around that at all), so
:class:`TlsProxy` puts a loopback TLS front with a throwaway CA in front of the live server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import fcntl
import functools
import glob
import http.server
import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from warehouse.settings import REPO_ROOT

TOOLS = REPO_ROOT / ".state" / "tools"
VENV_BIN = Path(sys.executable).parent
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 600


@dataclasses.dataclass(frozen=True)
class Flavour:
    """One bandersnatch release line: how to install it and how it finds changes."""

    key: str
    requirement: str
    pythons: tuple[str, ...]  # interpreter versions it may run on, preferred first
    api_method: str | None  # "xmlrpc" for 6.x; 8.x has no such option (always the JSON index)

    @property
    def venv(self) -> Path:
        return TOOLS / f"bandersnatch{self.key}"

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "bandersnatch"


FLAVOURS = {
    "6": Flavour("6", "bandersnatch==6.8.0", ("3.11",), "xmlrpc"),
    "8": Flavour("8", "bandersnatch==8.2.0", ("3.12", "3.13"), None),
}


def _find_python(versions: tuple[str, ...]) -> str | None:
    if f"{sys.version_info.major}.{sys.version_info.minor}" in versions:
        return sys.executable
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for version in versions:
        # pyenv's interpreters directly first: its ``python3.12`` shim is on PATH even where
        # that version is not enabled, and then it only prints "command not found".
        candidates = sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
        candidates.append(shutil.which(f"python{version}"))
        for candidate in filter(None, candidates):
            if _runs(candidate):
                return candidate
    return None


def _runs(python: str) -> bool:
    try:
        return (
            subprocess.run([python, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_bandersnatch(flavour: Flavour) -> Path:
    """The flavour's ``bandersnatch`` executable, installing it first if needed."""
    TOOLS.mkdir(parents=True, exist_ok=True)
    stamp = flavour.venv / ".installed"
    # Two test sessions (or a test and the benchmark) may get here at once.
    with open(TOOLS / ".bandersnatch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == flavour.requirement:
            return flavour.executable
        shutil.rmtree(flavour.venv, ignore_errors=True)
        python = _find_python(flavour.pythons)
        if python is not None:
            _run_checked([python, "-m", "venv", flavour.venv], INSTALL_TIMEOUT)
        else:
            # No suitable interpreter here: uv fetches a standalone one.
            _run_checked(
                [VENV_BIN / "uv", "venv", "--seed", "--python", flavour.pythons[0], flavour.venv],
                INSTALL_TIMEOUT,
            )
        # pip with the machine's own configuration: this is an ordinary tool install.
        _run_checked(
            [flavour.venv / "bin" / "python", "-m", "pip", "install", "-q", flavour.requirement],
            INSTALL_TIMEOUT,
        )
        stamp.write_text(flavour.requirement)
    return flavour.executable


def _run_checked(argv, timeout: float) -> str:
    argv = [str(arg) for arg in argv]
    result = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}")
    return result.stdout


# TLS ------------------------------------------------------------------------------------------


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem).

    A separate CA rather than one self-signed leaf, because Python 3.13 verifies strictly
    (RFC 5280) and rejects a leaf that is its own trust anchor.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warehouse test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _key_usage(*, key_cert_sign: bool):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.IGNORECASE | re.MULTILINE)


class TlsProxy:
    """``https://127.0.0.1:<port>`` terminating TLS in front of a plain-http origin on loopback.

    Responses are piped back byte for byte. Each request gets ``X-Forwarded-Proto: https``, as
    any TLS front end adds, so the app (gunicorn trusts it from 127.0.0.1) builds ``https``
    file URLs: bandersnatch downloads from the URLs the JSON API gives it.
    """

    def __init__(self, origin_port: int, certificate: Path, key: Path):
        self.origin_port = origin_port
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(certificate, key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.url = ""

    def start(self) -> TlsProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._context), self._loop
        ).result(10)
        self.url = f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def stop(self) -> None:
        async def close():
            self._server.close()
            await self._server.wait_closed()

        # Open keep-alive connections are daemon-thread tasks: they go with the loop.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self, client_reader, client_writer) -> None:
        try:
            origin_reader, origin_writer = await asyncio.open_connection(
                "127.0.0.1", self.origin_port
            )
        except OSError:
            client_writer.close()
            return
        requests = asyncio.ensure_future(self._forward_requests(client_reader, origin_writer))
        try:
            while chunk := await origin_reader.read(65536):
                client_writer.write(chunk)
                await client_writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            requests.cancel()
            origin_writer.close()
            client_writer.close()

    async def _forward_requests(self, reader, writer) -> None:
        """Copy requests one by one (keep-alive), each with the forwarded-protocol header."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if _CHUNKED.search(head):
                    raise ValueError("chunked request bodies are not supported by this proxy")
                request_line, rest = head.split(b"\r\n", 1)
                writer.write(request_line + b"\r\nX-Forwarded-Proto: https\r\n" + rest)
                length = _CONTENT_LENGTH.search(head)
                if length:
                    writer.write(await reader.readexactly(int(length.group(1))))
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError, ssl.SSLError):
            pass  # the client is done (or gone)
        # Let the origin finish its last response, then close: that ends the response pipe.
        with contextlib.suppress(OSError):
            writer.write_eof()


# bandersnatch ---------------------------------------------------------------------------------

# Variables through which bandersnatch (aiohttp) would take another route or another Python.
_DROPPED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
_LOG_PROBLEM = re.compile(r"^.*\b(?:WARNING|ERROR|CRITICAL)\b.*$|^Traceback.*$", re.MULTILINE)


@dataclasses.dataclass
class Bandersnatch:
    """One bandersnatch installation, one mirror directory, one config file."""

    flavour: Flavour
    executable: Path
    directory: Path
    master: str
    ca_file: Path
    workers: int = 3

    @property
    def config(self) -> Path:
        return self.directory.parent / f"{self.directory.name}.conf"

    @property
    def diff_file(self) -> Path:
        """Written by every mirror run: each file that run wrote or downloaded."""
        return self.directory.parent / f"{self.directory.name}.diff"

    @property
    def web(self) -> Path:
        return self.directory / "web"

    def write_config(self) -> Path:
        api = f"api-method = {self.flavour.api_method}\n" if self.flavour.api_method else ""
        self.config.write_text(
            "[mirror]\n"
            f"directory = {self.directory}\n"
            f"master = {self.master}\n"
            "json = true\n"
            "release-files = true\n"
            "hash-index = false\n"
            "simple-format = ALL\n"
            "compare-method = hash\n"
            f"workers = {self.workers}\n"
            f"verifiers = {self.workers}\n"
            # Generous: the suite shares two cores with PostgreSQL, gunicorn and other tests.
            "timeout = 60\n"
            "global-timeout = 900\n"
            "stop-on-error = true\n"
            f"diff-file = {self.diff_file}\n"
            f"{api}"
        )
        return self.config

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in _DROPPED and not key.lower().endswith("_proxy")
        }
        # aiohttp verifies with ssl.create_default_context(): OpenSSL reads SSL_CERT_FILE.
        env["SSL_CERT_FILE"] = str(self.ca_file)
        env["REQUESTS_CA_BUNDLE"] = str(self.ca_file)
        return env

    def run(self, *args: str) -> str:
        """``bandersnatch -c CONFIG ARGS``; its log (stdout and stderr) is returned."""
        if not self.config.exists():
            self.write_config()
        argv = [str(self.executable), "-c", str(self.config), *args]
        result = subprocess.run(
            argv,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}")
        return result.stdout

    def changed_paths(self) -> list[Path]:
        """The paths the last ``mirror`` run wrote, relative to the mirror's web/ folder."""
        lines = self.diff_file.read_text().splitlines() if self.diff_file.exists() else []
        return [Path(line).relative_to(self.web) for line in lines if line.strip()]


def log_problems(log: str) -> list[str]:
    """bandersnatch's WARNING/ERROR lines and tracebacks: what it flagged about the index."""
    return _LOG_PROBLEM.findall(log)


# Serving a mirror -----------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over http on a free loopback port, as a mirror's web server would."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
