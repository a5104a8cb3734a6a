"""``warehouse mirror-verify`` on a mirror of our own index made by real bandersnatch (6.8):
every class found from the mirror's JSON, repair by fetching again, quarantine and its grace
period, and a walk interrupted and resumed to the same totals."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner

from tests.support.bandersnatch import FLAVOURS, Bandersnatch, ensure_bandersnatch
from warehouse.cli.mirror import mirror_verify
from warehouse.storage.verify.mirror import MirrorVerifier, read_config


@pytest.fixture
def mirror(live_server, corpus, tls_front, tmp_path, monkeypatch):
    flavour = FLAVOURS["6"]
    mirror = Bandersnatch(
        flavour,
        ensure_bandersnatch(flavour),
        tmp_path / "mirror",
        master=tls_front.url,
        ca_file=tls_front.ca_file,
    )
    mirror.run("mirror")
    # Repairs fetch from the index through the same TLS front bandersnatch used.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_front.ca_file))
    return mirror


def verify(mirror, *args):
    return verify_config(mirror.config, *args)


def verify_config(config, *args):
    return CliRunner().invoke(
        mirror_verify, ["--config", str(config), *args], catch_exceptions=False
    )


def report(path):
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {line["key"]: (line["class"], line["action"]) for line in lines[:-1]}, lines[-1]


def test_mirror_verify_finds_repairs_and_quarantines(mirror, tmp_path):
    packages = mirror.web / "packages"
    files = sorted(p for p in packages.rglob("*") if p.is_file())
    assert len(files) > 40
    dists = [p for p in files if not p.name.endswith(".metadata")]
    gone, short, flipped = dists[0], dists[1], dists[2]
    keys = {p: p.relative_to(packages).as_posix() for p in (gone, short, flipped)}
    originals = {p: p.read_bytes() for p in (gone, short, flipped)}
    gone.unlink()
    short.write_bytes(originals[short][:-1])
    flipped.write_bytes(bytes(b ^ 0xFF for b in originals[flipped]))  # same size
    stray = packages / "ab" / "cd" / ("e" * 60) / "stray-1.0.tar.gz"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"nobody's")
    old = time.time() - 7200
    os.utime(stray, (old, old))  # older than the run: a real orphan, not a sync in flight
    fresh = packages / "ab" / "cd" / ("f" * 60) / "fresh-1.0.tar.gz"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"just synced")

    out = tmp_path / "report.jsonl"
    result = verify(mirror, "--json", str(out))
    assert result.exit_code == 3, result.output
    found, totals = report(out)
    stray_key = stray.relative_to(packages).as_posix()
    assert found == {
        keys[gone]: ("missing", "none"),
        keys[short]: ("size_mismatch", "none"),
        stray_key: ("orphan", "none"),
    }
    assert totals["totals"]["skipped"] == 1  # the fresh file
    assert totals["totals"]["keys"] == len(files) + 2

    result = verify(mirror, "--deep", "--repair", "--json", str(out))
    assert result.exit_code == 0, result.output
    found, totals = report(out)
    assert found[keys[flipped]][0] == "digest_mismatch"
    assert all(
        action.startswith("fetched from https://")
        for kind, action in [found[keys[p]] for p in (gone, short, flipped)]
    )
    assert found[stray_key] == ("orphan", f"moved to quarantine/{stray_key}")
    for path in (gone, short, flipped):
        assert path.read_bytes() == originals[path]
    assert not stray.exists()
    quarantined = mirror.directory / "quarantine" / stray_key
    assert quarantined.read_bytes() == b"nobody's"

    # Kept through the grace period, deleted after it.
    assert verify(mirror, "--repair", "--delete-orphans-older-than", "7d").exit_code == 0
    assert quarantined.exists()
    result = verify(mirror, "--repair", "--delete-orphans-older-than", "0s", "--json", str(out))
    assert result.exit_code == 0
    assert not quarantined.exists()
    assert report(out)[1]["totals"]["orphans_deleted_from_quarantine"] == 1


def test_mirror_verify_resumes_an_interrupted_walk_to_the_same_totals(mirror):
    packages = mirror.web / "packages"
    victim = sorted(p for p in packages.rglob("*.whl"))[5]
    victim.unlink()
    config = read_config(mirror.config)

    whole = MirrorVerifier(config, page_size=7)
    whole.open(resume=False)
    expected = whole.run()
    whole.close()
    assert expected["missing"] == 1

    class Interrupted(Exception):
        pass

    def stop_after_three(_keys, seen=[]):  # noqa: B006 - counts calls
        seen.append(1)
        if len(seen) == 3:
            raise Interrupted

    first = MirrorVerifier(config, page_size=7, on_page=stop_after_three)
    first.open(resume=False)
    with pytest.raises(Interrupted):
        first.run()
    first.close()
    resumed = MirrorVerifier(config, page_size=7)
    resumed.open(resume=True)
    assert resumed.run() == expected
    resumed.close()


def _copy_tree_to_bucket(client, bucket: str, prefix: str, root) -> None:
    """The folder ``root`` as bandersnatch's s3 backend lays a mirror out: keys are the
    files' paths under ``/<bucket>/<prefix>``."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client.put_object(
            Bucket=bucket,
            Key=f"{prefix}/{path.relative_to(root).as_posix()}",
            Body=path.read_bytes(),
        )


