"""A run's results as JSON lines, SARIF 2.1.0 or an SQLite dataset, streamed from the database
(a page of results at a time: memory stays flat whatever the run's size)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.scanning.models import ScanResultRow

FORMATS = ("jsonl", "sarif", "sqlite")
PAGE = 500
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning"}


def results_of(session: orm.Session, run_id: int) -> Iterator[ScanResultRow]:
    after = 0
    while True:
        page = list(
            session.scalars(
                sa.select(ScanResultRow)
                .where(ScanResultRow.run_id == run_id, ScanResultRow.id > after)
                .options(orm.selectinload(ScanResultRow.findings))
                .order_by(ScanResultRow.id)
                .limit(PAGE)
            )
        )
        if not page:
            return
        yield from page
        after = page[-1].id
        session.expunge_all()


def as_document(result: ScanResultRow) -> dict:
    """One result as ``scan file --json`` prints one, with the project and the excerpts."""
    return {
        "project": result.project_name,
        "version": result.version,
        "file": result.filename,
        "sha256": result.sha256,
        "score": result.score,
        "verdict": result.verdict,
        "rules_version": result.rules_version,
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity,
                "score": f.score,
                "message": f.message,
                "location": {"member": f.member, "line": f.line},
                "excerpt": f.excerpt,
            }
            for f in result.findings
        ],
        **({"error": result.error} if result.error else {}),
    }


def export(session: orm.Session, run_id: int, fmt: str, to: Path) -> int:
    """Write the run's results to ``to``; returns how many results were written."""
    if fmt not in FORMATS:
        raise ValueError(f"the format is one of {', '.join(FORMATS)}, not {fmt!r}")
    writer = {"jsonl": _jsonl, "sarif": _sarif, "sqlite": _sqlite}[fmt]
    return writer(results_of(session, run_id), to)


def _jsonl(results, to: Path) -> int:
    count = 0
    with to.open("w", encoding="utf-8") as out:
        for result in results:
            out.write(json.dumps(as_document(result), ensure_ascii=False) + "\n")
            count += 1
    return count


def _sarif(results, to: Path) -> int:
    # "results" is written before "tool" (key order is free in JSON), so the rules seen can be
    # listed at the end without holding the results in memory.
    rules: dict[str, str] = {}
    version = None
    count = 0
    with to.open("w", encoding="utf-8") as out:
        out.write(f'{{"$schema": "{SARIF_SCHEMA}", "version": "2.1.0", "runs": [{{"results": [')
        first = True
        for result in results:
            version = result.rules_version
            count += 1
            for f in result.findings:
                rules.setdefault(f.rule, f.message.split(":", 1)[0])
                region = {"startLine": f.line} if f.line else {}
                if f.excerpt:
                    region["snippet"] = {"text": f.excerpt}
                location = {"artifactLocation": {"uri": f"{result.filename}!{f.member or ''}"}}
                if region:
                    location["region"] = region
                entry = {
                    "ruleId": f.rule,
                    "level": _SARIF_LEVEL.get(f.severity, "note"),
                    "message": {"text": f.message},
                    "locations": [{"physicalLocation": location}],
                    "properties": {
                        "project": result.project_name,
                        "version": result.version,
                        "sha256": result.sha256,
                        "verdict": result.verdict,
                        "score": result.score,
                        "severity": f.severity,
                    },
                }
                out.write(("" if first else ",") + json.dumps(entry, ensure_ascii=False))
                first = False
        driver = {
            "name": "warehouse-scan",
            "version": version or "",
            "rules": [
                {"id": rule, "shortDescription": {"text": text}}
                for rule, text in sorted(rules.items())
            ],
        }
        out.write(f'], "tool": {{"driver": {json.dumps(driver)}}}}}]}}')
    return count


_SQLITE_SCHEMA = """
CREATE TABLE results (id INTEGER PRIMARY KEY, project TEXT, version TEXT, file TEXT,
    sha256 TEXT, score INTEGER, verdict TEXT, rules_version TEXT, error TEXT, seconds REAL);
CREATE TABLE findings (result_id INTEGER REFERENCES results(id), rule TEXT, kind TEXT,
    severity TEXT, score INTEGER, message TEXT, member TEXT, line INTEGER, excerpt TEXT);
CREATE INDEX findings_result ON findings (result_id);
CREATE INDEX results_verdict ON results (verdict);
"""


def _sqlite(results, to: Path) -> int:
    if to.exists():
        to.unlink()
    connection = sqlite3.connect(to)
    count = 0
    try:
        connection.executescript(_SQLITE_SCHEMA)
        for result in results:
            connection.execute(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.id,
                    result.project_name,
                    result.version,
                    result.filename,
                    result.sha256,
                    result.score,
                    result.verdict,
                    result.rules_version,
                    result.error,
                    result.seconds,
                ),  # fmt: skip
            )
            connection.executemany(
                "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        result.id,
                        f.rule,
                        f.kind,
                        f.severity,
                        f.score,
                        f.message,
                        f.member,
                        f.line,
                        f.excerpt,
                    )  # fmt: skip
                    for f in result.findings
                ],
            )
            count += 1
            if count % PAGE == 0:
                connection.commit()
        connection.commit()
    finally:
        connection.close()
    return count
