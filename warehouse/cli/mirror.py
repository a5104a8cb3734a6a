"""``warehouse mirror-verify``: check a bandersnatch mirror against its own JSON, resumably."""

from __future__ import annotations

import json
from pathlib import Path

import click

from warehouse.cli.storage import _duration


@click.command("mirror-verify")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The mirror's unmodified bandersnatch.conf.",
)
@click.option("--deep", is_flag=True, help="Hash every file and compare its SHA-256.")
@click.option(
    "--repair",
    is_flag=True,
    help="Fetch missing or corrupt files again; move orphans to <directory>/quarantine.",
)
@click.option("--resume", is_flag=True, help="Go on with the run staged beside the mirror.")
@click.option(
    "--delete-orphans-older-than",
    "delete_after",
    callback=_duration,
    help="With --repair: delete quarantined orphans older than this (7d, 12h, ...).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report here: one JSON line per problem, then the totals.",
)
def mirror_verify(config_path, deep, repair, resume, delete_after, json_path):
    """Compare a bandersnatch mirror's files with its web/json metadata.

    Reads the mirror where the config keeps it: a folder (storage-backend filesystem) or an
    S3 bucket (storage-backend s3, with its [s3] section). Stages what it reads in an SQLite
    file beside the mirror (beside the config for an S3 mirror), so memory stays flat and a
    killed run goes on with --resume. Exits with status 3 when problems were found (and not
    all repaired).
    """
    from warehouse.storage.verify.mirror import MirrorVerifier, MirrorVerifyError, read_config

    if delete_after is not None and not repair:
        raise click.ClickException("deleting quarantined orphans is a repair: add --repair")
    try:
        config = read_config(config_path)
        verifier = MirrorVerifier(
            config, deep=deep, repair=repair, delete_orphans_after=delete_after
        )
        verifier.open(resume=resume)
    except MirrorVerifyError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        click.echo(f"verifying {config.directory} (staged in {verifier.stage_path.name})")
        read = verifier.ingest()
        click.echo(f"{read} project documents read")
        expected = verifier.db.execute("SELECT count(*) FROM expected").fetchone()[0]
        length = max(expected, 1)
        with click.progressbar(label="Walking web/packages", length=length, show_pos=True) as bar:
            verifier.on_page = bar.update
            verifier.walk()
        if not verifier._get("purged"):
            verifier.purge_quarantine()
            verifier._set("purged", 1)
        counts = verifier.totals()
        click.echo(", ".join(f"{name} {value}" for name, value in counts.items()))
        if json_path:
            with open(json_path, "w") as out:
                for line in verifier.report_lines():
                    out.write(json.dumps(line, sort_keys=True) + "\n")
            click.echo(f"report written to {json_path}")
    finally:
        verifier.close()
    problems = sum(counts[kind] for kind in ("missing", "orphan", "size_mismatch"))
    problems += counts["digest_mismatch"] + counts["unreadable"]
    if problems - counts["repaired"] > 0:
        raise SystemExit(3)
