"""Filter parity: real bandersnatch 8 and warehouse.upstreams on one config and one upstream.

Both read the live server (an instance of this index) with the same unmodified bandersnatch
configuration; bandersnatch runs with ``release-files = false`` and its simple pages say which
files it would mirror; ours come from the same filters applied to what our upstream client
reads. The sets must be equal, project by project.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mirror.conftest import build
from tests.support.artifacts import make_sdist, make_wheel
from tests.support.bandersnatch import FLAVOURS, Bandersnatch, ensure_bandersnatch
from warehouse.upstreams.client import UpstreamClient
from warehouse.upstreams.filters import Filters

ONLY_PARITY = "[filter_regex]\npackages =\n    ^(?!parity-).*\n"

CONFIGS = {
    "names-platforms-latest": """
[plugins]
enabled =
    allowlist_project
    blocklist_project
    prerelease_release
    exclude_platform
    latest_release
[allowlist]
packages =
    parity-alpha
    parity-beta
    parity-gamma
    parity-blocked
[blocklist]
packages =
    parity-blocked
platforms =
    windows
    macos
[latest_release]
keep = 2
""",
    "releases-and-file-metadata": """
[plugins]
enabled =
    regex_project
    allowlist_release
    blocklist_release
    regex_release
    regex_release_file_metadata
"""
    + ONLY_PARITY
    + """releases =
    .*rc\\d+$
[allowlist]
packages =
    parity-alpha>=1.5
    parity-beta
    parity-gamma
[blocklist]
packages =
    parity-beta==0.2
[regex_release_file_metadata]
any:release_file.packagetype =
    sdist
    bdist_wheel
not-null:release_file.filename =
    .*(manylinux|tar[.]gz|none-any).*
""",
    "size": """
[plugins]
enabled =
    regex_project
    size_project_metadata
"""
    + ONLY_PARITY
    + """[size_project_metadata]
max_package_size = 3K
""",
}


@pytest.fixture(scope="module")
def parity_projects(mirror_uploader, tmp_path_factory) -> None:
    root = tmp_path_factory.mktemp("parity")
    uploads = []

    def add(name, version, paths):
        uploads.extend((name, version, path) for path in paths)

    for version in ("1.0", "2.0rc1", "2.0"):
        folder = root / "alpha" / version
        folder.mkdir(parents=True)
        paths = [make_sdist(folder, "parity-alpha", version)]
        for platform in ("win_amd64", "manylinux_2_17_x86_64", "macosx_11_0_arm64"):
            paths.append(
                make_wheel(
                    folder,
                    "parity-alpha",
                    version,
                    python_tag="cp311",
                    abi_tag="cp311",
                    platform_tag=platform,
                )
            )
        add("parity-alpha", version, paths)
    for version in ("0.1", "0.2", "0.3"):
        add("parity-beta", version, build(root / "beta" / version, "parity-beta", version, "w"))
    add("parity-gamma", "3.0", build(root / "gamma", "parity-gamma", "3.0", "ws"))
    add("parity-blocked", "1.0", build(root / "blocked", "parity-blocked", "1.0", "s"))
    mirror_uploader.upload(uploads)


def bandersnatch_files(directory: Path) -> dict[str, set[str]]:
    found = {}
    for page in (directory / "web" / "simple").glob("*/index.v1_json"):
        files = {f["filename"] for f in json.loads(page.read_text())["files"]}
        if files:
            found[page.parent.name] = files
    return found


def our_files(index_url: str, config: str) -> dict[str, set[str]]:
    filters = Filters.from_config(config)
    client = UpstreamClient(index_url)
    found = {}
    try:
        for name in client.index().projects:
            if not filters.project_allowed(name):
                continue
            page = client.project(name)
            releases = filters.releases_to_mirror(page.document) if page else None
            files = {f["filename"] for fs in (releases or {}).values() for f in fs}
            if files:
                found[page.name] = files
    finally:
        client.close()
    return found


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_same_files_as_bandersnatch_8(
    config_name, parity_projects, live_server, tls_front, tmp_path
):
    flavour = FLAVOURS["8"]
    mirror = Bandersnatch(
        flavour, ensure_bandersnatch(flavour), tmp_path / "mirror", tls_front.url, tls_front.ca_file
    )
    plugins = CONFIGS[config_name]
    mirror.config.write_text(
        "[mirror]\n"
        f"directory = {mirror.directory}\n"
        f"master = {tls_front.url}\n"
        "json = true\nrelease-files = false\nhash-index = false\nsimple-format = ALL\n"
        "workers = 2\ntimeout = 60\nglobal-timeout = 900\nstop-on-error = true\n" + plugins
    )
    mirror.run("mirror")
    theirs = bandersnatch_files(mirror.directory)
    ours = our_files(live_server.url + "/simple/", plugins)
    assert theirs, "bandersnatch mirrored nothing: the comparison would prove nothing"
    assert ours == theirs
    # And the filters did cut something: every parity project, unfiltered, has more.
    everything = our_files(
        live_server.url + "/simple/", "[plugins]\nenabled = regex_project\n" + ONLY_PARITY
    )
    everything = {k: v for k, v in everything.items() if k.startswith("parity-")}
    assert ours != everything
    assert all(files <= everything[name] for name, files in ours.items())
