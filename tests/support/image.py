"""The production image (Dockerfile) and its compose file, reproduced on a machine without Docker.

There is no Docker engine where the tests run, so :class:`ImageLayout` builds what the
Dockerfile describes under a temporary folder that stands for the image's root filesystem,
and :meth:`ImageLayout.service` runs a compose service from it:

* Dockerfile and docker-compose.yml are parsed, so a change to either is what the test runs;
* the builder stage's COPY and RUN lines are carried out with their absolute paths moved
  under the root (a kind of RUN line not known here fails, until this module is taught it);
* the final stage holds only what it copies: from the builder (built in place, since a
  venv's paths are absolute) and from the build context, with .dockerignore applied;
* a service is a process with the base image's, the Dockerfile's and the service's
  environment, the service's command, the WORKDIR as its cwd, run as an unprivileged user
  (``nobody``: this machine has no ``warehouse`` user), with a /tmp of its own, as each
  container has.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from warehouse.settings import REPO_ROOT

VENV_BIN = Path(sys.executable).parent
# What the python base image puts in the environment before the Dockerfile adds its own.
BASE_IMAGE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# The container paths that exist in the image or a container: moved under the root.
_CONTAINER_PATH = re.compile(r"(?<![\w.:/-])(/tmp|/app|/opt/venv|/src)(?=/|$|[^\w.-])")


def base_python() -> Path:
    """The interpreter the image's venv is made from: like the base image's
    /usr/local/bin/python, one any user may run (the suite's own may live under /root)."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for folder in ("/usr/local/bin", "/usr/bin"):
        if (Path(folder) / version).exists():
            return Path(folder) / version
    return Path(sys.executable)


@dataclasses.dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]]

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.args(keyword)
        return found[-1] if found else None

    def env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        for args in self.args("ENV"):
            tokens = shlex.split(args)
            pairs = (
                [token.split("=", 1) for token in tokens]
                if "=" in tokens[0]
                else [[tokens[0], " ".join(tokens[1:])]]
            )
            for key, value in pairs:
                env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
        return env

    @property
    def copies(self) -> list[tuple[str | None, list[str], str]]:
        """(--from stage or None for the context, sources, destination) per COPY."""
        result = []
        for args in self.args("COPY"):
            tokens = shlex.split(args)
            flags = [t for t in tokens if t.startswith("--")]
            paths = [t for t in tokens if not t.startswith("--")]
            source = None
            for flag in flags:
                if flag.startswith("--from="):
                    source = flag.split("=", 1)[1]
                else:
                    raise AssertionError(f"COPY {flag}: the image test does not know it")
            result.append((source, paths[:-1], paths[-1]))
        return result


def parse_dockerfile(text: str) -> list[Stage]:
    # Continuation lines are joined, comment lines dropped (also inside a continuation).
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def dockerignore_patterns(context: Path) -> list[re.Pattern]:
    patterns = []
    path = context / ".dockerignore"
    for line in path.read_text().splitlines() if path.exists() else ():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise AssertionError(f".dockerignore exception {line}: the image test does not know it")
        regex = ""
        pattern = line.strip("/")
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append(re.compile(regex + "$"))
    return patterns


def copy_from_context(
    context: Path, sources: list[str], dest: Path, ignored: list[re.Pattern]
) -> None:
    """COPY's rules: a folder's contents go into the destination; files into a folder
    destination when it ends in / or there are several."""

    def excluded(relative: str) -> bool:
        parts = relative.split("/")
        return any(p.match("/".join(parts[:n])) for p in ignored for n in range(1, len(parts) + 1))

    into_folder = len(sources) > 1 or str(dest).endswith("/")
    for source in sources:
        origin = context / source
        assert not excluded(source), f"COPY {source}: excluded by .dockerignore"
        if origin.is_dir():
            for path in sorted(origin.rglob("*")):
                relative = path.relative_to(context).as_posix()
                if path.is_dir() or excluded(relative):
                    continue
                target = dest / path.relative_to(origin)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        else:
            target = dest / origin.name if into_folder else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


