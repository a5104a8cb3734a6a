"""Real distributions, built by ``python -m build`` with setuptools from a generated project.

Unlike tests/support/artifacts.py (hand-laid archives for unit tests), these come out of the
same tool chain a user runs, so the clients meet exactly what they would meet in practice.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.interop.clients import python_env


@dataclasses.dataclass(frozen=True)
class Built:
    name: str
    version: str
    sdist: Path | None
    wheel: Path

    @property
    def module(self) -> str:
        return module_name(self.name)

    @property
    def files(self) -> list[Path]:
        return [path for path in (self.sdist, self.wheel) if path is not None]


def module_name(project: str) -> str:
    return canonicalize_name(project).replace("-", "_")


def _toml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def build_project(
    tmp_path: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
    readme: str = "An interop test project.\n",
    sdist: bool = True,
) -> Built:
    """Write a one-module project and build its sdist and wheel without network access.

    ``sdist=False`` builds only the wheel, in half the time, for tests that do not need both.

    The module's ``hello()`` returns ``"NAME VERSION"``, so a test that imports it after
    installing knows which release the installer picked.
    """
    source = tmp_path / f"src-{name}-{version}"
    package = source / "src" / module_name(name)
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'def hello():\n    return "{name} {version}"\n')
    (source / "README.md").write_text(readme)
    python_line = f'requires-python = "{requires_python}"\n' if requires_python else ""
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
        'description = "An interop test project"\nreadme = "README.md"\n'
        f"{python_line}dependencies = {_toml_list(requires)}\n"
    )
    out = tmp_path / f"dist-{name}-{version}"
    # --no-isolation: build with the setuptools already installed, so no index is needed;
    # --skip-dependency-check: it costs one more backend process per build, for nothing here.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--skip-dependency-check",
            *(["--sdist"] if sdist else []),
            "--wheel",
            "--outdir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=python_env(dict(os.environ)),
    )
    if result.returncode != 0:
        raise AssertionError(f"building {name} {version} failed:\n{result.stdout}{result.stderr}")
    (wheel,) = out.glob("*.whl")
    return Built(name, version, next(out.glob("*.tar.gz"), None), wheel)
