"""Unit tests for warehouse.upload.artifacts, on real wheels and sdists built in tmp_path."""

import hashlib
import io
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from tests.support.artifacts import (
    form_fields_for,
    make_sdist,
    make_wheel,
    metadata_text,
    record_line,
    wheel_filename,
    write_tar_gz,
)
from warehouse.upload import artifacts
from warehouse.upload.artifacts import (
    ONE_MIB,
    Digests,
    check_digests,
    check_filename_matches,
    check_metadata_agrees,
    file_too_large,
    hash_stream,
    inspect_artifact,
    parse_distribution_filename,
)
from warehouse.upload.errors import UploadError
from warehouse.upload.metadata import parse_upload_form

DIST_INFO = "example-1.0.dist-info"


def refused(call, *args, **kwargs) -> UploadError:
    with pytest.raises(UploadError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def inspect(path: Path, **kwargs) -> artifacts.Artifact:
    filetype = "bdist_wheel" if path.name.endswith(".whl") else "sdist"
    return inspect_artifact(path, path.name, filetype, **kwargs)


def inspection_error(path: Path, **kwargs) -> str:
    return refused(inspect, path, **kwargs).message


def write_zip(path: Path, members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> Path:
    """The members zipped; an empty ``*.dist-info/RECORD`` is filled in with the others' rows."""
    members = [
        (
            name,
            _record_of(members, name) if name.endswith(".dist-info/RECORD") and not data else data,
        )
        for name, data in members
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for name, content in members:
                archive.writestr(name, content)
    return path


def _record_of(members, record_name: str) -> bytes:
    rows = [
        record_line(name, data)
        for name, data in members
        if name != record_name and not name.endswith("/")
    ]
    return ("".join(rows) + f"{record_name},,\n").encode()


def wheel_members(extra: list[tuple[str, bytes]] = ()) -> list[tuple[str, bytes]]:
    """The members of a minimal valid example-1.0 wheel, plus `extra`."""
    return [
        ("example/__init__.py", b""),
        (f"{DIST_INFO}/METADATA", metadata_text("example", "1.0").encode()),
        (f"{DIST_INFO}/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{DIST_INFO}/RECORD", b""),
        *extra,
    ]


def tar_gz(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    """A .tar.gz holding example-1.0/PKG-INFO and then the given members."""
    pkg_info = metadata_text("example", "1.0").encode()
    with tarfile.open(path, "w:gz") as archive:
        directory = tarfile.TarInfo("example-1.0")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        info = tarfile.TarInfo("example-1.0/PKG-INFO")
        info.size = len(pkg_info)
        archive.addfile(info, io.BytesIO(pkg_info))
        for member, content in members:
            if content is not None:
                member.size = len(content)
            archive.addfile(member, io.BytesIO(content) if content is not None else None)
    return path


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


# --- hash_stream and check_digests -------------------------------------------------------------


def test_hash_stream_copies_and_digests():
    content = b"some bytes" * 300_000  # spans several chunks
    dest = io.BytesIO()
    digests = hash_stream(io.BytesIO(content), dest, limit=len(content), project_name="example")
    assert dest.getvalue() == content
    assert digests == Digests(
        md5=hashlib.md5(content).hexdigest(),
        sha256=hashlib.sha256(content).hexdigest(),
        blake2_256=hashlib.blake2b(content, digest_size=32).hexdigest(),
        size=len(content),
    )


def test_hash_stream_refuses_more_than_the_limit():
    error = refused(
        hash_stream,
        io.BytesIO(b"x" * (ONE_MIB + 1)),
        io.BytesIO(),
        limit=ONE_MIB,
        project_name="foo",
    )
    assert error.status == 413
    assert error.message == (
        "File too large. Limit for project 'foo' is 1 MB. "
        "See https://pypi.org/help/#file-size-limit for more information."
    )


def test_file_too_large_for_small_limits_says_bytes():
    assert "is 100 bytes." in file_too_large("foo", 100).message


def test_check_digests_accepts_matching_and_absent_digests(tmp_path):
    path = make_wheel(tmp_path, "example", "1.0")
    form = parse_upload_form(
        form_fields_for(
            path, "example", "1.0", md5_digest=hashlib.md5(path.read_bytes()).hexdigest()
        )
    )
    with path.open("rb") as src:
        digests = hash_stream(src, io.BytesIO(), limit=10 * ONE_MIB, project_name="example")
    check_digests(form, digests)
    form.sha256_digest = form.md5_digest = form.blake2_256_digest = None
    check_digests(form, digests)


@pytest.mark.parametrize("field", ["md5_digest", "sha256_digest", "blake2_256_digest"])
def test_check_digests_refuses_any_mismatch(tmp_path, field):
    path = make_wheel(tmp_path, "example", "1.0")
    form = parse_upload_form(form_fields_for(path, "example", "1.0"))
    setattr(form, field, "0" * (32 if field == "md5_digest" else 64))
    digests = hash_stream(
        io.BytesIO(path.read_bytes()), io.BytesIO(), limit=ONE_MIB, project_name="x"
    )
    assert refused(check_digests, form, digests).message == (
        "The digest supplied does not match a digest calculated from the uploaded file."
    )


# --- filenames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename",
    [
        "example-1.0.tar.bz2",
        "example-1.0.tgz",
        "example-1.0.egg",
        "example-1.0.exe",
        "example-1.0.WHL",
        "example",
    ],
)
def test_unsupported_extensions_are_refused(filename):
    assert refused(parse_distribution_filename, filename, "sdist").message == (
        "Invalid file extension: Use .tar.gz, .whl or .zip (PEP 527)."
    )


@pytest.mark.parametrize(
    ("filename", "filetype"),
    [
        ("example-1.0-py3-none-any.whl", "sdist"),
        ("example-1.0.tar.gz", "bdist_wheel"),
        ("example-1.0.zip", "bdist_wheel"),
    ],
)
def test_extension_must_agree_with_filetype(filename, filetype):
    assert refused(parse_distribution_filename, filename, filetype).message == (
        f"The file '{filename}' does not match the filetype '{filetype}'."
    )


@pytest.mark.parametrize("filename", ["../example-1.0.tar.gz", "dir\\example-1.0.tar.gz"])
def test_paths_in_filenames_are_refused(filename):
    assert refused(parse_distribution_filename, filename, "sdist").message == (
        "Cannot upload a file with '/' or '\\' in the name."
    )


@pytest.mark.parametrize(
    "filename",
    [
        "example-1.0.whl",
        "example-1.0-py3-none.whl",
        "example-notaversion-py3-none-any.whl",
        "exa mple-1.0-py3-none-any.whl",
        "example-1.0-x-py3-none-any.whl",
    ],
)
def test_invalid_wheel_filenames_are_refused(filename):
    message = refused(parse_distribution_filename, filename, "bdist_wheel").message
    assert message.startswith("Invalid") and message.endswith("(PEP 427).")


@pytest.mark.parametrize(
    "filename", ["example.tar.gz", "example-notaversion.tar.gz", "-1.0.tar.gz", "ex mple-1.0.zip"]
)
def test_invalid_sdist_filenames_are_refused(filename):
    assert refused(parse_distribution_filename, filename, "sdist").message == (
        f"Invalid source distribution filename '{filename}': use '{{name}}-{{version}}.tar.gz' (PEP 625)."
    )


@pytest.mark.parametrize(
    ("filename", "parts"),
    [
        ("example-1.0.tar.gz", ("example", "1.0")),
        ("my-pkg-1.0rc1.tar.gz", ("my-pkg", "1.0rc1")),
        ("My.Pkg-2.0.zip", ("My.Pkg", "2.0")),
        ("my_pkg-1.0-1-py3-none-any.whl", ("my_pkg", "1.0")),
    ],
)
def test_filename_parts(filename, parts):
    filetype = "bdist_wheel" if filename.endswith(".whl") else "sdist"
    assert parse_distribution_filename(filename, filetype) == parts


@pytest.mark.parametrize(
    "platform",
    [
        "any",
        "win32",
        "win_amd64",
        "win_arm64",
        "manylinux1_x86_64",
        "manylinux2010_i686",
        "manylinux2014_aarch64",
        "manylinux2014_s390x",
        "manylinux_2_17_x86_64",
        "manylinux_2_28_ppc64le",
        "manylinux_2_17_x86_64.manylinux2014_x86_64",
        "musllinux_1_2_x86_64",
        "musllinux_1_1_aarch64",
        "macosx_11_0_arm64",
        "macosx_10_9_x86_64",
        "macosx_10_9_universal2",
        "macosx_10_6_intel",
        "ios_13_0_arm64_iphoneos",
        "ios_13_0_x86_64_iphonesimulator",
        "android_21_arm64_v8a",
        "pyodide_2024_0_wasm32",
        "emscripten_3_1_58_wasm32",
        "linux_armv7l",
    ],
)
def test_real_platform_tags_are_accepted(platform):
    filename = f"example-1.0-cp312-cp312-{platform}.whl"
    assert parse_distribution_filename(filename, "bdist_wheel") == ("example", "1.0")


@pytest.mark.parametrize(
    ("platform", "rejected"),
    [
        ("linux_x86_64", "linux_x86_64"),
        ("linux_i686", "linux_i686"),
        ("manylinux_2_17_x86_64.linux_x86_64", "linux_x86_64"),
        ("manylinux2014_riscv64", "manylinux2014_riscv64"),
        ("manylinux_2_17_sparc", "manylinux_2_17_sparc"),
        ("macosx_11_0_sparc", "macosx_11_0_sparc"),
        ("macosx_11_arm64", "macosx_11_arm64"),
        ("freebsd_13_0_x86_64", "freebsd_13_0_x86_64"),
        ("win_amd65", "win_amd65"),
        ("anything", "anything"),
    ],
)
def test_unsupported_platform_tags_are_refused(platform, rejected):
    filename = f"example-1.0-cp312-cp312-{platform}.whl"
    assert refused(parse_distribution_filename, filename, "bdist_wheel").message == (
        f"Binary wheel '{filename}' has an unsupported platform tag '{rejected}'."
    )


@pytest.mark.parametrize(
    ("filename", "name", "version"),
    [
        ("example-1.0.tar.gz", "example", "1.0"),
        ("my_pkg-1.0.tar.gz", "My.Pkg", "1.0"),
        ("my-pkg-1.0.tar.gz", "my_pkg", "1.0"),
        ("My.Pkg-1.0.zip", "my-pkg", "1.0.0"),
        ("my_pkg-1.0-py3-none-any.whl", "my.pkg", "1.0"),
        ("my_pkg-1.0rc1-py3-none-any.whl", "my-pkg", "1.0.0-RC1"),
    ],
)
def test_filename_matching_is_normalized(filename, name, version):
    filetype = "bdist_wheel" if filename.endswith(".whl") else "sdist"
    check_filename_matches(filename, filetype, name, version)


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("other-1.0.tar.gz", "foo"),
        ("foo_bar-1.0-py3-none-any.whl", "foo"),
        ("foo-bar-1.0.tar.gz", "foo"),
    ],
)
def test_filename_must_start_with_the_project_name(filename, name):
    filetype = "bdist_wheel" if filename.endswith(".whl") else "sdist"
    assert refused(check_filename_matches, filename, filetype, name, "1.0").message == (
        f"Start filename for '{name}' with '{name}'."
    )


def test_filename_prefix_advice_is_normalized():
    assert refused(check_filename_matches, "x-1.0.tar.gz", "sdist", "My.Pkg", "1.0").message == (
        "Start filename for 'My.Pkg' with 'my_pkg'."
    )


@pytest.mark.parametrize("filename", ["foo-1.1.tar.gz", "foo-1.1-py3-none-any.whl"])
def test_filename_version_must_match(filename):
    filetype = "bdist_wheel" if filename.endswith(".whl") else "sdist"
    assert refused(check_filename_matches, filename, filetype, "foo", "1.0").message == (
        "Version in filename should be '1.0' not '1.1'."
    )


# --- wheels ------------------------------------------------------------------------------------


def test_valid_wheel(tmp_path):
    path = make_wheel(
        tmp_path, "My.Pkg", "1.0", requires_dist=["requests>=2"], requires_python=">=3.9"
    )
    artifact = inspect(path)
    assert artifact.filename == "my_pkg-1.0-py3-none-any.whl"
    assert artifact.packagetype == "bdist_wheel"
    assert artifact.size == path.stat().st_size
    assert artifact.metadata_path == "my_pkg-1.0.dist-info/METADATA"
    with zipfile.ZipFile(path) as archive:
        assert artifact.metadata_bytes == archive.read("my_pkg-1.0.dist-info/METADATA")
    assert artifact.metadata["name"] == "My.Pkg"
    assert artifact.metadata["version"] == "1.0"
    assert artifact.metadata["metadata_version"] == "2.1"
    assert artifact.metadata["summary"] == "An example project"
    assert artifact.metadata["requires_python"] == ">=3.9"
    assert artifact.metadata["requires_dist"] == ["requests>=2"]
    assert artifact.wheel_tags == frozenset({"py3-none-any"})
    assert artifact.python_tag == "py3"
    assert "my_pkg/__init__.py" in artifact.member_names


def test_wheel_with_compressed_tags_and_build_number(tmp_path):
    path = make_wheel(
        tmp_path,
        "example",
        "1.0",
        python_tag="cp311.cp312",
        abi_tag="abi3",
        platform_tag="manylinux_2_17_x86_64.manylinux2014_x86_64",
        filename="example-1.0-1-cp311.cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    )
    artifact = inspect(path)
    assert artifact.python_tag == "cp311.cp312"
    assert artifact.wheel_tags == {
        f"{python}-abi3-{platform}"
        for python in ("cp311", "cp312")
        for platform in ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    }


def test_wheel_without_optional_metadata(tmp_path):
    artifact = inspect(make_wheel(tmp_path, "example", "1.0", summary=None))
    assert artifact.metadata["summary"] is None
    assert artifact.metadata["requires_python"] is None
    assert artifact.metadata["requires_dist"] == []


def test_wheel_platform_tags_are_checked_on_inspection(tmp_path):
    path = make_wheel(
        tmp_path, "example", "1.0", platform_tag="linux_x86_64", python_tag="cp312", abi_tag="cp312"
    )
    assert inspection_error(path) == (
        f"Binary wheel '{path.name}' has an unsupported platform tag 'linux_x86_64'."
    )


@pytest.mark.parametrize("missing", ["METADATA", "WHEEL", "RECORD"])
def test_wheel_needs_metadata_wheel_and_record(tmp_path, missing):
    path = make_wheel(tmp_path, "example", "1.0", omit={missing})
    assert inspection_error(path) == (
        f"Wheel '{path.name}' does not contain the required {missing} file: {DIST_INFO}/{missing}"
    )


def test_wheel_without_dist_info(tmp_path):
    path = write_zip(tmp_path / "example-1.0-py3-none-any.whl", [("example/__init__.py", b"")])
    assert inspection_error(path) == (
        f"Wheel '{path.name}' does not contain the required METADATA file: {DIST_INFO}/METADATA"
    )


def test_wheel_with_two_dist_info_directories(tmp_path):
    path = make_wheel(tmp_path, "example", "1.0", extra_files={"other-1.0.dist-info/METADATA": "x"})
    assert (
        inspection_error(path)
        == f"Wheel '{path.name}' contains more than one .dist-info directory."
    )


def test_wheel_dist_info_must_match_the_filename(tmp_path):
    path = make_wheel(tmp_path, "other", "1.0", filename="example-1.0-py3-none-any.whl")
    assert inspection_error(path) == (
        f"Wheel '{path.name}' has a .dist-info directory 'other-1.0.dist-info' that does not "
        f"match its filename, expected '{DIST_INFO}'."
    )


def test_wheel_dist_info_is_compared_normalized(tmp_path):
    members = [
        (name.replace(DIST_INFO, "Example-1.0.0.dist-info"), data) for name, data in wheel_members()
    ]
    path = write_zip(tmp_path / "example-1.0-py3-none-any.whl", members)
    assert inspect(path).metadata_path == "Example-1.0.0.dist-info/METADATA"


@pytest.mark.parametrize(
    ("wheel_file", "message"),
    [
        ("Root-Is-Purelib: true\n", "has no Wheel-Version in its WHEEL file."),
        ("Wheel-Version: 2.0\nRoot-Is-Purelib: true\n", "has an unsupported Wheel-Version '2.0'."),
        ("Wheel-Version: 1.0\nTag: py3-none-any\n", "has no Root-Is-Purelib in its WHEEL file."),
        ("", "has no Wheel-Version in its WHEEL file."),
    ],
)
def test_wheel_file_is_checked(tmp_path, wheel_file, message):
    path = make_wheel(tmp_path, "example", "1.0", extra_files={f"{DIST_INFO}/WHEEL": wheel_file})
    assert inspection_error(path) == f"Wheel '{path.name}' {message}"


@pytest.mark.parametrize(
    ("metadata", "label"),
    [
        ("Name: example\nVersion: 1.0\n", "Metadata-Version"),
        ("Metadata-Version: 2.1\nVersion: 1.0\n", "Name"),
        ("Metadata-Version: 2.1\nName: example\n", "Version"),
        (b"Metadata-Version: 2.1\nName: ex\xffample\nVersion: 1.0\n", "Name"),
        ("not an email document at all", "Metadata-Version"),
    ],
)
def test_wheel_metadata_needs_identity_fields(tmp_path, metadata, label):
    path = make_wheel(tmp_path, "example", "1.0", extra_files={f"{DIST_INFO}/METADATA": metadata})
    assert inspection_error(path) == (
        f"The METADATA file of '{path.name}' has a missing or invalid {label} field."
    )


# --- sdists ------------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".tar.gz", ".zip"])
def test_valid_sdist(tmp_path, extension):
    path = make_sdist(tmp_path, "My.Pkg", "1.0", requires_dist=["attrs"], extension=extension)
    artifact = inspect(path)
    assert artifact.filename == f"my_pkg-1.0{extension}"
    assert artifact.packagetype == "sdist"
    assert artifact.metadata_path == "my_pkg-1.0/PKG-INFO"
    assert artifact.metadata_bytes.startswith(b"Metadata-Version: 2.1\nName: My.Pkg\n")
    assert artifact.metadata["requires_dist"] == ["attrs"]
    assert artifact.wheel_tags is None
    assert artifact.python_tag == "source"
    assert "my_pkg-1.0/pyproject.toml" in artifact.member_names


def test_legacy_sdist_names_are_accepted(tmp_path):
    pkg_info = metadata_text("My.Pkg", "1.0").encode()
    path = write_tar_gz(tmp_path / "My.Pkg-1.0.tar.gz", {"My.Pkg-1.0/PKG-INFO": pkg_info})
    assert inspect(path).metadata["name"] == "My.Pkg"


def test_sdist_members_with_dot_slash_prefix(tmp_path):
    pkg_info = metadata_text("example", "1.0").encode()
    path = write_tar_gz(tmp_path / "example-1.0.tar.gz", {"./example-1.0/PKG-INFO": pkg_info})
    assert inspect(path).metadata_path == "example-1.0/PKG-INFO"


@pytest.mark.parametrize("extension", [".tar.gz", ".zip"])
def test_sdist_needs_pkg_info(tmp_path, extension):
    path = make_sdist(tmp_path, "example", "1.0", omit={"PKG-INFO"}, extension=extension)
    assert (
        inspection_error(path)
        == f"Source distribution '{path.name}' does not contain a PKG-INFO file."
    )


def test_sdist_pkg_info_must_be_at_the_root(tmp_path):
    path = make_sdist(
        tmp_path,
        "example",
        "1.0",
        omit={"PKG-INFO"},
        extra_files={"sub/PKG-INFO": metadata_text("example", "1.0")},
    )
    assert (
        inspection_error(path)
        == f"Source distribution '{path.name}' does not contain a PKG-INFO file."
    )


def test_sdist_pkg_info_symlink_does_not_count(tmp_path):
    path = tmp_path / "example-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        archive.addfile(tar_member("example-1.0/real", tarfile.REGTYPE))
        archive.addfile(tar_member("example-1.0/PKG-INFO", tarfile.SYMTYPE, "real"))
    assert (
        inspection_error(path)
        == f"Source distribution '{path.name}' does not contain a PKG-INFO file."
    )


@pytest.mark.parametrize(
    "members",
    [
        {"example-1.0/PKG-INFO": b"x", "other-1.0/PKG-INFO": b"x"},
        {"example-1.0/PKG-INFO": b"x", "setup.py": b"x"},
        {"other-1.0/PKG-INFO": b"x"},
        {"example-2.0/PKG-INFO": b"x"},
        {"PKG-INFO": b"x"},
        {},
    ],
)
def test_sdist_needs_one_matching_top_level_directory(tmp_path, members):
    path = write_tar_gz(tmp_path / "example-1.0.tar.gz", members)
    assert inspection_error(path) == (
        f"Source distribution '{path.name}' must contain a single top-level directory named "
        "'example-1.0'."
    )


def test_zip_sdist_needs_one_top_level_directory(tmp_path):
    path = write_zip(
        tmp_path / "example-1.0.zip", [("example-1.0/PKG-INFO", b"x"), ("stray.txt", b"")]
    )
    assert "must contain a single top-level directory" in inspection_error(path)


def test_sdist_metadata_needs_identity_fields(tmp_path):
    path = make_sdist(
        tmp_path, "example", "1.0", extra_files={"PKG-INFO": "Metadata-Version: 2.1\n"}
    )
    assert inspection_error(path) == (
        f"The PKG-INFO file of '{path.name}' has a missing or invalid Name field."
    )


# --- corrupt archives --------------------------------------------------------------------------


@pytest.mark.parametrize("maker", [make_wheel, make_sdist])
@pytest.mark.parametrize("keep", [0, 10, 0.5, -20])
def test_truncated_archives_are_refused(tmp_path, maker, keep):
    path = maker(tmp_path, "example", "1.0", extra_files={"data.bin": bytes(range(256)) * 400})
    content = path.read_bytes()
    cut = int(len(content) * keep) if isinstance(keep, float) else keep
    path.write_bytes(content[:cut])
    kind = "zip" if path.name.endswith(".whl") else "tar.gz"
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': it is not a valid {kind} archive."
    )


def test_zip_with_corrupted_member_data_is_refused(tmp_path):
    path = make_wheel(tmp_path, "example", "1.0", extra_files={"data.txt": "hello " * 1000})
    content = bytearray(path.read_bytes())
    offset = content.index(b"data.txt") + len("data.txt") + 20  # inside the deflated data
    content[offset] ^= 0xFF
    path.write_bytes(bytes(content))
    assert "it is not a valid zip archive" in inspection_error(path)


def test_garbage_is_refused(tmp_path):
    for name in ("example-1.0-py3-none-any.whl", "example-1.0.tar.gz", "example-1.0.zip"):
        path = tmp_path / name
        path.write_bytes(b"\x1f\x8b" + b"not an archive" * 100)
        assert "is not a valid" in inspection_error(path)


def test_zip_renamed_to_tar_gz_is_refused(tmp_path):
    wheel = make_wheel(tmp_path, "example", "1.0")
    path = tmp_path / "example-1.0.tar.gz"
    path.write_bytes(wheel.read_bytes())
    assert "it is not a valid tar.gz archive" in inspection_error(path)


def test_encrypted_zip_members_are_refused(tmp_path):
    path = write_zip(tmp_path / "example-1.0-py3-none-any.whl", wheel_members())
    content = bytearray(path.read_bytes())
    # Set the "encrypted" flag in every local and central directory header.
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := content.find(signature, start)) != -1:
            content[start + flag_offset] |= 0x01
            start += 4
    path.write_bytes(bytes(content))
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': 'example/__init__.py' is encrypted."
    )


