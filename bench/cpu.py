"""CPU seconds the local stack spends: this process (handlers, Stripe simulator) and DynamoDB Local.

On a machine shared with other work, wall-clock time mostly measures the wait for a core; the CPU
time the stack itself consumed does not, so each timed benchmark reports both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _children_running(marker: str) -> list[int]:
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == me and marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@dataclass(frozen=True)
class CpuReading:
    functions: float  # this process: the handlers and the code they call
    dynamodb: float  # the DynamoDB Local JVM
    stripe: float  # the Stripe simulator, standing in for Stripe

    @property
    def stack(self) -> float:
        """What the platform itself spends: the functions and DynamoDB, not Stripe."""
        return self.functions + self.dynamodb

    def __sub__(self, other: CpuReading) -> CpuReading:
        return CpuReading(
            self.functions - other.functions, self.dynamodb - other.dynamodb, self.stripe - other.stripe
        )


class StackCpu:
    """CPU seconds of this process, the DynamoDB Local JVM and the Stripe simulator it started."""

    def __init__(self) -> None:
        self._jvms = _children_running("DynamoDBLocal.jar")
        self._simulators = _children_running("devstack.stripe_sim")

    def read(self) -> CpuReading:
        own = os.times()
        return CpuReading(
            functions=own.user + own.system,
            dynamodb=sum(_process_cpu(pid) for pid in self._jvms),
            stripe=sum(_process_cpu(pid) for pid in self._simulators),
        )
