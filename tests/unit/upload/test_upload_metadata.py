"""Unit tests for warehouse.upload.metadata and warehouse.upload.errors (no database, no web)."""

import pytest

from warehouse.upload.errors import UploadError
from warehouse.upload.metadata import (
    SUPPORTED_METADATA_VERSIONS,
    UploadForm,
    parse_upload_form,
    render_description,
)

SHA256 = "a" * 64
BLAKE2 = "b" * 64
MD5 = "c" * 32


def fields(**overrides: str | list[str] | None) -> dict[str, list[str]]:
    """A minimal valid sdist upload form; overrides replace fields, None removes one."""
    form = {
        ":action": ["file_upload"],
        "protocol_version": ["1"],
        "metadata_version": ["2.1"],
        "name": ["example"],
        "version": ["1.0"],
        "filetype": ["sdist"],
        "pyversion": ["source"],
    }
    for key, value in overrides.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = [value] if isinstance(value, str) else value
    return form


def parse(**overrides: str | list[str] | None) -> UploadForm:
    return parse_upload_form(fields(**overrides))


def rejection(**overrides: str | list[str] | None) -> str:
    with pytest.raises(UploadError) as excinfo:
        parse(**overrides)
    assert excinfo.value.status == 400
    return excinfo.value.message


# --- UploadError -------------------------------------------------------------------------------


def test_upload_error_defaults_to_400():
    error = UploadError("Nope.")
    assert (error.message, error.status, str(error)) == ("Nope.", 400, "Nope.")


def test_upload_error_keeps_the_given_status():
    assert UploadError("Too big.", status=413).status == 413


def test_upload_error_message_is_one_latin1_line():
    error = UploadError("Caf\u00e9 \u2603\r\nsecond\x00line.")
    assert error.message == "Caf\u00e9 \\u2603 second line."
    error.message.encode("latin-1")


def test_upload_error_message_is_bounded():
    assert len(UploadError("x" * 10_000).message) <= 1000


# --- A valid form ------------------------------------------------------------------------------


def test_minimal_sdist_form():
    form = parse()
    assert form.name == "example"
    assert form.version == "1.0"
    assert form.canonical_version == "1"
    assert form.is_prerelease is False
    assert form.metadata_version == "2.1"
    assert form.filetype == "sdist"
    assert form.pyversion == "source"
    assert form.md5_digest is form.sha256_digest is form.blake2_256_digest is None
    assert form.summary is form.description is form.requires_python is None
    assert form.classifiers == form.requires_dist == form.project_urls == []


def test_full_twine_style_form():
    form = parse(
        metadata_version="2.4",
        filetype="bdist_wheel",
        pyversion="py2.py3",
        sha256_digest=SHA256.upper(),
        blake2_256_digest=BLAKE2,
        md5_digest=MD5,
        summary="  A summary  ",
        description="Title\n=====\n\n  indented\n",
        description_content_type="text/x-rst",
        keywords="a, b",
        author="Jane",
        author_email="Jane Doe <jane@example.com>",
        maintainer="Bob",
        maintainer_email="bob@example.org",
        license="Some license text",
        license_expression="MIT OR Apache-2.0",
        license_file=["LICENSE", "licenses/NOTICE.txt"],
        home_page="https://example.com",
        download_url="https://example.com/download",
        requires_python=">=3.9, <4",
        platform=["any", ""],
        supported_platform=["linux"],
        classifiers=["Programming Language :: Python :: 3", "Topic :: Utilities"],
        requires_dist=["requests>=2", 'tomli; python_version < "3.11"', "pytest; extra == 'test'"],
        provides_dist=["example-virtual"],
        obsoletes_dist=["old-example<1"],
        requires_external=["libpq"],
        provides_extra=["test"],
        dynamic=["Requires-Dist"],
        project_urls=["Homepage, https://example.com", "Source, https://example.com/src"],
        comment="ignored",
        attestations="[]",
    )
    assert form.pyversion == "py2.py3"
    assert form.sha256_digest == SHA256
    assert form.blake2_256_digest == BLAKE2
    assert form.md5_digest == MD5
    assert form.summary == "A summary"
    assert form.description == "Title\n=====\n\n  indented\n"
    assert form.license_expression == "MIT OR Apache-2.0"
    assert form.license_files == ["LICENSE", "licenses/NOTICE.txt"]
    assert form.platform == ["any"]
    assert form.requires_dist[1] == 'tomli; python_version < "3.11"'
    assert form.dynamic == ["Requires-Dist"]
    assert form.project_urls == [
        ("Homepage", "https://example.com"),
        ("Source", "https://example.com/src"),
    ]