# --- unsafe paths and links --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../evil.py",
        "example/../../evil.py",
        "/etc/passwd",
        "..\\evil.py",
        "example\\..\\..\\evil",
        "C:/evil",
        "\\evil",
    ],
)
def test_zip_members_escaping_the_root_are_refused(tmp_path, name):
    path = write_zip(tmp_path / "example-1.0-py3-none-any.whl", wheel_members([(name, b"x")]))
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': unsafe member path {name!r}."
    )


@pytest.mark.parametrize(
    "name", ["../evil", "/etc/passwd", "example-1.0/../../evil", "example-1.0/..\\..\\evil"]
)
def test_tar_members_escaping_the_root_are_refused(tmp_path, name):
    path = tar_gz(tmp_path / "example-1.0.tar.gz", (tar_member(name), b"x"))
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': unsafe member path {name!r}."
    )


@pytest.mark.parametrize(
    ("kind", "linkname"),
    [
        (tarfile.SYMTYPE, "../../etc/passwd"),
        (tarfile.SYMTYPE, "/etc/passwd"),
        (tarfile.SYMTYPE, "../other-1.0/file"),
        (tarfile.SYMTYPE, "sub/../../.."),
        (tarfile.SYMTYPE, ""),
        (tarfile.LNKTYPE, "../etc/passwd"),
        (tarfile.LNKTYPE, "/etc/passwd"),
        (tarfile.LNKTYPE, "other-1.0/file"),
    ],
)
def test_tar_links_escaping_the_root_are_refused(tmp_path, kind, linkname):
    path = tar_gz(
        tmp_path / "example-1.0.tar.gz", (tar_member("example-1.0/link", kind, linkname), None)
    )
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': the link 'example-1.0/link' points outside the archive."
    )


