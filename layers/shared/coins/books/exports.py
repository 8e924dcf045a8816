"""When the table is exported: a full export starts a generation, incremental exports extend it.

The schedule asks once a day; `next_export` answers from the exports AWS lists. A full export when
there is no generation yet or the current one is `full_every` old (each incremental export adds a
window the audit reads, so a generation is bounded); else the next window of changes, from where
the last completed export ends to `lag` ago (AWS allows 15 minutes to 24 hours a window; a longer
gap takes one window a run until caught up). Nothing while an export is still running: the next
run starts from where it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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


class BooksExporter:
    """The scheduled export: what `next_export` says, started."""

    def __init__(self, exports: ExportRepository, *, bucket: str, full_every: timedelta) -> None:
        self.exports = exports
        self.bucket = bucket
        self.full_every = full_every

    def run(self, now: datetime) -> ExportPlan:
        plan = next_export(self.exports.exports(), now, full_every=self.full_every)
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