def parse_compose(text: str) -> dict[str, dict]:
    """Each service's command (a list) and environment (a dict), with compose's ``$$``
    unescaped; any other ``$`` would be compose interpolation, which the test does not do."""

    def unescape(value: str, where: str) -> str:
        held = value.replace("$$", "\0")
        assert "$" not in held, f"{where}: compose interpolation is not reproduced: {value!r}"
        return held.replace("\0", "$")

    services = {}
    for name, spec in yaml.safe_load(text)["services"].items():
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        command = spec.get("command")
        if isinstance(command, str):
            command = shlex.split(command)
        services[name] = {
            **spec,
            "environment": {
                key: unescape(str(value), f"{name} {key}") for key, value in environment.items()
            },
            "command": [unescape(part, f"{name} command") for part in command or []],
        }
    return services


@dataclasses.dataclass
class ImageLayout:
    """The image's root filesystem under ``root`` (``root/image``), built from ``context``."""

    root: Path
    context: Path = REPO_ROOT
    stages: list[Stage] = dataclasses.field(default_factory=list)
    services: dict[str, dict] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stages = parse_dockerfile((self.context / "Dockerfile").read_text())
        self.services = parse_compose((self.context / "docker-compose.yml").read_text())
        self.image = self.root / "image"
        self.image.mkdir(parents=True)
        self.building = None  # a Future of build(), when it runs in the background
        os.chmod(self.root, 0o755)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    @property
    def workdir(self) -> str:
        return self.final.last("WORKDIR") or "/"

    @property
    def user(self) -> str | None:
        return self.final.last("USER")

    @property
    def cmd(self) -> list[str]:
        return json.loads(self.final.last("CMD"))

    def tmp(self, container: str) -> Path:
        """The /tmp of one container (each service's own, as in compose)."""
        return self.root / "containers" / container / "tmp"

    def host_path(self, container_path: str, container: str) -> Path:
        if container_path == "/tmp" or container_path.startswith("/tmp/"):
            return self.tmp(container) / container_path[len("/tmp") :].lstrip("/")
        return self.image / container_path.lstrip("/")

    def translate(self, text: str, container: str) -> str:
        return _CONTAINER_PATH.sub(lambda m: str(self.host_path(m.group(1), container)), text)

    # -- building ----------------------------------------------------------------------------

    def build(self) -> None:
        """Carry out the stages: the builder's RUN lines, then the final stage's copies."""
        by_name = {stage.name: stage for stage in self.stages if stage.name}
        for source, _, _ in self.final.copies:
            assert source is None or source in by_name, (
                f"COPY --from={source}: only the Dockerfile's own stages (the build must need "
                "the package registries alone, no other image)"
            )
        taken = {src: dest for source, srcs, dest in self.final.copies if source for src in srcs}
        for src, dest in taken.items():
            assert src == dest, f"COPY --from {src} {dest}: a venv must stay where it was built"
        ignored = dockerignore_patterns(self.context)
        for stage in self.stages[:-1]:
            self._build_stage(stage, ignored)
        # Whatever the builder made and the final stage does not take is not in the image.
        self._prune(self.image, "", set(taken))
        shutil.rmtree(self.root / "containers" / "builder", ignore_errors=True)
        workdir = self.host_path(self.workdir, "image")
        workdir.mkdir(parents=True, exist_ok=True)
        for source, sources, dest in self.final.copies:
            if source is None:
                target = dest if dest.startswith("/") else f"{self.workdir}/{dest}"
                copy_from_context(self.context, sources, self.host_path(target, "image"), ignored)
        # The final stage may only make its user: anything else it ran would be missing here.
        for args in self.final.args("RUN"):
            for command in args.split("&&"):
                words = shlex.split(command)
                assert words[0] in {"groupadd", "useradd"}, (
                    f"RUN {args}: the image test does not know how to reproduce it"
                )
                if words[0] == "useradd":
                    assert words[-1] == self.user, f"RUN {args}: not the USER {self.user}"

    def _prune(self, folder: Path, container_path: str, keep: set[str]) -> None:
        for child in folder.iterdir():
            path = f"{container_path}/{child.name}"
            if path in keep:
                continue
            if any(kept.startswith(path + "/") for kept in keep):
                self._prune(child, path, keep)
            elif child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def _build_stage(self, stage: Stage, ignored) -> None:
        env = stage.env(BASE_IMAGE_ENV)
        for keyword, args in stage.instructions:
            if keyword == "COPY":
                source, sources, dest = self._copy_of(args)
                assert source is None, f"COPY {args}: from the build context only, in a builder"
                copy_from_context(self.context, sources, self.host_path(dest, "builder"), ignored)
                if dest.endswith("/"):
                    self.host_path(dest, "builder").mkdir(parents=True, exist_ok=True)
            elif keyword == "RUN":
                self._run(args, env)
            elif keyword not in {"ENV", "WORKDIR", "ARG", "LABEL"}:
                raise AssertionError(f"{keyword} {args}: the image test does not know it")

    @staticmethod
    def _copy_of(args: str) -> tuple[str | None, list[str], str]:
        return Stage("", None, [("COPY", args)]).copies[0]

    def _run(self, args: str, env: dict[str, str]) -> None:
        words = shlex.split(args)
        if words[:2] == ["pip", "install"]:
            # uv itself, from PyPI: this machine's uv (the one the suite runs) must be a
            # version the Dockerfile asks for.
            (spec,) = [w for w in words[2:] if w.startswith("uv") and not w.startswith("-")]
            wanted = SpecifierSet(spec[2:])
            have = subprocess.run(
                [str(VENV_BIN / "uv"), "--version"], capture_output=True, text=True, check=True
            ).stdout.split()[1]
            assert Version(have) in wanted, f"uv {have} here, the Dockerfile wants {spec}"
            return
        if words[:3] == ["python", "-m", "venv"]:
            # Without pip (seconds saved): nothing in the image runs pip.
            argv = [str(base_python()), "-m", "venv", "--without-pip", *words[3:]]
        elif words[:3] == ["uv", "pip", "install"]:
            # With uv's cache (the image is built without one): seconds instead of minutes.
            argv = [str(VENV_BIN / "uv"), *(w for w in words[1:] if w != "--no-cache")]
        else:
            raise AssertionError(f"RUN {args}: the image test does not know how to reproduce it")
        argv = [self.translate(word, "builder") for word in argv]
        run_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))},
            **{k: v for k, v in env.items() if k != "PATH"},
            # These two make the image start faster; here they would cost half a minute:
            # the services get a bytecode cache of their own instead (see service()).
            "UV_COMPILE_BYTECODE": "0",
            "UV_LINK_MODE": "hardlink",
        }
        result = subprocess.run(argv, env=run_env, capture_output=True, text=True)
        assert result.returncode == 0, f"RUN {args}:\n{result.stdout}{result.stderr}"

    # -- running -----------------------------------------------------------------------------

    def service_environment(self, name: str, overrides: dict[str, str]) -> dict[str, str]:
        """What the container of compose service ``name`` would see, with ``overrides`` (the
        addresses and credentials of this machine's servers) in place of the compose
        network's; each overridden variable must be one compose sets."""
        compose_env = self.services[name]["environment"]
        unknown = sorted(set(overrides) - set(compose_env))
        assert not unknown, f"{name}: compose no longer sets {unknown}"
        env = self.final.env(BASE_IMAGE_ENV)
        env.update(HOME=self.workdir)  # the user's home (useradd --home), as Docker sets it
        env.update(compose_env)
        env.update(overrides)
        return {key: self.translate(value, name) for key, value in env.items()}

    def service_command(self, name: str) -> list[str]:
        return [self.translate(part, name) for part in self.services[name]["command"]]

    def popen_kwargs(self, name: str) -> dict:
        """cwd at WORKDIR, an unprivileged user when we can switch to one, a fresh /tmp."""
        tmp = self.tmp(name)
        tmp.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o1777)
        os.chmod(tmp.parent, 0o755)
        os.chmod(tmp.parent.parent, 0o755)
        kwargs: dict = {"cwd": self.host_path(self.workdir, name), "start_new_session": True}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            kwargs.update(user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
        return kwargs
