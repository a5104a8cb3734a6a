"""``warehouse storage verify``: compare a store with the database, resumably; repair."""

from __future__ import annotations

import datetime
import json
import re
import time

import click
import sqlalchemy as sa

from warehouse.cli.context import load_settings

_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """Seconds in ``7d``, ``12h``, ``30m``, ``90s`` or ``3600``."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise click.BadParameter(f"{text!r} is not a duration like 7d, 12h, 30m or 3600")
    return int(match[1]) * _UNITS[match[2]]


def _duration(ctx, param, value):
    return None if value is None else parse_duration(value)


def _format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _digits(asked: int | None, spread: bool, settings) -> int:
    # One process walks the ranges one after the other, and each range's last listing page
    # is short: few ranges cost fewer requests. Spread over workers, more ranges share out.
    if asked is not None:
        return asked
    return settings.verify_range_digits if spread else 1


@click.group()
def storage() -> None:
    """File stores: verification and repair."""


@storage.command()
@click.option(
    "--store",
    type=click.Choice(["archive", "cache", "all"]),
    default="all",
    show_default=True,
    help="Which store to compare with the database.",
)
@click.option("--deep", is_flag=True, help="Read every blob and check its SHA-256 and BLAKE2b.")
@click.option(
    "--repair",
    is_flag=True,
    help="Copy missing or corrupt blobs from the other store; move orphans to quarantine.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report here: one JSON line per problem, then the totals.",
)
@click.option("--resume", is_flag=True, help="Go on with the unfinished run(s) of --store.")
@click.option("--run", "run_id", type=int, help="With --resume: the run to go on with.")
@click.option("--status", is_flag=True, help="List recent runs with their progress and ETA.")
@click.option(
    "--delete-orphans-older-than",
    "delete_after",
    callback=_duration,
    help="With --repair: delete orphans quarantined longer ago than this (7d, 12h, ...).",
)
@click.option(
    "--range-digits",
    type=click.IntRange(0, 4),
    help="Split the key space on this many hex digits (default: 1, or with --spread"
    " WAREHOUSE_VERIFY_RANGE_DIGITS).",
)
@click.option(
    "--spread",
    is_flag=True,
    help="Send the ranges to the Celery workers' storage-verify queue and watch them.",
)
def verify(
    store, deep, repair, json_path, resume, run_id, status, delete_after, range_digits, spread
):
    """Compare a store with the file rows, page by page, checkpointed in the database.

    Killed at any moment, `--resume` goes on from the last page; the totals are those of an
    uninterrupted run. Exits with status 3 when problems were found (and not all repaired).
    """
    from warehouse.storage.verify import runner
    from warehouse.storage.verify.models import VerifyRange, VerifyRun
    from warehouse.tasks import TaskContext

    settings = load_settings()
    ctx = TaskContext.from_settings(settings)
    try:
        if status:
            _print_status(ctx)
            return
        stores = ["archive", "cache"] if store == "all" else [store]
        if store == "all" and not ctx.has_separate_cache:
            stores = ["archive"]
        if store == "cache" and not ctx.has_separate_cache:
            raise click.ClickException(
                "no cache store is configured (WAREHOUSE_CACHE_BACKEND): the archive is the cache"
            )
        if run_id is not None and not resume:
            raise click.ClickException("--run names a run to resume: add --resume")
        with ctx.session() as session:
            if resume:
                query = sa.select(VerifyRun).where(VerifyRun.finished_at.is_(None))
                if run_id is not None:
                    query = query.where(VerifyRun.id == run_id)
                else:
                    query = query.where(VerifyRun.store.in_(stores), VerifyRun.rolling.is_(False))
                runs = session.scalars(query.order_by(VerifyRun.id)).all()
                if not runs:
                    what = f"run {run_id}" if run_id is not None else f"run of {', '.join(stores)}"
                    raise click.ClickException(
                        f"no unfinished verify {what} to resume; start one without --resume"
                    )
            else:
                try:
                    runs = [
                        runner.start_run(
                            session,
                            name,
                            deep=deep,
                            repair=repair,
                            digits=_digits(range_digits, spread, settings),
                            delete_orphans_after=delete_after,
                        )
                        for name in stores
                    ]
                except runner.VerifyError as exc:
                    raise click.ClickException(str(exc)) from exc
            run_ids = [run.id for run in runs]
            for run in runs:
                click.echo(
                    f"run {run.id}: {run.store}, {len(run.ranges)} ranges, "
                    f"~{run.expected_keys} keys{' (resumed)' if resume else ''}"
                )
        problems = 0
        for rid in run_ids:
            problems += _run_one(ctx, rid, spread, VerifyRun, VerifyRange, runner)
        if json_path:
            with open(json_path, "w") as out, ctx.session() as session:
                for rid in run_ids:
                    run = session.get(VerifyRun, rid)
                    for line in runner.report_lines(session, run):
                        out.write(json.dumps(line, sort_keys=True) + "\n")
            click.echo(f"report written to {json_path}")
        if problems:
            raise SystemExit(3)
    finally:
        ctx.engine.dispose()


def _run_one(ctx, run_id, spread, VerifyRun, VerifyRange, runner) -> int:
    with ctx.session() as session:
        run = session.get(VerifyRun, run_id)
        done_before = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(VerifyRange.keys_done), 0)).where(
                VerifyRange.run_id == run_id
            )
        )
        length = max(run.expected_keys, int(done_before), 1)
        label = f"Verifying the {run.store}"
        range_ids = [r.id for r in run.ranges if r.finished_at is None]

    told = []

    def waiting():
        # Every range left is leased by a process that is alive (or on another host).
        if not told:
            told.append(True)
            click.echo(
                f"\nwaiting for ranges of run {run_id} held by another process (their lease"
                f" ends {ctx.settings.verify_lease_seconds} s after its last page)"
            )
        time.sleep(1)

    with click.progressbar(length=length, label=label, show_pos=True, show_eta=True) as bar:
        bar.update(int(done_before))
        if spread:
            from warehouse.storage.tasks import verify_range

            for range_id in range_ids:
                verify_range.delay(run_id, range_id)
            seen = int(done_before)
            while not runner.finish_run_if_done(ctx, run_id):
                time.sleep(1)
                with ctx.session() as session:
                    now = session.scalar(
                        sa.select(sa.func.coalesce(sa.func.sum(VerifyRange.keys_done), 0)).where(
                            VerifyRange.run_id == run_id
                        )
                    )
                bar.update(int(now) - seen)
                seen = int(now)
        else:
            runner.verify_run(
                ctx,
                run_id,
                page_size=ctx.settings.verify_page_size,
                on_page=bar.update,
                wait=waiting,
            )
    with ctx.session() as session:
        run = session.get(VerifyRun, run_id)
        counts = runner.totals(session, run)
    figures = ", ".join(f"{name} {value}" for name, value in counts.items())
    click.echo(f"run {run_id} ({run.store}): {figures}")
    problems = sum(counts[kind] for kind in runner.PROBLEMS)
    return problems - counts["repaired"]


def _print_status(ctx) -> None:
    from warehouse.storage.verify import runner

    with ctx.session() as session:
        now = session.scalar(sa.select(sa.func.now()))
        items = runner.progress(session)
        if not items:
            click.echo("no verify runs yet")
            return
        click.echo(
            f"{'run':>5} {'store':8} {'started (UTC)':17} {'state':9} {'ranges':>9} "
            f"{'keys':>12} {'done':>6} {'problems':>8} {'ETA':>8}"
        )
        for item in items:
            run = item.run
            state = "finished" if run.finished_at else "running"
            if run.rolling:
                state += "*"
            started = run.started_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")
            click.echo(
                f"{run.id:>5} {run.store:8} {started:17} {state:9} "
                f"{item.ranges_done:>4}/{item.ranges:<4} {item.keys_done:>12} "
                f"{item.fraction * 100:>5.1f}% {item.problems:>8} "
                f"{_format_seconds(item.eta_seconds(now)):>8}"
            )
        click.echo("* rolling runs, verified a slice an hour by the workers")
