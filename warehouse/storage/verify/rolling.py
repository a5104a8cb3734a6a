"""The rolling pass: each hour, verify enough ranges that a store is done every N days."""

from __future__ import annotations

import math
from collections.abc import Callable

import sqlalchemy as sa
import structlog

from warehouse.storage.verify.models import VerifyRange, VerifyRun
from warehouse.storage.verify.runner import start_run

log = structlog.get_logger(__name__)


def verify_slice(ctx, send: Callable[[int, int], object]) -> dict[str, int]:
    """Send this hour's share of ranges of each store's open rolling run (one is started
    when the last has finished); returns how many ranges were sent per store."""
    settings = ctx.settings
    stores = ["archive", "cache"] if ctx.has_separate_cache else ["archive"]
    sent: dict[str, int] = {}
    for store in stores:
        with ctx.session() as session:
            run = session.scalars(
                sa.select(VerifyRun)
                .where(
                    VerifyRun.store == store,
                    VerifyRun.rolling.is_(True),
                    VerifyRun.finished_at.is_(None),
                )
                .order_by(VerifyRun.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if run is None:
                run = start_run(
                    session,
                    store,
                    repair=settings.verify_rolling_repair,
                    digits=settings.verify_range_digits,
                    rolling=True,
                )
            total = len(run.ranges)
            share = math.ceil(total / (settings.verify_full_pass_days * 24))
            ranges = session.scalars(
                sa.select(VerifyRange.id)
                .where(
                    VerifyRange.run_id == run.id,
                    VerifyRange.finished_at.is_(None),
                    sa.or_(
                        VerifyRange.lease_until.is_(None), VerifyRange.lease_until < sa.func.now()
                    ),
                )
                .order_by(VerifyRange.lo)
                .limit(share)
            ).all()
            run_id = run.id
        for range_id in ranges:
            send(run_id, range_id)
        sent[store] = len(ranges)
        log.info("verify slice sent", store=store, run=run_id, ranges=len(ranges))
    return sent