@pytest.mark.parametrize(
    ("kind", "linkname"),
    [
        (tarfile.SYMTYPE, "PKG-INFO"),
        (tarfile.SYMTYPE, "../example-1.0/PKG-INFO"),
        (tarfile.LNKTYPE, "example-1.0/PKG-INFO"),
    ],
)
def test_tar_links_inside_the_root_are_accepted(tmp_path, kind, linkname):
    path = tar_gz(
        tmp_path / "example-1.0.tar.gz", (tar_member("example-1.0/link", kind, linkname), None)
    )
    assert "example-1.0/link" in inspect(path).member_names


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        (tarfile.CHRTYPE, "device file or FIFO"),
        (tarfile.BLKTYPE, "device file or FIFO"),
        (tarfile.FIFOTYPE, "device file or FIFO"),
        (tarfile.GNUTYPE_SPARSE, "unsupported member type"),
    ],
)
def test_tar_special_files_are_refused(tmp_path, kind, what):
    path = tar_gz(tmp_path / "example-1.0.tar.gz", (tar_member("example-1.0/dev", kind), None))
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': 'example-1.0/dev' is a {what}."
    )


def test_duplicate_zip_members_are_refused(tmp_path):
    members = wheel_members([("example/__init__.py", b"print('surprise')")])
    path = write_zip(tmp_path / "example-1.0-py3-none-any.whl", members)
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': duplicate member 'example/__init__.py'."
    )


