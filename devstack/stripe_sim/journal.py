"""The simulator's state on disk, so it survives a restart as a Stripe account keeps its objects.

`make dev` keeps it beside DynamoDB Local's data (`.local/stripe/<test|live>` beside
`.local/dynamodb`): one append-only file of JSON lines. Each line holds the whole of one thing a
request (or a webhook delivery) changed: an object, an event with its delivery attempts, an
idempotent reply, what a session was created with, an account's onboarding URLs, the clock's
offset. A later line about the same thing replaces an earlier one; `null` forgets it. Lines are
appended when the store's lock is released by its outermost holder, so a restart sees every
finished request. At start the file is read and rewritten with only what is current.
Failure rules and the request log are not kept: they belong to the session that set them.
"""

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

Entry = dict[str, Any]
JOURNAL_NAME = "state.jsonl"


class Journal:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / JOURNAL_NAME

    def read(self) -> Iterator[Entry]:
        """Every entry in the order written; a last line cut short by a crash is skipped."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    return

    def append(self, entries: Iterable[Entry]) -> None:
        text = "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in entries)
        if text:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(text)

    def rewrite(self, entries: Iterable[Entry]) -> None:
        """Replaces the file with these entries at once (a crash leaves the old one whole)."""
        partial = self.path.with_suffix(".partial")
        with partial.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(entry, separators=(",", ":")) + "\n" for entry in entries)
        os.replace(partial, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
