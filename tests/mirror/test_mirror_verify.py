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
    result = CliRunner().invoke(
        mirror_verify, ["--config", str(mirror.config), *args], catch_exceptions=False
    )
    return result


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
