"""Each bandersnatch plugin, with bandersnatch 8's meaning (see warehouse.upstreams.filters)."""

from __future__ import annotations

import pytest

from warehouse.upstreams.filters import FilterConfigError, Filters, parse_size


def doc(name="demo", latest="2.0", releases=None) -> dict:
    releases = releases or {
        "1.0": [wheel("demo-1.0-py3-none-any.whl"), sdist("demo-1.0.tar.gz")],
        "2.0rc1": [wheel("demo-2.0rc1-py3-none-any.whl")],
        "2.0": [
            wheel("demo-2.0-cp311-cp311-win_amd64.whl"),
            wheel("demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
            wheel("demo-2.0-cp311-cp311-macosx_11_0_arm64.whl"),
            sdist("demo-2.0.tar.gz"),
        ],
        "0.9": [],
    }
    return {"info": {"name": name, "version": latest}, "releases": releases}


def wheel(filename, size=100, time="2024-01-01T00:00:00.000000Z"):
    return {
        "filename": filename,
        "packagetype": "bdist_wheel",
        "size": size,
        "upload_time_iso_8601": time,
    }


def sdist(filename, size=100, time="2024-01-01T00:00:00.000000Z"):
    return {
        "filename": filename,
        "packagetype": "sdist",
        "size": size,
        "upload_time_iso_8601": time,
    }


def files(result) -> set[str]:
    return {f["filename"] for fs in (result or {}).values() for f in fs}


def config(plugins: str, body: str = "") -> Filters:
    lines = "\n".join(f"    {p}" for p in plugins.split())
    return Filters.from_config(f"[mirror]\ndirectory = /x\n[plugins]\nenabled =\n{lines}\n{body}")


def test_no_plugins_keeps_everything_but_releases_without_files():
    result = Filters.from_config("").releases_to_mirror(doc())
    assert list(result) == ["1.0", "2.0rc1", "2.0"]
    assert len(files(result)) == 7


def test_allowlist_project():
    f = config("allowlist_project", "[allowlist]\npackages =\n    Foo_Bar  # ours\n    baz>=1\n")
    assert f.project_allowed("foo-bar") and f.project_allowed("Foo.Bar")
    assert f.project_allowed("baz")
    assert not f.project_allowed("other")


def test_allowlist_project_without_names_allows_all():
    assert config("allowlist_project").project_allowed("anything")


def test_blocklist_project_ignores_lines_with_specifiers():
    f = config("blocklist_project", "[blocklist]\npackages =\n    Evil_Pkg\n    demo>2\n")
    assert not f.project_allowed("evil-pkg")
    assert f.project_allowed("demo")


def test_regex_project_matches_the_name_as_listed():
    f = config("regex_project", "[filter_regex]\npackages =\n    .*-internal$\n")
    assert not f.project_allowed("acme-internal")
    assert f.project_allowed("acme")


def test_plugins_not_enabled_are_ignored():
    f = config("allowlist_project", "[blocklist]\npackages =\n    demo\n")
    assert f.project_allowed("demo")


def test_all_enables_every_plugin():
    f = Filters.from_config("[plugins]\nenabled = all\n[blocklist]\npackages =\n    demo\n")
    assert not f.project_allowed("demo")


def test_allowlist_release_keeps_matching_versions_prereleases_included():
    f = config("allowlist_release", "[allowlist]\npackages =\n    demo>=2.0rc1\n")
    assert list(f.releases_to_mirror(doc())) == ["2.0rc1", "2.0"]
    other = doc(name="other")
    assert f.releases_to_mirror(other) == {}


def test_blocklist_release():
    f = config("blocklist_release", "[blocklist]\npackages =\n    demo==1.0\n")
    assert list(f.releases_to_mirror(doc())) == ["2.0rc1", "2.0"]


def test_prerelease_release_all_or_listed_projects():
    assert list(config("prerelease_release").releases_to_mirror(doc())) == ["1.0", "2.0"]
    listed = config("prerelease_release", "[filter_prerelease]\npackages =\n    other\n")
    assert "2.0rc1" in listed.releases_to_mirror(doc())


def test_regex_release():
    f = config("regex_release", "[filter_regex]\nreleases =\n    ^1\\.\n")
    assert list(f.releases_to_mirror(doc())) == ["2.0rc1", "2.0"]


def test_latest_release_by_version_keeps_the_upstream_current_version():
    f = config("latest_release", "[latest_release]\nkeep = 1\n")
    # 2.0 is both the newest and the current version.
    assert list(f.releases_to_mirror(doc())) == ["2.0"]
    # The current version replaces the last kept when it is not among the newest.
    assert list(f.releases_to_mirror(doc(latest="1.0"))) == ["1.0"]
    two = config("latest_release", "[latest_release]\nkeep = 2\n")
    assert list(two.releases_to_mirror(doc(latest="1.0"))) == ["1.0", "2.0"]


def test_latest_release_by_time():
    releases = {
        "3.0": [sdist("d-3.0.tar.gz", time="2020-01-01T00:00:00Z")],
        "1.0": [sdist("d-1.0.tar.gz", time="2024-01-01T00:00:00Z")],
    }
    f = config("latest_release", "[latest_release]\nkeep = 1\nsort_by = time\n")
    assert list(f.releases_to_mirror(doc(latest="1.0", releases=releases))) == ["1.0"]


def test_latest_release_sees_releases_other_plugins_dropped_before_it():
    # prerelease_release drops 2.0rc1 first; latest keeps the two newest of what is left.
    f = config("prerelease_release latest_release", "[latest_release]\nkeep = 2\n")
    releases = {
        "3.0rc1": [sdist("d-3.0rc1.tar.gz")],
        "2.0": [sdist("d-2.0.tar.gz")],
        "1.0": [sdist("d-1.0.tar.gz")],
    }
    assert list(f.releases_to_mirror(doc(latest="2.0", releases=releases))) == ["2.0", "1.0"]


def test_exclude_platform():
    f = config("exclude_platform", "[blocklist]\nplatforms =\n    windows\n    macos\n")
    kept = files(f.releases_to_mirror(doc()))
    assert "demo-2.0-cp311-cp311-win_amd64.whl" not in kept
    assert "demo-2.0-cp311-cp311-macosx_11_0_arm64.whl" not in kept
    assert "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl" in kept
    linux = config("exclude_platform", "[blocklist]\nplatforms = linux\n")
    assert "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl" not in files(
        linux.releases_to_mirror(doc())
    )


def test_exclude_platform_python_versions_and_sdists():
    f = config("exclude_platform", "[blocklist]\nplatforms = py3.11\n")
    kept = files(f.releases_to_mirror(doc()))
    assert not any("cp311" in name for name in kept)
    assert "demo-2.0.tar.gz" in kept  # sdists are never excluded


def test_size_project_metadata_with_allowlisted_exception():
    body = "[size_project_metadata]\nmax_package_size = 500\n"
    assert config("size_project_metadata", body).releases_to_mirror(doc()) is None
    roomy = config("size_project_metadata", "[size_project_metadata]\nmax_package_size = 1K\n")
    assert roomy.releases_to_mirror(doc())
    body += "[allowlist]\npackages =\n    demo\n"
    assert config("size_project_metadata", body).releases_to_mirror(doc())


def test_parse_size_is_binary():
    assert parse_size("1K") == 1024
    assert parse_size("2 MB") == 2 * 1024 * 1024
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
    assert parse_size("10") == 10


def test_regex_release_file_metadata():
    body = "[regex_release_file_metadata]\nany:release_file.packagetype =\n    sdist\n"
    f = config("regex_release_file_metadata", body)
    kept = files(f.releases_to_mirror(doc()))
    assert kept == {"demo-1.0.tar.gz", "demo-2.0.tar.gz"}


def test_regex_release_file_metadata_none_and_search():
    body = (
        "[regex_release_file_metadata]\nsearch = true\n"
        "none:release_file.filename =\n    win\n    macosx\n"
    )
    kept = files(config("regex_release_file_metadata", body).releases_to_mirror(doc()))
    assert "demo-2.0-cp311-cp311-win_amd64.whl" not in kept
    assert "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl" in kept


def test_two_configs_side_by_side_do_not_share_settings():
    a = config("blocklist_project", "[blocklist]\npackages =\n    demo\n")
    b = config("blocklist_project", "[blocklist]\npackages =\n    other\n")
    assert not a.project_allowed("demo") and a.project_allowed("other")
    assert b.project_allowed("demo") and not b.project_allowed("other")


@pytest.mark.parametrize(
    "text",
    [
        "[plugins\nenabled = x",
        "[plugins]\nenabled = blocklist_project\n[blocklist]\npackages =\n    not a name!\n",
        "[plugins]\nenabled = regex_project\n[filter_regex]\npackages =\n    (unclosed\n",
    ],
)
def test_bad_configs_are_refused_with_a_reason(text):
    with pytest.raises(FilterConfigError):
        Filters.from_config(text)
