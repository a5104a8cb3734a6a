"""Run unmodified clients (twine, uv, pip) as subprocesses against the live server.

This machine has a global pip configuration (``/etc/pip.conf``, ``~/.config/pip``,
``PIP_FIND_LINKS=/opt/wheels``, ...). A client that silently fell back to it would make a test
pass without our index, so every client runs in an environment that sees only our index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests.support.live_server import PYCACHE

VENV_BIN = Path(sys.executable).parent
CLIENT_TIMEOUT = 120


def python_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with bytecode cached in PYCACHE (see there why)."""
    env = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


# Variables through which the clients (or Python itself) could pick up another index,
# another environment or stored credentials.
_DROPPED_PREFIXES = ("PIP_", "UV_", "TWINE_")
_DROPPED_NAMES = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "XDG_CONFIG_DIRS"}


def clean_client_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "client-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_DROPPED_PREFIXES) and key not in _DROPPED_NAMES
    }
    env = python_env(env)
    env.update(
        HOME=str(home),  # no ~/.pypirc, ~/.config/pip, ~/.config/uv
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PIP_CONFIG_FILE=os.devnull,  # pip then reads no configuration file at all
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CACHE="1",
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        # twine asks keyring for credentials it was not given; never let it probe D-Bus.
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
        # twine prints through rich, which wraps at the terminal width: keep messages on a line.
        COLUMNS="400",
    )
    return env


def run(argv: Iterable[str | Path], env: dict[str, str], *, check: bool = True, cwd=None):
    """Run a client; stdout and stderr are merged in ``.stdout`` as the user would see them."""
    argv = [str(arg) for arg in argv]
    result = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)}\nexited {result.returncode}; output:\n{result.stdout}"
        )
    return result


class Clients:
    """The clients, pointed at one live server, each run in a clean environment."""

    def __init__(self, server_url: str, tmp_path: Path, upload_url: str | None = None):
        self.server_url = server_url
        self.index_url = server_url + "/simple/"
        # Behind the CDN, /legacy/ on the site's URL reaches the uploads app.
        self.upload_url = upload_url or server_url + "/legacy/"
        self.tmp_path = tmp_path
        self.env = clean_client_env(tmp_path)

    @classmethod
    def for_server(cls, server, tmp_path: Path) -> Clients:
        """Pointed at a :class:`tests.support.live_server.LiveServer`'s two apps."""
        return cls(server.url, tmp_path, server.upload_url)

    def run(self, *argv, check: bool = True):
        return run(argv, self.env, check=check, cwd=self.tmp_path)

    def twine_upload(self, token: str, files: Iterable[Path], *, check: bool = True):
        return self.run(
            VENV_BIN / "twine",
            "--no-color",
            "upload",
            "--repository-url",
            self.upload_url,
            "-u",
            "__token__",
            "-p",
            token,
            "--non-interactive",
            "--disable-progress-bar",
            *files,
            check=check,
        )

    def uv_publish(
        self, token: str, files: Iterable[Path], *, check_url: bool = False, check: bool = True
    ):
        extra = ["--check-url", self.index_url] if check_url else []
        return self.run(
            VENV_BIN / "uv",
            "publish",
            "--publish-url",
            self.upload_url,
            "--token",
            token,
            # Not on a CI provider with OIDC: never try to mint a trusted-publishing token.
            "--trusted-publishing",
            "never",
            *extra,
            *files,
            check=check,
        )

    def pip(self, *args, check: bool = True):
        result = self.run(
            sys.executable, "-m", "pip", *args, "--index-url", self.index_url, check=check
        )
        # pip says so when it also looks at find-links: then a pass would prove nothing.
        assert "Looking in links" not in result.stdout, result.stdout
        return result

    def pip_install(self, target: Path, *requirements: str, check: bool = True):
        """Install into a plain folder (``--target``): no venv to create, nothing shared."""
        return self.pip("install", "--target", target, *requirements, check=check)

    def uv_venv(self, path: Path) -> Path:
        self.run(VENV_BIN / "uv", "venv", "--python", sys.executable, path)
        return path / "bin" / "python"

    def uv_pip_install(self, python: Path, *requirements: str, check: bool = True):
        return self.run(
            VENV_BIN / "uv",
            "pip",
            "install",
            "--python",
            python,
            "--index-url",
            self.index_url,
            *requirements,
            check=check,
        )

    def call_hello(
        self, module: str, *, python: Path = Path(sys.executable), path: Path | None = None
    ) -> str:
        """Import the installed module in a fresh interpreter and return ``module.hello()``."""
        env = dict(self.env)
        if path is not None:
            env["PYTHONPATH"] = str(path)
        code = f"import {module}; print({module}.hello())"
        # -I keeps a venv's interpreter to its own site-packages; with a --target folder we need
        # PYTHONPATH, so only the user site is switched off.
        flag = "-I" if path is None else "-s"
        return run([python, flag, "-c", code], env, cwd=self.tmp_path).stdout.strip()
