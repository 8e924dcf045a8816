"""bench/peak_memory.py: a child process's peak memory is its own, not the process's that spawned it."""

import subprocess
import sys

from bench.peak_memory import peak_rss_mb


def test_a_child_reports_its_own_peak_not_its_parents() -> None:
    # Given a parent that has touched 200 MB (as the books' bench does, building a table)
    held = bytearray(200 * 1024 * 1024)
    held[::4096] = b"x" * len(held[::4096])
    assert peak_rss_mb() > 200
    # When a fresh process reports its peak
    child = subprocess.run(
        [sys.executable, "-c", "from bench.peak_memory import peak_rss_mb; print(peak_rss_mb())"],
        capture_output=True,
        text=True,
        check=True,
    )
    # Then it is the child's few tens of MB, not the parent's 200 (Linux keeps the spawner's peak in
    # the child's getrusage ru_maxrss across exec)
    assert float(child.stdout) < 100
    del held