def test_empty_strings_count_as_absent():
    form = parse(summary="", home_page="", requires_python="", sha256_digest="", classifiers=[""])
    assert form.summary is form.home_page is form.requires_python is form.sha256_digest is None
    assert form.classifiers == []


def test_unknown_fields_are_ignored():
    assert parse(gpg_signature="x", comment="y", **{"Name": "other"}).name == "example"


def test_repeated_single_field_with_different_values_is_rejected():
    assert rejection(name=["one", "two"]) == "Form field 'name' must be given only once."


def test_repeated_single_field_with_the_same_value_is_accepted():
    assert parse(name=["same", "same"]).name == "same"


def test_nul_character_is_rejected():
    assert rejection(summary="a\x00b") == "Form field 'summary' contains a NUL character."


def test_non_text_value_is_rejected():
    assert rejection(summary=[b"bytes"]) == "Form field 'summary' must be text."


def test_plain_string_values_are_accepted():
    form = parse_upload_form({**fields(), "name": "plain"})
    assert form.name == "plain"


# --- :action and protocol_version --------------------------------------------------------------


def test_missing_action_is_rejected():
    assert rejection(**{":action": None}) == "Missing required form field ':action'."


@pytest.mark.parametrize("action", ["submit", "doc_upload", "remove_pkg"])
def test_other_actions_are_rejected(action):
    assert rejection(**{":action": action}) == f"Unknown action: '{action}'."


def test_missing_protocol_version_means_1():
    assert parse(protocol_version=None).name == "example"


def test_other_protocol_versions_are_rejected():
    assert rejection(protocol_version="2") == "Unknown protocol version: '2'."


# --- metadata_version, name, version -----------------------------------------------------------


@pytest.mark.parametrize("metadata_version", SUPPORTED_METADATA_VERSIONS)
def test_supported_metadata_versions(metadata_version):
    assert parse(metadata_version=metadata_version).metadata_version == metadata_version


@pytest.mark.parametrize("metadata_version", ["1.3", "2.6", "3.0", "2", "two"])
def test_unknown_metadata_versions_are_rejected(metadata_version):
    message = rejection(metadata_version=metadata_version)
    assert message.startswith(f"'{metadata_version}' is an invalid value for Metadata-Version:")


@pytest.mark.parametrize("field", ["metadata_version", "name", "version", "filetype"])
def test_required_fields(field):
    assert rejection(**{field: None}) == f"Missing required form field '{field}'."
    assert rejection(**{field: "  "}) == f"Missing required form field '{field}'."


@pytest.mark.parametrize("name", ["a", "Z", "a1", "foo.bar", "Foo_Bar-baz", "0x", "a--b"])
def test_valid_names(name):
    assert parse(name=name).name == name


@pytest.mark.parametrize(
    "name",
    [
        "-foo",
        "foo-",
        "_foo",
        "foo.",
        "foo bar",
        "f\u00f6\u00f6",
        "\u017f",  # LATIN SMALL LETTER LONG S, which IGNORECASE alone matches to 's'
        "\u212a",  # KELVIN SIGN, which IGNORECASE alone matches to 'k'
        "foo/bar",
    ],
)
def test_invalid_names_are_rejected(name):
    assert " is an invalid value for Name: " in rejection(name=name)


