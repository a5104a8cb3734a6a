"""Reading upstream pages into the shape the filters see."""

from __future__ import annotations

from warehouse.upstreams.client import _document, _file_from_json, _file_from_link, _Links

PAGE = """<!DOCTYPE html><html><body>
<a href="../../files/demo-1.0.tar.gz#sha256=AB12" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>
<a href="https://cdn.example/demo-2.0-py3-none-any.whl#sha256=cd34" data-core-metadata="sha256=ef56"
   data-yanked="">demo-2.0-py3-none-any.whl</a>
<a href="demo-3.0.exe#sha256=00">demo-3.0.exe</a>
<a href="demo-4.0.tar.gz">demo-4.0.tar.gz</a>
</body></html>"""


def test_pep503_links_become_files_with_absolute_urls_and_digests():
    base = "http://up.example/simple/demo/"
    files = [_file_from_link(base, *link) for link in _Links.parse(PAGE)]
    sdist, wheel = files[0], files[1]
    assert sdist["url"] == "http://up.example/files/demo-1.0.tar.gz"
    assert sdist["digests"] == {"sha256": "ab12"}
    assert sdist["requires_python"] == ">=3.8"
    assert (wheel["core_metadata"], wheel["yanked"]) == ("ef56", True)
    document = _document("demo", files, None)
    # Versions and types come from the filenames; files of unknown type or without a
    # sha256 are left out (nothing could verify them).
    assert list(document["releases"]) == ["1.0", "2.0"]
    assert document["releases"]["2.0"][0]["packagetype"] == "bdist_wheel"
    assert document["info"] == {"name": "demo", "version": "2.0"}


def test_json_api_adds_package_types_and_the_current_version():
    page = {
        "filename": "demo-1.0-py3-none-any.whl",
        "url": "/packages/aa/demo-1.0-py3-none-any.whl",
        "hashes": {"sha256": "AA"},
        "core-metadata": {"sha256": "bb"},
        "yanked": "broken",
        "size": 10,
        "upload-time": "2024-01-01T00:00:00.000000Z",
    }
    f = _file_from_json("http://up.example/simple/demo/", page)
    assert f["url"] == "http://up.example/packages/aa/demo-1.0-py3-none-any.whl"
    assert (f["yanked"], f["yanked_reason"], f["core_metadata"]) == (True, "broken", "bb")
    api = {
        "info": {"name": "Demo", "version": "1.0", "summary": "s"},
        "releases": {
            "1.0": [
                {
                    "filename": "demo-1.0-py3-none-any.whl",
                    "packagetype": "bdist_wheel",
                    "python_version": "py3",
                    "digests": {"blake2b_256": "cc"},
                }
            ]
        },
    }
    document = _document("demo", [f], api)
    (file,) = document["releases"]["1.0"]
    assert file["digests"] == {"sha256": "aa", "blake2b_256": "cc"}
    assert document["info"]["summary"] == "s"
