"""A process's own peak memory, for the benchmarks that measure a child process's.

Not getrusage's ru_maxrss: Linux carries the peak of the process that spawned a child into the
child's across exec (exec_mmap keeps the old memory map's high-water mark in the process's
maxrss), so a child started by a parent that had built a large table reported at least the
parent's peak. /proc/self/status's VmHWM is the high-water mark of this process's own memory map,
made at exec.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory since its exec, in MB (ru_maxrss where /proc has none)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