def test_versions_are_kept_as_sent_with_a_canonical_form():
    form = parse(version="1.0.0")
    assert (form.version, form.canonical_version) == ("1.0.0", "1")


@pytest.mark.parametrize("version", ["1.0rc1", "2.0.dev3", "1.0a1.post1"])
def test_prereleases(version):
    assert parse(version=version).is_prerelease is True


@pytest.mark.parametrize("version", ["not a version", "1.0-foo-bar", "1..0"])
def test_invalid_versions_are_rejected(version):
    assert rejection(version=version).startswith(f"'{version}' is an invalid value for Version:")


def test_local_versions_are_rejected():
    assert rejection(version="1.0+local.1") == "Can't use PEP 440 local versions."


# --- filetype and pyversion --------------------------------------------------------------------


@pytest.mark.parametrize("filetype", ["bdist_egg", "bdist_wininst", "bdist_dumb", "bdist_msi"])
def test_unsupported_filetypes_are_rejected(filetype):
    assert rejection(filetype=filetype) == (
        f"Unsupported filetype '{filetype}': only 'sdist' and 'bdist_wheel' uploads are accepted."
    )


@pytest.mark.parametrize("pyversion", ["source", "", None])
def test_sdist_pyversion_is_source(pyversion):
    assert parse(pyversion=pyversion).pyversion == "source"


def test_sdist_with_another_pyversion_is_rejected():
    assert rejection(pyversion="py3") == "Use 'source' as Python version for an sdist."


@pytest.mark.parametrize("pyversion", ["", None])
def test_wheel_requires_pyversion(pyversion):
    assert rejection(filetype="bdist_wheel", pyversion=pyversion) == (
        "Python version is required for binary distribution uploads."
    )


def test_wheel_pyversion():
    assert parse(filetype="bdist_wheel", pyversion="cp312").pyversion == "cp312"


# --- digests -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("md5_digest", "c" * 31),
        ("md5_digest", "g" * 32),
        ("sha256_digest", "a" * 63),
        ("sha256_digest", "a" * 65),
        ("sha256_digest", "z" * 64),
        ("blake2_256_digest", "b" * 32),
        ("blake2_256_digest", "\u0660" * 64),  # ARABIC-INDIC DIGIT ZERO is no hex digit
    ],
)
def test_malformed_digests_are_rejected(field, value):
    assert f" is an invalid value for {field}: use a hex-encoded digest" in rejection(
        **{field: value}
    )


def test_digests_are_optional_and_lower_cased():
    form = parse(sha256_digest=SHA256.upper(), md5_digest=MD5.upper())
    assert (form.sha256_digest, form.md5_digest, form.blake2_256_digest) == (SHA256, MD5, None)


# --- summary, description ----------------------------------------------------------------------


def test_summary_of_512_characters_is_accepted():
    assert parse(summary="s" * 512).summary == "s" * 512


def test_summary_over_512_characters_is_rejected():
    assert rejection(summary="s" * 513).endswith(
        "is an invalid value for Summary: use 512 characters or less."
    )


@pytest.mark.parametrize("summary", ["one\ntwo", "one\r\ntwo", "one\rtwo"])
def test_multi_line_summary_is_rejected(summary):
    assert rejection(summary=summary).endswith(
        "is an invalid value for Summary: use a single line only."
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/x-rst",
        "text/markdown",
        "TEXT/Markdown",
        "text/plain; charset=UTF-8",
        "text/x-rst; charset=utf-8",
        "text/markdown; charset=UTF-8; variant=GFM",
        "text/markdown; variant=CommonMark",
        'text/markdown; variant="gfm"',
    ],
)
def test_valid_description_content_types(content_type):
    assert parse(description_content_type=content_type).description_content_type == content_type


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        ("text/html", "use one of text/plain, text/x-rst, text/markdown"),
        ("markdown", "use one of text/plain, text/x-rst, text/markdown"),
        ("text/markdown; charset=latin-1", "use charset=UTF-8 or no charset"),
        ("text/plain; charset=utf-16", "use charset=UTF-8 or no charset"),
        ("text/markdown; variant=Kramdown", "use variant=GFM or CommonMark"),
    ],
)
def test_invalid_description_content_types_are_rejected(content_type, reason):
    assert rejection(description_content_type=content_type) == (
        f"'{content_type}' is an invalid value for Description-Content-Type: {reason}."
    )


