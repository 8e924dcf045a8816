"""Where this test run's permission decisions go: one JSON-lines file per pytest process.

Every tier appends to it: handlers called in-process (devstack.in_process.load_handler reads
DEVSTACK_PERMISSION_LOG), and the e2e stack's function processes and `make payouts` (given the path).
tests/unit/test_least_privilege.py then holds template.yaml against what was recorded. Set
DEVSTACK_PERMISSION_LOG yourself to keep the file (`python -m devstack.least_privilege FILE` reads it).
"""

import os
import tempfile
from pathlib import Path

from devstack.permissions import PERMISSION_LOG_VARIABLE


def permission_log() -> Path:
    """This run's file; one this process names for itself starts empty."""
    given = os.environ.get(PERMISSION_LOG_VARIABLE)
    if given:
        return Path(given)
    path = Path(tempfile.gettempdir()) / f"coins-permission-decisions-{os.getpid()}.jsonl"
    path.unlink(missing_ok=True)
    os.environ[PERMISSION_LOG_VARIABLE] = str(path)
    return path
