"""When the table is exported: a full export starts a generation, incremental exports extend it.

The schedule asks once a day; `next_export` answers from the exports AWS lists. A full export when
there is no generation yet or the current one is `full_every` old (each incremental export adds a
window the audit reads, so a generation is bounded); else the next window of changes, from where
the last completed export ends to `lag` ago (AWS allows 15 minutes to 24 hours a window; a longer
gap takes one window a run until caught up). Nothing while an export is still running: the next
run starts from where it ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from coins.books.store import BooksStore
from coins.repository.exports import FULL, ExportRepository, TableExport, generation_of

MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ExportPlan:
    action: str  # full, incremental, wait, nothing
    prefix: str = ""
    since: datetime | None = None
    until: datetime | None = None
    reason: str = ""


def next_export(
    exports: Sequence[TableExport], now: datetime, *, full_every: timedelta, lag: timedelta = MIN_WINDOW
) -> ExportPlan:
    running = [e for e in exports if e.status == "IN_PROGRESS"]
    if running:
        return ExportPlan("wait", reason=f"export {running[-1].export_id} is still running")
    generation = generation_of(exports)
    if not generation or now - generation[0].end >= full_every:
        why = "no generation yet" if not generation else f"the generation is {now - generation[0].end} old"
        return ExportPlan("full", prefix=f"exports/g{now:%Y%m%dT%H%M%S}", until=now, reason=why)
    done = [e for e in generation if e.status == "COMPLETED"]
    since = max(e.end for e in done)
    until = min(now - lag, since + MAX_WINDOW)
    if until - since < MIN_WINDOW:
        return ExportPlan("nothing", reason=f"the last export ends {since.isoformat()}: too recent")
    return ExportPlan("incremental", prefix=generation[0].prefix, since=since, until=until)


class ExportCatalog:
    """The table's exports, from what they wrote to the books bucket (AWS's documented layout): an
    export that finished wrote its `manifest-summary.json`; one still running (or that failed) has
    only its `_started` file, and DynamoDB says which (DescribeExport)."""

    def __init__(self, repository: ExportRepository, store: BooksStore) -> None:
        self.repository = repository
        self.store = store

    def exports(self) -> list[TableExport]:
        folders: dict[str, set[str]] = {}
        for key in self.store.keys("exports/"):
            parts = key.split("/")
            if len(parts) >= 5 and parts[2] == "AWSDynamoDB" and parts[3] != "data":
                folders.setdefault("/".join(parts[:4]), set()).add(parts[4])
        found = []
        for folder, names in folders.items():
            if "manifest-summary.json" in names:
                found.append(_from_summary(json.loads(self.store.read(f"{folder}/manifest-summary.json"))))
            elif "_started" in names:
                found.append(self.repository.describe(folder.rsplit("/", 1)[-1]))
        return sorted(found, key=lambda e: (e.end, e.export_type != FULL))


def _from_summary(summary: dict[str, Any]) -> TableExport:
    kind = summary.get("exportType", FULL)
    start = summary.get("exportFromTime", summary["exportTime"])
    end = summary.get("exportToTime", summary["exportTime"])
    return TableExport(
        export_arn=str(summary["exportArn"]),
        status="COMPLETED",
        export_type=kind,
        prefix=str(summary["s3Prefix"]),
        start=_moment(start),
        end=_moment(end),
        items=int(summary.get("itemCount", 0)),
    )


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class BooksExporter:
    """The scheduled export: what `next_export` says, started."""

    def __init__(self, catalog: ExportCatalog, *, bucket: str, full_every: timedelta) -> None:
        self.catalog = catalog
        self.exports = catalog.repository
        self.bucket = bucket
        self.full_every = full_every

    def run(self, now: datetime) -> ExportPlan:
        plan = next_export(self.catalog.exports(), now, full_every=self.full_every)
        if plan.action == "full":
            self.exports.start_full(bucket=self.bucket, prefix=plan.prefix, at=now)
        elif plan.action == "incremental":
            if plan.since is None or plan.until is None:
                raise ValueError("an incremental export needs its window")
            self.exports.start_incremental(
                bucket=self.bucket, prefix=plan.prefix, since=plan.since, until=plan.until
            )
        return plan


def audited_chain(exports: Sequence[TableExport]) -> list[TableExport]:
    """The latest generation's full export and its completed incremental exports in an unbroken
    chain (a failed or running window stops it): what an audit may read as of the chain's end."""
    generation = generation_of(exports)
    if not generation:
        return []
    chain = [generation[0]]
    for export in sorted(generation[1:], key=lambda e: e.start):
        if export.status != "COMPLETED" or export.start > chain[-1].end:
            break
        chain.append(export)
    return chain if chain[0].export_type == FULL else []