# --- URLs and emails ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["home_page", "download_url"])
@pytest.mark.parametrize(
    "url", ["https://example.com/x?y=1", "http://127.0.0.1:8000/", "HTTPS://A.B"]
)
def test_valid_urls(field, url):
    assert getattr(parse(**{field: url}), field) == url


@pytest.mark.parametrize("field", ["home_page", "download_url"])
@pytest.mark.parametrize(
    "url",
    [
        "example.com",
        "ftp://example.com",
        "javascript:alert(1)",
        "https://",
        "https://a b.com",
        "http://[::1",
    ],
)
def test_invalid_urls_are_rejected(field, url):
    assert rejection(**{field: url}).endswith("use a valid http:// or https:// URL.")


def test_unknown_url_placeholder_counts_as_absent():
    # Old setuptools wrote "UNKNOWN" for metadata it did not have.
    assert parse(home_page="UNKNOWN").home_page is None


@pytest.mark.parametrize("field", ["author_email", "maintainer_email"])
@pytest.mark.parametrize(
    "emails",
    [
        "jane@example.com",
        "Jane Doe <jane@example.com>",
        '"Doe, Jane" <jane@example.com>, bob@example.org',
        "root@localhost",
    ],
)
def test_valid_emails(field, emails):
    assert getattr(parse(**{field: emails}), field) == emails


@pytest.mark.parametrize("field", ["author_email", "maintainer_email"])
@pytest.mark.parametrize("emails", ["jane at example dot com", "Jane Doe", "a@b, nobody"])
def test_invalid_emails_are_rejected(field, emails):
    assert "use email addresses such as" in rejection(**{field: emails})


# --- requirements ------------------------------------------------------------------------------


@pytest.mark.parametrize("specifier", [">=3.9", ">=3.8, <4", "~=3.10", "==3.*", "!=3.9.1,>=3.9"])
def test_valid_requires_python(specifier):
    assert parse(requires_python=specifier).requires_python == specifier


@pytest.mark.parametrize("specifier", [">=3.x", "3.8", "python>=3", ">= three"])
def test_invalid_requires_python_is_rejected(specifier):
    assert rejection(requires_python=specifier).startswith(
        f"'{specifier}' is an invalid value for Requires-Python:"
    )


@pytest.mark.parametrize("field", ["requires_dist", "provides_dist", "obsoletes_dist"])
@pytest.mark.parametrize("requirement", ["foo >>> 1", "foo[", "foo; python_version >", "!foo"])
def test_invalid_requirements_are_rejected(field, requirement):
    assert " use a PEP 508 requirement" in rejection(**{field: ["ok", requirement]})


def test_direct_url_dependencies_are_rejected():
    requirement = "foo @ https://example.com/foo-1.0.tar.gz"
    assert rejection(requires_dist=requirement) == f"Can't have direct dependency: '{requirement}'."


@pytest.mark.parametrize("field", ["provides_dist", "obsoletes_dist"])
def test_pep345_name_and_version_is_accepted(field):
    assert getattr(parse(**{field: "Other (3.4)"}), field) == ["Other (3.4)"]


@pytest.mark.parametrize(
    "field",
    ["requires_external", "requires", "provides", "obsoletes", "platform", "supported_platform"],
)
def test_free_form_lists(field):
    assert getattr(parse(**{field: ["anything (goes)", "  x  ", ""]}), field) == [
        "anything (goes)",
        "x",
    ]


