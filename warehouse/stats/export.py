"""The daily aggregates as a dataset: gzipped CSV (and Parquet when pyarrow is installed).

Rows are read with a server-side cursor and written as they come, so memory stays flat
however many days are exported.
"""

from __future__ import annotations

import csv
import datetime
import gzip
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from warehouse.stats.models import DailyDownloads

COLUMNS = ("date", "project", "dimension", "category", "mirror", "downloads")
BATCH = 10_000


def rows(session, since: datetime.date, until: datetime.date | None = None) -> Iterator[tuple]:
    t = DailyDownloads
    query = sa.select(t.day, t.project, t.dimension, t.category, t.mirror, t.downloads).where(
        t.day >= since
    )
    if until is not None:
        query = query.where(t.day <= until)
    query = query.order_by(t.day, t.project, t.dimension, t.category, t.mirror)
    result = session.execute(query.execution_options(yield_per=BATCH))
    for row in result:
        yield tuple(row)


def write_csv_gz(path: Path, source: Iterator[tuple]) -> int:
    count = 0
    with gzip.open(path, "wt", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for day, project, dimension, category, mirror, downloads in source:
            writer.writerow(
                [
                    day.isoformat(),
                    project,
                    dimension,
                    category,
                    "true" if mirror else "false",
                    downloads,
                ]
            )
            count += 1
    return count


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def write_parquet(path: Path, source: Iterator[tuple]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("date", pa.date32()),
            ("project", pa.string()),
            ("dimension", pa.string()),
            ("category", pa.string()),
            ("mirror", pa.bool_()),
            ("downloads", pa.int64()),
        ]
    )
    count = 0

    def table(batch: list[tuple]):
        columns = [
            pa.array([row[i] for row in batch], type=schema.field(i).type)
            for i in range(len(COLUMNS))
        ]
        return pa.Table.from_arrays(columns, schema=schema)

    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        batch: list[tuple] = []
        for row in source:
            batch.append(row)
            if len(batch) >= BATCH:
                writer.write_table(table(batch))
                count += len(batch)
                batch = []
        if batch:
            writer.write_table(table(batch))
            count += len(batch)
    return count


def export(session_factory, since, until, target: str, s3_client_factory=None) -> list[str]:
    """Write the dataset under ``target`` (a folder, or ``s3://bucket/prefix``); the names
    written. ``session_factory()`` gives a fresh session per format."""
    stem = f"downloads-{since.isoformat()}-{until.isoformat() if until else 'latest'}"
    formats = [("csv.gz", write_csv_gz)]
    if parquet_available():
        formats.append(("parquet", write_parquet))
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for suffix, writer in formats:
            local = Path(scratch) / f"{stem}.{suffix}"
            with session_factory() as session:
                writer(local, rows(session, since, until))
            if target.startswith("s3://"):
                bucket, _, prefix = target[len("s3://") :].partition("/")
                if not bucket:
                    raise ValueError(f"{target!r} names no bucket: use s3://bucket/prefix")
                key = f"{prefix.rstrip('/')}/{local.name}".lstrip("/")
                s3_client_factory().upload_file(str(local), bucket, key)
                written.append(f"s3://{bucket}/{key}")
            else:
                folder = Path(target)
                folder.mkdir(parents=True, exist_ok=True)
                destination = folder / local.name
                shutil.move(str(local), str(destination))
                written.append(str(destination))
    return written


def read_csv_gz(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return list(csv.reader(io.StringIO(f.read())))
