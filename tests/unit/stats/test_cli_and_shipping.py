"""`warehouse stats ...` against the test database, and the shipping of closed log files."""

from __future__ import annotations

import datetime
import gzip
import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.unit.stats import agents
from tests.unit.stats.agents import download_line
from warehouse.cli import main
from warehouse.stats import export, logs
from warehouse.stats.models import CompactedShare, CountedLog, DailyDownloads
from warehouse.storage.local import LocalFileStorage

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
STAMP = NOW.strftime("%a, %d %b %Y %H:%M:%S GMT")
YESTERDAY = (NOW - datetime.timedelta(days=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.fixture
def files_path(tmp_path):
    return tmp_path / "files"


@pytest.fixture
def run(database_url, clean_database, monkeypatch, files_path, redis_server):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_server.url())
    monkeypatch.setenv("WAREHOUSE_FILES_BACKEND", "local")
    monkeypatch.setenv("WAREHOUSE_FILES_PATH", str(files_path))

    def invoke(*args: str, code: int = 0):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def _overall(session):
    t = DailyDownloads
    rows = session.execute(
        sa.select(t.day, t.mirror, t.downloads).where(t.dimension == "overall")
    ).all()
    return sorted(rows)


def test_ingest_counts_plain_and_gzipped_files_once(run, tmp_path, db_session):
    plain = tmp_path / "backfill-1.log"
    plain.write_text(download_line(agents.PIP, stamp=STAMP) * 3 + "broken line\n")
    zipped = tmp_path / "backfill-2.log.gz"
    zipped.write_bytes(gzip.compress(download_line(agents.DEVPI, stamp=STAMP).encode() * 2))
    first = run("stats", "ingest", str(plain), str(zipped))
    assert "2 file(s) counted (6 lines, 1 malformed)" in first.output
    again = run("stats", "ingest", str(plain), str(zipped))
    assert "0 file(s) counted" in again.output and "2 counted before" in again.output
    assert _overall(db_session) == [(NOW.date(), False, 3), (NOW.date(), True, 2)]
    status = run("stats", "status")
    assert "newest log counted: file/backfill-" in status.output
    assert "lag: " in status.output and "backlog: 0" in status.output


def test_ship_rotate_then_rebuild_recounts_exactly(run, tmp_path, files_path, db_session):
    log_dir = tmp_path / "cdn"
    log_dir.mkdir()
    store = LocalFileStorage(str(files_path))
    # A varnishncsa stand-in that reopens its file on SIGHUP, as the real one does.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGHUP, lambda *a: None)\n"
            "time.sleep(60)\n",
        ]
    )
    try:
        pidfile = tmp_path / "ncsa.pid"
        pidfile.write_text(str(writer.pid))
        (log_dir / logs.CURRENT).write_text(
            download_line(agents.PIP, stamp=YESTERDAY) + download_line(agents.PIP, stamp=STAMP) * 2
        )
        assert logs.ship(log_dir, store) == []  # nothing closed yet
        closed = logs.rotate(log_dir, pidfile, now=NOW)
        assert closed is not None and not (log_dir / logs.CURRENT).exists()
        assert logs.rotate(log_dir, pidfile) is None  # nothing new to close
        [key] = logs.ship(log_dir, store)
    finally:
        writer.send_signal(signal.SIGTERM)
        writer.wait()
    assert key == f"logs/{NOW:%Y/%m/%d}/{closed.name}.gz" and logs.closed_files(log_dir) == []
    with store.open(key) as blob:
        assert gzip.decompress(blob.read()).decode().count("\n") == 3

    from warehouse.settings import Settings
    from warehouse.stats.tasks import count_object, uncounted_keys
    from warehouse.tasks import TaskContext

    context = TaskContext.from_settings(Settings.from_env())
    try:
        assert uncounted_keys(context) == [key]
        assert count_object(context, key).counted
        assert not count_object(context, key).counted
        assert uncounted_keys(context) == []
    finally:
        context.engine.dispose()
    expected = [(NOW.date() - datetime.timedelta(days=1), False, 1), (NOW.date(), False, 2)]
    assert _overall(db_session) == expected

    # Months recorded as rewritten in key order: the recounted one must be rewritten anew.
    this_month = NOW.date().replace(day=1)
    before = (this_month - datetime.timedelta(days=1)).replace(day=1)
    db_session.add_all(CompactedShare(month=m, share=0, rows=1) for m in (before, this_month))
    db_session.commit()
    result = run("stats", "rebuild", "--since", NOW.date().isoformat())
    assert "1 log object(s) recounted" in result.output
    assert _overall(db_session) == expected
    row = db_session.get(CountedLog, key)
    assert row.counted_from == NOW.date()
    db_session.expire_all()
    assert db_session.scalars(sa.select(CompactedShare.month)).all() == [before]


def test_rebuild_refuses_a_bad_date(run):
    result = run("stats", "rebuild", "--since", "yesterday", code=2)
    assert "not a date like" in result.output


def test_export_writes_csv_and_parquet(run, tmp_path, db_session):
    source = tmp_path / "x.log"
    source.write_text(download_line(agents.UV, stamp=STAMP) * 2)
    run("stats", "ingest", str(source))
    out = tmp_path / "dataset"
    result = run("stats", "export", "--since", NOW.date().isoformat(), "--to", str(out))
    names = sorted(os.listdir(out))
    assert names[0].endswith(".csv.gz") and result.output.count(str(out)) == len(names)
    rows = export.read_csv_gz(out / names[0])
    assert rows[0] == list(export.COLUMNS)
    assert [NOW.date().isoformat(), "sampleproject", "overall", "", "false", "2"] in rows
    assert len(rows) == 1 + 8
    if export.parquet_available():
        import pyarrow.parquet as pq

        table = pq.read_table(out / names[1])
        assert table.num_rows == 8 and sum(table.column("downloads").to_pylist()) == 16
    bad = run("stats", "export", "--since", "2026-01-01", "--to", "s3:///x", code=1)
    assert "names no bucket" in bad.output