# --- bombs and budgets -------------------------------------------------------------------------


def test_zip_over_the_uncompressed_budget_is_refused(tmp_path):
    # A few MB of zeros deflate about a thousand times: tiny upload, large inflation.
    path = write_zip(
        tmp_path / "example-1.0-py3-none-any.whl", wheel_members([("zeros", bytes(4 * ONE_MIB))])
    )
    assert path.stat().st_size < 20_000
    assert inspection_error(path, max_uncompressed=ONE_MIB) == (
        f"Invalid distribution file '{path.name}': it holds more than {ONE_MIB} bytes once uncompressed."
    )
    assert inspect(path, max_uncompressed=8 * ONE_MIB).metadata["name"] == "example"


def test_zip_member_with_a_bomb_ratio_is_refused(tmp_path):
    path = write_zip(
        tmp_path / "example-1.0-py3-none-any.whl", wheel_members([("zeros", bytes(11 * ONE_MIB))])
    )
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': its compression ratio is suspiciously high."
    )


def test_zip_with_a_bomb_ratio_overall_is_refused(tmp_path):
    # No single member is big enough to be suspicious; together they are.
    members = wheel_members([(f"zeros{i}", bytes(ONE_MIB)) for i in range(12)])
    path = write_zip(tmp_path / "example-1.0-py3-none-any.whl", members)
    assert "its compression ratio is suspiciously high" in inspection_error(path)