# --- classifiers, extras, dynamic --------------------------------------------------------------


def test_valid_classifiers():
    classifiers = [
        "Development Status :: 5 - Production/Stable",
        "License :: OSI Approved :: MIT License",
    ]
    assert parse(classifiers=classifiers).classifiers == classifiers


@pytest.mark.parametrize(
    "classifier", ["Foo :: Bar", "Private :: Do Not Upload", "programming language :: python"]
)
def test_unknown_classifiers_are_rejected(classifier):
    assert rejection(classifiers=["Topic :: Utilities", classifier]) == (
        f"Classifier '{classifier}' is not a valid classifier."
    )


def test_deprecated_classifiers_are_rejected_with_their_replacement():
    message = rejection(classifiers="Natural Language :: Ukranian")
    assert message == (
        "Classifier 'Natural Language :: Ukranian' has been deprecated: "
        "use 'Natural Language :: Ukrainian' instead."
    )


def test_deprecated_classifier_without_replacement():
    message = rejection(classifiers="License :: OSI Approved :: Intel Open Source License")
    assert message == (
        "Classifier 'License :: OSI Approved :: Intel Open Source License' has been deprecated."
    )


def test_valid_extras():
    assert parse(provides_extra=["test", "Dev_Tools", "a.b"]).provides_extra == [
        "test",
        "Dev_Tools",
        "a.b",
    ]


@pytest.mark.parametrize("extra", ["my extra", "-dev", "d\u00e9v"])
def test_invalid_extras_are_rejected(extra):
    assert rejection(provides_extra=extra).startswith(
        f"{extra!r} is an invalid value for Provides-Extra:"
    )


@pytest.mark.parametrize(
    "dynamic", ["Requires-Dist", "requires-python", "LICENSE-FILE", "Import-Name"]
)
def test_valid_dynamic_fields(dynamic):
    assert parse(metadata_version="2.2", dynamic=dynamic).dynamic == [dynamic]


@pytest.mark.parametrize("dynamic", ["Name", "version", "Metadata-Version"])
def test_identity_fields_cannot_be_dynamic(dynamic):
    assert rejection(metadata_version="2.2", dynamic=dynamic) == (
        f"'{dynamic}' is an invalid value for Dynamic: Name, Version and Metadata-Version are static."
    )


@pytest.mark.parametrize("dynamic", ["Foo", "requires_dist", "Classifiers"])
def test_unknown_dynamic_fields_are_rejected(dynamic):
    assert rejection(metadata_version="2.2", dynamic=dynamic) == (
        f"'{dynamic}' is an invalid value for Dynamic: not a core metadata field name."
    )


def test_dynamic_needs_metadata_2_2():
    assert rejection(metadata_version="2.1", dynamic="Requires-Dist") == (
        "Dynamic requires metadata version 2.2 or later."
    )


# --- project URLs ------------------------------------------------------------------------------


def test_project_urls_are_label_url_pairs():
    form = parse(
        project_urls=["Bug Tracker,https://example.com/issues", "Docs ,  https://docs.example"]
    )
    assert form.project_urls == [
        ("Bug Tracker", "https://example.com/issues"),
        ("Docs", "https://docs.example"),
    ]


def test_project_url_label_of_32_characters_is_accepted():
    assert parse(project_urls=f"{'l' * 32}, https://example.com").project_urls[0][0] == "l" * 32


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("https://example.com", "use 'Label, URL'"),
        (", https://example.com", "use 'Label, URL'"),
        (f"{'l' * 33}, https://example.com", "use a label of 32 characters or less"),
        ("Home, example.com", "use a valid http:// or https:// URL"),
        ("Home, ftp://example.com", "use a valid http:// or https:// URL"),
    ],
)
def test_invalid_project_urls_are_rejected(entry, reason):
    assert (
        rejection(project_urls=entry) == f"{entry!r} is an invalid value for Project-URL: {reason}."
    )