def test_shipping_undoes_varnishncsas_escaping(tmp_path):
    log_dir = tmp_path / "cdn"
    (log_dir / logs.CLOSED).mkdir(parents=True)
    escaped = download_line(agents.PIP).replace('"', '\\"')
    (log_dir / logs.CLOSED / "20261204T215500Z-host-1.log").write_text(escaped)
    store = LocalFileStorage(str(tmp_path / "store"))
    [key] = logs.ship(log_dir, store)
    assert key == "logs/2026/12/04/20261204T215500Z-host-1.log.gz"
    with store.open(key) as blob:
        assert gzip.decompress(blob.read()).decode() == download_line(agents.PIP)


def test_nightly_exports_yesterday_and_prunes_old_logs(run, tmp_path, files_path, db_session):
    from warehouse.settings import Settings
    from warehouse.stats.tasks import export_day, prune_logs
    from warehouse.tasks import TaskContext

    source = tmp_path / "y.log"
    source.write_text(download_line(agents.PDM, stamp=YESTERDAY) * 2)
    run("stats", "ingest", str(source))
    context = TaskContext.from_settings(Settings.from_env().replace(stats_logs_retention_days=10))
    try:
        store = context.archive
        yesterday = NOW.date() - datetime.timedelta(days=1)
        keys = export_day(context, yesterday)
        assert (
            keys[0]
            == f"datasets/downloads/{yesterday:%Y/%m}/downloads-{yesterday}-{yesterday}.csv.gz"
        )
        with store.open(keys[0]) as blob:
            assert b"sampleproject,overall,,false,2" in gzip.decompress(blob.read())
        old, kept = (
            NOW.date() - datetime.timedelta(days=12),
            NOW.date() - datetime.timedelta(days=9),
        )
        for day in (old, kept):
            local = tmp_path / f"{day}.gz"
            local.write_bytes(b"x")
            store.put(f"logs/{day:%Y/%m/%d}/a.log.gz", local, content_type="application/gzip")
        assert prune_logs(context, NOW.date()) == 1
        assert store.keys("logs/") == [f"logs/{kept:%Y/%m/%d}/a.log.gz"]
    finally:
        context.engine.dispose()


@pytest.mark.s3
@pytest.mark.xdist_group("seaweedfs")
def test_ship_and_count_through_real_s3(seaweedfs, settings, tmp_path, db_session):
    from warehouse.stats.tasks import count_object, uncounted_keys
    from warehouse.tasks import TaskContext

    s3_settings = settings.replace(
        files_backend="s3",
        s3_endpoint_url=seaweedfs.endpoint_url,
        s3_bucket=seaweedfs.make_bucket(),
        s3_prefix="archive",
        s3_access_key_id=seaweedfs.access_key,
        s3_secret_access_key=seaweedfs.secret_key,
    )
    context = TaskContext.from_settings(s3_settings)
    try:
        log_dir = tmp_path / "cdn"
        (log_dir / logs.CLOSED).mkdir(parents=True)
        name = f"{NOW:%Y%m%dT%H%M%S}Z-host-1.log"
        (log_dir / logs.CLOSED / name).write_text(download_line(agents.UV, stamp=STAMP) * 4)
        [key] = logs.ship(log_dir, context.archive)
        assert uncounted_keys(context) == [key]
        outcome = count_object(context, key)
        assert outcome.counted and outcome.downloads == 4
        assert uncounted_keys(context) == []
        assert _overall(db_session) == [(NOW.date(), False, 4)]
    finally:
        context.engine.dispose()


def test_export_writes_what_was_counted(run, tmp_path, db_session):
    from warehouse.stats import ingest

    ingest.count(db_session, "logs/counted.log", [download_line(agents.UV, stamp=STAMP)] * 3)
    db_session.commit()
    out = tmp_path / "dataset"
    run("stats", "export", "--since", NOW.date().isoformat(), "--to", str(out))
    [csv_name] = [n for n in os.listdir(out) if n.endswith(".csv.gz")]
    rows = export.read_csv_gz(out / csv_name)
    assert [NOW.date().isoformat(), "sampleproject", "overall", "", "false", "3"] in rows
    assert _overall(db_session) == [(NOW.date(), False, 3)]


def test_compact_rewrites_closed_months_and_refuses_others(run, db_session):
    this_month = NOW.date().replace(day=1)
    last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    for day, n in ((last_month, 4), (this_month, 2)):
        db_session.add(
            DailyDownloads(
                project="p", dimension="overall", day=day, category="", mirror=False, downloads=n
            )
        )
    db_session.commit()
    bad = run("stats", "compact", "--month", "2026-13", code=2)
    assert "'2026-13' is not a month like 2026-11" in bad.output
    still_open = run("stats", "compact", "--month", f"{this_month:%Y-%m}", code=1)
    assert f"{this_month:%Y-%m} has not closed yet." in still_open.output
    done = run("stats", "compact")
    assert "1 month(s), 1 rows rewritten in key order" in done.output
    again = run("stats", "compact")
    assert "1 month(s), 0 rows rewritten in key order (16 share(s) were already)" in again.output
    assert "Rebuilding" not in again.output
    assert _overall(db_session) == [(last_month, False, 4), (this_month, False, 2)]