def test_large_stored_zip_member_is_fine(tmp_path):
    # Incompressible (stored) data is big but not a bomb.
    members = wheel_members([("zeros", bytes(11 * ONE_MIB))])
    path = write_zip(
        tmp_path / "example-1.0-py3-none-any.whl", members, compression=zipfile.ZIP_STORED
    )
    assert inspect(path).size > 11 * ONE_MIB


def test_tar_gz_over_the_uncompressed_budget_is_refused(tmp_path):
    path = tar_gz(
        tmp_path / "example-1.0.tar.gz", (tar_member("example-1.0/zeros"), bytes(4 * ONE_MIB))
    )
    assert path.stat().st_size < 20_000
    assert inspection_error(path, max_uncompressed=ONE_MIB) == (
        f"Invalid distribution file '{path.name}': it holds more than {ONE_MIB} bytes once uncompressed."
    )
    assert inspect(path, max_uncompressed=8 * ONE_MIB).metadata["name"] == "example"


def test_tar_gz_with_a_bomb_ratio_is_refused(tmp_path):
    path = tar_gz(
        tmp_path / "example-1.0.tar.gz", (tar_member("example-1.0/zeros"), bytes(11 * ONE_MIB))
    )
    assert inspection_error(path) == (
        f"Invalid distribution file '{path.name}': its compression ratio is suspiciously high."
    )


