"""The shared Powertools logger's lines as a function's stdout shows them, collected for a test.

Read from a handler of the test's own, not from capsys: the logger's stream handler writes to the
sys.stdout of when it was set up, in a full run an earlier test's, so lines went missing from a
test's captured output there (alone it passed)."""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from coins.observability import logger


class CollectedLog(logging.Handler):
    """Formats each record with the Powertools formatter, as the function's stdout would show it."""

    def __init__(self) -> None:
        super().__init__()
        self.stream = io.StringIO()
        self.setFormatter(logger.registered_formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def take(self) -> str:
        """What was logged since the last take, then forgotten."""
        taken = self.stream.getvalue()
        self.stream.seek(0)
        self.stream.truncate()
        return taken


@contextmanager
def collected_log() -> Iterator[CollectedLog]:
    """Collects the shared logger's lines meanwhile."""
    collected = CollectedLog()
    logging.getLogger(logger.name).addHandler(collected)
    try:
        yield collected
    finally:
        logging.getLogger(logger.name).removeHandler(collected)
