"""``warehouse queues``: what is waiting, what is scheduled, what failed."""

from __future__ import annotations

import click

from warehouse.cli.context import load_settings


@click.command()
@click.option("--failures", default=10, show_default=True, help="How many recent failures.")
def queues(failures: int) -> None:
    """Depth per queue, the beat schedule and recent task failures."""
    from warehouse import tasks
    from warehouse.metrics.queues import queue_depths, recent_failures, schedule

    settings = load_settings()
    tasks.configure_app(settings)
    broker = tasks.app.conf.broker_url.split("://", 1)[0]
    click.echo(f"Queues ({broker}):")
    for name, depth in queue_depths(tasks.app).items():
        click.echo(f"  {name:<30} {'-' if depth is None else depth:>8}")
    click.echo("Scheduled (beat):")
    for row in schedule(tasks.app):
        click.echo(f"  {row['name']:<20} every {row['every']:>8} s  {row['task']}")
    click.echo("Recent failures:")
    found = recent_failures(tasks.app, failures)
    for row in found:
        click.echo(f"  {row['date_done']}  {row['task_id']}  {row['name']}  {row['error']}")
    if not found:
        click.echo("  none")