def test_tar_gz_headers_count_against_the_budget(tmp_path):
    # A pax header is read into memory by tarfile: it must be paid for like any other byte.
    path = tmp_path / "example-1.0.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("example-1.0/PKG-INFO")
        info.pax_headers = {"comment": "x" * (2 * ONE_MIB)}
        archive.addfile(info, io.BytesIO(b""))
    assert "once uncompressed" in inspection_error(path, max_uncompressed=ONE_MIB)


@pytest.mark.parametrize("maker", [make_wheel, make_sdist])
def test_too_many_members_are_refused(tmp_path, monkeypatch, maker):
    monkeypatch.setattr(artifacts, "MAX_MEMBERS", 5)
    path = maker(tmp_path, "example", "1.0", extra_files={f"f{i}": "" for i in range(6)})
    assert (
        inspection_error(path)
        == f"Invalid distribution file '{path.name}': it has more than 5 members."
    )


def test_oversized_metadata_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "MAX_METADATA_FILE_SIZE", 1000)
    for maker in (make_wheel, make_sdist):
        path = maker(tmp_path, "example", "1.0", metadata_extra={"Description": "d" * 2000})
        assert inspection_error(path) == (
            f"Invalid distribution file '{path.name}': its metadata file is too large."
        )


def test_member_inflating_past_its_declared_size_is_refused():
    # zipfile itself stops at the declared size; this guards any stream that does not.
    budget = artifacts._Budget("example.whl", 100 * ONE_MIB, ONE_MIB)
    with pytest.raises(UploadError, match="a member is larger than its declared size"):
        artifacts._read_member(
            io.BytesIO(b"x" * 1000),
            declared_size=10,
            budget=budget,
            filename="example.whl",
            keep=False,
        )