def test_mirror_verify_reads_an_s3_mirror_from_bandersnatchs_config(mirror, seaweedfs, tmp_path):
    # A real bandersnatch mirror of our index, laid out in a SeaweedFS bucket as
    # bandersnatch's s3 storage backend writes one, then damaged there.
    client = seaweedfs.client()
    bucket = seaweedfs.make_bucket()
    _copy_tree_to_bucket(client, bucket, "pypi", mirror.directory)
    config = tmp_path / "s3-mirror.conf"
    config.write_text(
        "[mirror]\n"
        f"directory = /{bucket}/pypi\n"
        "storage-backend = s3\n"
        "master = https://pypi.org\n"
        "[s3]\n"
        f"endpoint_url = {seaweedfs.endpoint_url}\n"
        f"region_name = {seaweedfs.region}\n"
        f"aws_access_key_id = {seaweedfs.access_key}\n"
        f"aws_secret_access_key = {seaweedfs.secret_key}\n"
        "signature_version = s3v4\n"
    )
    packages = "pypi/web/packages/"
    listed = client.list_objects_v2(Bucket=bucket, Prefix=packages)["Contents"]
    dists = sorted(o["Key"] for o in listed if not o["Key"].endswith(".metadata"))
    gone, short, flipped = dists[0], dists[1], dists[2]
    originals = {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in dists[:3]}
    client.delete_object(Bucket=bucket, Key=gone)
    client.put_object(Bucket=bucket, Key=short, Body=originals[short][:-1])
    client.put_object(Bucket=bucket, Key=flipped, Body=bytes(b ^ 0xFF for b in originals[flipped]))
    stray = packages + "ab/cd/" + "e" * 60 + "/stray-1.0.tar.gz"
    client.put_object(Bucket=bucket, Key=stray, Body=b"nobody's")
    key = {k: k.removeprefix(packages) for k in (gone, short, flipped, stray)}

    settings = read_config(config)
    assert settings.stage_path.parent == tmp_path
    # An S3 object's time cannot be set back: judge every blob written before the run.
    verifier = MirrorVerifier(settings, deep=True, orphan_min_age=0)
    verifier.open(resume=False)
    totals = verifier.run()
    found = {line["key"]: line["class"] for line in verifier.report_lines() if "key" in line}
    verifier.close()
    assert found == {
        key[gone]: "missing",
        key[short]: "size_mismatch",
        key[flipped]: "digest_mismatch",
        key[stray]: "orphan",
    }
    # Every listed object, plus the stray; the deleted one is still expected.
    assert totals["keys"] == len(listed) + 1

    repairing = MirrorVerifier(settings, deep=True, repair=True, orphan_min_age=0)
    repairing.open(resume=False)
    totals = repairing.run()
    repairing.close()
    assert totals["repaired"] == 4
    for k in (gone, short, flipped):
        assert client.get_object(Bucket=bucket, Key=k)["Body"].read() == originals[k]
    quarantined = f"pypi/quarantine/{key[stray]}"
    assert client.get_object(Bucket=bucket, Key=quarantined)["Body"].read() == b"nobody's"
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix=stray)

    # The CLI on the same config: clean now, and the grace period's end empties the quarantine.
    result = verify_config(config, "--repair", "--delete-orphans-older-than", "0s")
    assert result.exit_code == 0, result.output
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix=quarantined)


def test_mirror_verify_refuses_an_s3_config_without_a_mirror(seaweedfs, tmp_path):
    config = tmp_path / "empty.conf"
    config.write_text(
        f"[mirror]\ndirectory = /{seaweedfs.make_bucket()}/pypi\nstorage-backend = s3\n"
        f"[s3]\nendpoint_url = {seaweedfs.endpoint_url}\naws_access_key_id = "
        f"{seaweedfs.access_key}\naws_secret_access_key = {seaweedfs.secret_key}\n"
    )
    result = verify_config(config)
    assert result.exit_code == 1
    assert "pypi/web/ holds nothing: not a bandersnatch mirror" in result.output
