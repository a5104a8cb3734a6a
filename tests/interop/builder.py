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
    sdist: Path
    wheel: Path

    @property
    def module(self) -> str:
        return module_name(self.name)

    @property
    def files(self) -> list[Path]:
        return [self.sdist, self.wheel]


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
) -> Built:
    """Write a one-module project and build its sdist and wheel without network access.

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
    # --no-isolation: build with the setuptools already installed, so no index is needed.
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
         "--outdir", str(out), str(source)],
        capture_output=True, text=True, env=python_env(dict(os.environ)),
    )
    if result.returncode != 0:
        raise AssertionError(f"building {name} {version} failed:\n{result.stdout}{result.stderr}")
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(name, version, sdist, wheel)
