"""``warehouse scan``: scan distribution files, with no database."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import click

from warehouse.scanning.findings import ScanResult
from warehouse.scanning.isolation import ChildLimits, failed_result, scan_file_isolated
from warehouse.scanning.mirror import MirrorError, latest_files
from warehouse.scanning.scanner import scan_file


def _emit(result: ScanResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_dict(), sort_keys=False))
        return
    click.echo(f"{result.verdict.upper():<10} {result.score:>3}  {result.file}")
    shown = [f for f in result.findings if f.severity != "info"]
    for finding in shown:
        where = finding.location.member or ""
        if finding.location.line:
            where += f":{finding.location.line}"
        click.echo(f"    [{finding.severity}] {finding.rule} {where}  {finding.message}")
    if len(shown) < len(result.findings):
        click.echo(f"    ({len(result.findings) - len(shown)} informational findings: see --json)")
    if result.error:
        click.echo(f"    error: {result.error.splitlines()[0]}")


json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")


@click.group()
def scan() -> None:
    """Scan distribution files for malware (read in memory, never run)."""


@scan.command("file")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@json_option
@click.option(
    "--isolated", is_flag=True, help="Scan each file in a child process under time/memory limits."
)
def scan_files(paths: tuple[str, ...], as_json: bool, isolated: bool) -> None:
    """Scan distribution files (sdists, wheels) and print a verdict for each."""
    for path in paths:
        _emit(scan_file_isolated(path) if isolated else scan_file(path), as_json)


@scan.command("mirror")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@json_option
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=1, show_default=True)
@click.option("--timeout", type=click.IntRange(1), default=60, show_default=True,
              help="CPU seconds per file.")  # fmt: skip
def scan_mirror(directory: str, as_json: bool, jobs: int, timeout: int) -> None:
    """Scan the latest release of every project in a bandersnatch mirror (DIRECTORY holds web/)."""
    try:
        files = list(latest_files(directory))
    except MirrorError as exc:
        raise click.ClickException(str(exc)) from exc
    limits = ChildLimits(cpu_seconds=timeout, wall_seconds=timeout * 1.5)

    def run(file):
        if not file.present:
            return failed_result(str(file.path), "file listed by the mirror is missing")
        return scan_file_isolated(str(file.path), limits)

    counts: dict[str, int] = {}
    with (
        ThreadPoolExecutor(max_workers=jobs) as pool,
        click.progressbar(length=len(files), label="scanning", file=sys.stderr) as bar,
    ):
        for result in pool.map(run, files):
            counts[result.verdict] = counts.get(result.verdict, 0) + 1
            _emit(result, as_json)
            bar.update(1)
    summary = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
    click.echo(f"{len(files)} files: {summary or 'none'}", err=True)


# Holds ---------------------------------------------------------------------------------------


@scan.command("holds")
def list_holds() -> None:
    """List the releases held now (malicious verdicts, scans not finished yet)."""
    from warehouse.cli.context import session_scope
    from warehouse.scanning.services import findings_queue

    with session_scope() as session:
        held = findings_queue(session).held
        for hold in held:
            click.echo(
                f"{hold.id:>6}  {hold.project_name} {hold.version}  {hold.reason}  "
                f"{hold.created:%Y-%m-%d %H:%M}  {hold.detail}"
            )
        if not held:
            click.echo("no release is held")


@scan.command("release")
@click.argument("project")
@click.argument("version")
@click.option("--reason", required=True, help="Why it is safe; kept in the admin log.")
@click.option("--by", "by", help="Name to record in the admin log (default: cli:$USER).")
def release_hold(project: str, version: str, reason: str, by: str | None) -> None:
    """Give a held release of PROJECT back to installers."""
    from warehouse.cli.admin import cli_actor, run_admin
    from warehouse.scanning import services

    run_admin(
        lambda session: services.release_hold(
            session,
            cli_actor(by),
            services.find_active_hold(session, project, version).id,
            reason,
        )
    )
    click.echo(f"{project} {version} is served again")


# The global scan ---------------------------------------------------------------------------


def _context():
    from warehouse.cli.context import load_settings
    from warehouse.tasks import TaskContext, configure_app

    settings = load_settings()
    configure_app(settings)
    return TaskContext.from_settings(settings)


@scan.command("run")
@click.option("--latest", "scope", flag_value="latest", default=True,
              help="Each project's newest release (the default).")  # fmt: skip
@click.option("--all-releases", "scope", flag_value="all-releases", help="Every release.")
@click.option("--changed-rules", "scope", flag_value="changed-rules",
              help="Releases with a file not yet scanned by the current rules.")  # fmt: skip
@click.option("--since", "since_serial", type=click.IntRange(0),
              help="Only projects changed after this journal serial.")  # fmt: skip
@click.option("--resume", "resume", type=int, metavar="RUN",
              help="Send again what run RUN has not scanned yet.")  # fmt: skip
@click.option("--by", "by", help="Name to record as the run's starter (default: cli:$USER).")
def run_scan(scope: str, since_serial: int | None, resume: int | None, by: str | None) -> None:
    """Scan the index: one task per release on the 'scanning' queue (workers do the work)."""
    import getpass

    from warehouse.scanning.runs import RunError, plan_run, resume_run, send_pending

    ctx = _context()
    try:
        with ctx.session() as session:
            if resume is not None:
                run = resume_run(session, resume)
            else:
                run = plan_run(session, scope, by or f"cli:{getpass.getuser()}", since_serial)
            run_id, total = run.id, run.total
    except RunError as exc:
        raise click.ClickException(str(exc)) from exc
    sent = send_pending(ctx, run_id)
    verb = "resumed" if resume is not None else "started"
    click.echo(f"scan run {run_id} {verb}: {total} releases, {sent} tasks sent")
    click.echo(f"follow it with: warehouse scan status {run_id} --follow")


@scan.command("status")
@click.argument("run_id", type=int, required=False)
@click.option("--follow", is_flag=True, help="Keep the progress bar going until the run ends.")
def run_status(run_id: int | None, follow: bool) -> None:
    """Progress of scan run RUN_ID (default: the newest run)."""
    import time

    import sqlalchemy as sa

    from warehouse.scanning.models import ScanRun
    from warehouse.scanning.runs import progress

    ctx = _context()

    def read():
        with ctx.session() as session:
            run = session.get(ScanRun, run_id) if run_id is not None else session.scalar(
                sa.select(ScanRun).order_by(ScanRun.id.desc()).limit(1)
            )  # fmt: skip
            if run is None:
                raise click.ClickException(
                    f"there is no scan run {run_id}" if run_id else "no scan has run yet"
                )
            return progress(session, run)

    now = read()
    label = f"run {now.run.id} ({now.run.scope}, rules {now.run.rules_version})"
    with click.progressbar(length=max(now.run.total, 1), label=label, show_pos=True) as bar:
        shown = 0
        while True:
            settled = now.done + now.failed
            bar.update(settled - shown)
            shown = settled
            if not follow or now.state == "finished":
                break
            time.sleep(1.0)
            now = read()
    verdicts = ", ".join(f"{count} {verdict}" for verdict, count in sorted(now.by_verdict.items()))
    click.echo(
        f"{now.state}: {now.done} done, {now.failed} failed, {now.pending} pending"
        f"{'; ' + verdicts if verdicts else ''}"
    )


@scan.command("export")
@click.argument("run_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "sarif", "sqlite"]), required=True)
@click.option("--to", "to", type=click.Path(dir_okay=False, writable=True), required=True)
def export_run(run_id: int, fmt: str, to: str) -> None:
    """Write run RUN_ID's results as JSON lines, SARIF or an SQLite dataset."""
    from pathlib import Path

    from warehouse.scanning.export import export
    from warehouse.scanning.models import ScanRun

    ctx = _context()
    with ctx.session() as session:
        if session.get(ScanRun, run_id) is None:
            raise click.ClickException(f"there is no scan run {run_id}")
        count = export(session, run_id, fmt, Path(to))
    click.echo(f"wrote {count} results of run {run_id} to {to}")