# --- metadata versus form ----------------------------------------------------------------------


def form_for(path: Path, name: str = "example", version: str = "1.0", **overrides):
    return parse_upload_form(form_fields_for(path, name, version, **overrides))


@pytest.mark.parametrize("maker", [make_wheel, make_sdist])
def test_matching_metadata_agrees(tmp_path, maker):
    path = maker(tmp_path, "My.Pkg", "1.0", requires_dist=["attrs>=20"], requires_python=">=3.8")
    check_metadata_agrees(inspect(path), form_for(path, "my-pkg", "1.0.0"))


@pytest.mark.parametrize("maker", [make_wheel, make_sdist])
def test_name_must_agree(tmp_path, maker):
    path = maker(tmp_path, "example", "1.0")
    message = refused(check_metadata_agrees, inspect(path), form_for(path, "other")).message
    assert (
        message
        == "The 'name' in the uploaded file's metadata (example) does not match the form field (other)."
    )


@pytest.mark.parametrize("maker", [make_wheel, make_sdist])
def test_version_must_agree(tmp_path, maker):
    path = maker(tmp_path, "example", "1.0")
    message = refused(check_metadata_agrees, inspect(path), form_for(path, version="1.1")).message
    assert (
        message
        == "The 'version' in the uploaded file's metadata (1.0) does not match the form field (1.1)."
    )


def test_metadata_version_must_agree(tmp_path):
    path = make_wheel(tmp_path, "example", "1.0")
    message = refused(
        check_metadata_agrees, inspect(path), form_for(path, metadata_version="2.2")
    ).message
    assert message == (
        "The 'metadata_version' in the uploaded file's metadata (2.1) does not match the form field (2.2)."
    )


def test_wheel_requires_python_must_agree(tmp_path):
    path = make_wheel(tmp_path, "example", "1.0", requires_python=">=3.8")
    artifact = inspect(path)
    check_metadata_agrees(artifact, form_for(path, requires_python=">= 3.8"))
    check_metadata_agrees(artifact, form_for(path, requires_python=None))
    message = refused(
        check_metadata_agrees, artifact, form_for(path, requires_python=">=3.9")
    ).message
    assert message == (
        "The 'requires_python' in the uploaded file's metadata (>=3.8) does not match the form field (>=3.9)."
    )


def test_wheel_requires_python_absent_from_the_file(tmp_path):
    path = make_wheel(tmp_path, "example", "1.0")
    message = refused(
        check_metadata_agrees, inspect(path), form_for(path, requires_python=">=3.9")
    ).message
    assert "metadata (none) does not match the form field (>=3.9)" in message


def test_wheel_requires_dist_must_agree(tmp_path):
    path = make_wheel(
        tmp_path, "example", "1.0", requires_dist=["b>=1,<2", "a; python_version<'3.11'"]
    )
    artifact = inspect(path)
    # Order, whitespace and quoting differ between tools; the requirements are the same.
    check_metadata_agrees(
        artifact, form_for(path, requires_dist=['a ; python_version < "3.11"', "b <2, >=1"])
    )
    check_metadata_agrees(artifact, form_for(path, requires_dist=None))
    message = refused(
        check_metadata_agrees, artifact, form_for(path, requires_dist=["a", "b>=1,<2"])
    ).message
    assert message.startswith("The 'requires_dist' in the uploaded file's metadata (")


