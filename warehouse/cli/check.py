"""``warehouse check``: after a fault, is anything lost or half-written? (warehouse.check)"""

from __future__ import annotations

import datetime
import json
import sys

import click

from warehouse.cli.context import load_settings
from warehouse.cli.storage import parse_duration


@click.command("check")
@click.option(
    "--since",
    default="24h",
    show_default=True,
    help="Check the files uploaded within this long (30m, 24h, 7d), or 'all'.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per check on stdout.")
def check(since: str, as_json: bool) -> None:
    """Check the archive holds the recent files' blobs, the journal has no gaps, the cache
    store converges and no task failed for good. Exits with status 1 on any problem."""
    from warehouse import check as checks
    from warehouse import tasks
    from warehouse.metrics.queues import recent_failures

    settings = load_settings()
    now = datetime.datetime.now(datetime.UTC)
    window = None if since == "all" else now - datetime.timedelta(seconds=parse_duration(since))
    ctx = tasks.TaskContext.from_settings(settings)
    try:
        findings = []
        with ctx.session() as session:
            findings.append(checks.journal_has_no_gaps(session))
            total = checks.count_files_since(session, window)
            with click.progressbar(
                length=total, label="Archive blobs", file=sys.stderr, show_pos=True
            ) as bar:
                findings.append(
                    checks.files_in_archive(
                        session, ctx.archive, window, on_file=lambda: bar.update(1)
                    )
                )
            if ctx.has_separate_cache:
                findings.append(
                    checks.cache_converges(
                        session, reconcile_seconds=settings.cache_reconcile_seconds, now=now
                    )
                )
        tasks.configure_app(settings)
        try:
            failures = recent_failures(tasks.app, limit=1000)
        except Exception as exc:  # noqa: BLE001 - said as a failed check, not a traceback
            findings.append(checks.Finding("tasks", False, f"the result backend: {exc}"))
        else:
            findings.append(checks.no_failed_tasks(failures, window))
    finally:
        ctx.engine.dispose()

    for finding in findings:
        if as_json:
            click.echo(json.dumps(finding.as_json(), sort_keys=True))
            continue
        click.echo(f"{'ok  ' if finding.ok else 'FAIL'} {finding.check}: {finding.detail}")
        for example in finding.examples:
            click.echo(f"       {example}")
    if not all(finding.ok for finding in findings):
        raise SystemExit(1)