def test_duplicate_project_url_labels_are_rejected():
    message = rejection(project_urls=["Home, https://a.example", "Home, https://b.example"])
    assert message.endswith("the label 'Home' is used twice.")


# --- licenses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression", ["MIT", "mit or apache-2.0", "(MIT AND BSD-3-Clause) OR LicenseRef-Mine"]
)
def test_valid_license_expressions(expression):
    assert (
        parse(metadata_version="2.4", license_expression=expression).license_expression
        == expression
    )


@pytest.mark.parametrize("expression", ["Not A License(", "MIT OR", "GPL-2.0+ WITH"])
def test_invalid_license_expressions_are_rejected(expression):
    assert rejection(metadata_version="2.4", license_expression=expression).startswith(
        f"'{expression}' is an invalid value for License-Expression:"
    )


def test_license_expression_needs_metadata_2_4():
    assert rejection(metadata_version="2.3", license_expression="MIT") == (
        "License-Expression requires metadata version 2.4 or later."
    )


def test_license_expression_supersedes_license_classifiers():
    message = rejection(
        metadata_version="2.4",
        license_expression="MIT",
        classifiers="License :: OSI Approved :: MIT License",
    )
    assert message.startswith("License classifiers have been superseded by license expressions")
    assert "'License :: OSI Approved :: MIT License'" in message


def test_license_files_accept_both_spellings():
    form = parse(metadata_version="2.4", license_file="LICENSE", license_files="COPYING")
    assert form.license_files == ["LICENSE", "COPYING"]


def test_license_files_before_metadata_2_4_are_ignored():
    # setuptools wrote License-File into 2.1 metadata; twine drops them and so do we.
    assert parse(metadata_version="2.1", license_file="../weird").license_files == []


@pytest.mark.parametrize(
    "path",
    ["../LICENSE", "/LICENSE", "C:/LICENSE", "licenses\\MIT", "a/../LICENSE", "./LICENSE", "a//b"],
)
def test_unsafe_license_file_paths_are_rejected(path):
    assert rejection(metadata_version="2.4", license_file=path).startswith(
        f"{path!r} is an invalid value for License-File:"
    )


# --- render_description ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "  \n"])
def test_no_description_renders_to_none(text):
    assert render_description(text, "text/markdown") is None


def test_description_without_content_type_renders_as_rst():
    html = render_description("Title\n=====\n\nSome *emphasis*.", None)
    assert "<em>emphasis</em>" in html


def test_broken_rst_without_content_type_falls_back_to_plain_text():
    html = render_description("Hello *world <b>x</b>", None)
    assert html == "Hello *world &lt;b&gt;x&lt;/b&gt;"


def test_broken_rst_with_explicit_content_type_is_rejected():
    with pytest.raises(UploadError) as excinfo:
        render_description("Hello *world", "text/x-rst")
    assert excinfo.value.message == (
        "The description failed to render for 'text/x-rst'. "
        "See https://pypi.org/help/#description-content-type for more information."
    )


def test_markdown_defaults_to_gfm():
    html = render_description(
        "# Title\n\n~~gone~~ and a | table |\n|---|---|\n| a | b |", "text/markdown"
    )
    assert "<h1" in html and "<del>gone</del>" in html and "<table>" in html


def test_markdown_commonmark_variant():
    html = render_description("~~kept~~", "text/markdown; variant=CommonMark")
    assert "<del>" not in html and "~~kept~~" in html


def test_rendered_markdown_is_sanitized():
    html = render_description(
        "<script>alert(1)</script>\n\n[x](javascript:alert(1))", "text/markdown"
    )
    assert "<script" not in html and "javascript:" not in html


def test_plain_text_is_escaped():
    assert render_description("a <b>\nc", "text/plain") == "a &lt;b&gt;<br>c"


def test_render_rejects_an_invalid_content_type():
    with pytest.raises(UploadError):
        render_description("text", "text/html")