def test_sdist_requirements_are_not_compared(tmp_path):
    path = make_sdist(tmp_path, "example", "1.0", requires_dist=["a"], requires_python=">=3.8")
    check_metadata_agrees(
        inspect(path), form_for(path, requires_dist=["b"], requires_python=">=3.12")
    )


@pytest.mark.parametrize(
    ("maker", "license_path"),
    [(make_wheel, f"{DIST_INFO}/licenses/LICENSE"), (make_sdist, "LICENSE")],
)
def test_license_files_must_be_in_the_archive(tmp_path, maker, license_path):
    path = maker(
        tmp_path,
        "example",
        "1.0",
        metadata_version="2.4",
        metadata_extra={"License-Expression": "MIT", "License-File": "LICENSE"},
        extra_files={license_path: "MIT License"},
    )
    artifact = inspect(path)
    form = form_for(path)
    assert form.license_files == ["LICENSE"]
    check_metadata_agrees(artifact, form)
    form.license_files = ["COPYING"]
    message = refused(check_metadata_agrees, artifact, form).message
    assert message.startswith(
        f"License-File 'COPYING' does not exist in distribution file '{path.name}'"
    )


# --- end to end: what twine sends, through every check -----------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda tmp: make_wheel(
            tmp, "My.Pkg", "2.0rc1", requires_dist=["attrs"], requires_python=">=3.9"
        ),
        lambda tmp: make_wheel(
            tmp,
            "native",
            "1.0",
            python_tag="cp312",
            abi_tag="cp312",
            platform_tag="macosx_11_0_arm64",
        ),
        lambda tmp: make_sdist(tmp, "My.Pkg", "2.0rc1", requires_dist=["attrs"]),
        lambda tmp: make_sdist(tmp, "legacy", "0.1", extension=".zip"),
    ],
)
def test_twine_upload_passes_every_check(tmp_path, build):
    path = build(tmp_path)
    fields = form_fields_for(
        path,
        *_name_and_version(path),
        classifiers=["Programming Language :: Python :: 3"],
        project_urls=["Source, https://example.com/src"],
    )
    form = parse_upload_form(fields)
    stored = io.BytesIO()
    with path.open("rb") as src:
        digests = hash_stream(src, stored, limit=100 * ONE_MIB, project_name=form.name)
    check_digests(form, digests)
    check_filename_matches(path.name, form.filetype, form.name, form.version)
    artifact = inspect_artifact(path, path.name, form.filetype)
    check_metadata_agrees(artifact, form)
    assert stored.getvalue() == path.read_bytes()


def _name_and_version(path: Path) -> tuple[str, str]:
    with_extension_removed = (
        path.name.removesuffix(".tar.gz").removesuffix(".zip").removesuffix(".whl")
    )
    name, version = with_extension_removed.split("-")[:2]
    return name, version


def test_factory_artifacts_are_what_twine_reads(tmp_path):
    twine_package = pytest.importorskip("twine.package")
    twine_repository = pytest.importorskip("twine.repository")
    for path in (
        make_wheel(
            tmp_path, "My.Pkg", "1.0", requires_dist=["attrs"], metadata_extra={"Keywords": "a,b"}
        ),
        make_sdist(
            tmp_path, "My.Pkg", "1.0", metadata_extra={"Project-URL": "Home, https://example.com"}
        ),
    ):
        package = twine_package.PackageFile.from_filename(str(path), None)
        sent = twine_repository.Repository._convert_metadata_to_list_of_tuples(
            package.metadata_dictionary()
        )
        expected: dict[str, list[str]] = {}
        for key, value in sent:
            expected.setdefault(key, []).append(value)
        fields = form_fields_for(path, "My.Pkg", "1.0")
        del fields[":action"], fields["protocol_version"]  # twine adds these when posting
        assert fields == expected


def test_wheel_filename_helper():
    assert (
        wheel_filename("My.Pkg", "1.0", platform_tag="win_amd64")
        == "my_pkg-1.0-py3-none-win_amd64.whl"
    )


def test_tar_gz_with_a_corrupt_gzip_checksum_is_refused(tmp_path):
    path = make_sdist(tmp_path, "example", "1.0")
    content = bytearray(path.read_bytes())
    content[-8] ^= 0xFF  # the gzip trailer: CRC-32, then the size
    path.write_bytes(bytes(content))
    assert "it is not a valid tar.gz archive" in inspection_error(path)


def test_inspection_checks_the_filename_first(tmp_path):
    path = make_sdist(tmp_path, "example", "1.0", filename="example-1.0.tgz")
    assert inspection_error(path) == "Invalid file extension: Use .tar.gz, .whl or .zip (PEP 527)."
