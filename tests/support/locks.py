"""Reads the hashed lock files `make lock` writes (uv's requirements.txt format) and holds them
against pyproject.toml, without a network: what a lock pins for the project itself is what its
`# via coins-backend (pyproject.toml...)` annotations say, and every pin must satisfy pyproject's range.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "coins-backend"

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


@dataclass
class Pin:
    name: NormalizedName
    version: Version
    marker: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LockSource:
    """One lock and what in pyproject.toml it is resolved from."""

    lock: Path
    requirements: tuple[Requirement, ...]
    # How uv names pyproject.toml in the lock's `# via` annotations for these requirements.
    via: str


def read_lock(path: Path) -> list[Pin]:
    pins: list[Pin] = []
    in_via = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not raw.startswith(" ")):
            continue
        if not raw.startswith(" "):
            match = _PIN.match(line)
            if match is None:
                raise ValueError(f"{path.name}: not a pinned requirement: {line!r}")
            marker = line.split(";", 1)[1].rstrip("\\ ").strip() if ";" in line else ""
            pins.append(Pin(canonicalize_name(match["name"]), Version(match["version"]), marker))
            in_via = False
        elif line.startswith("--hash="):
            pins[-1].hashes.append(line.removeprefix("--hash=").rstrip("\\ ").strip())
        elif line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                pins[-1].via.append(rest)
        elif line.startswith("#") and in_via:
            pins[-1].via.append(line.lstrip("# ").strip())
    return pins


def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def lock_sources(project: dict[str, object] | None = None) -> dict[str, LockSource]:
    data = project if project is not None else pyproject()
    meta: dict[str, list[str]] | dict[str, object] = data["project"]  # type: ignore[assignment]
    runtime = tuple(Requirement(r) for r in meta["dependencies"])  # type: ignore[attr-defined]
    dev = tuple(Requirement(r) for r in meta["optional-dependencies"]["dev"])  # type: ignore[index]
    groups: dict[str, list[str]] = data["dependency-groups"]  # type: ignore[assignment]
    origin = f"{PROJECT} (pyproject.toml)"
    return {
        "layer": LockSource(ROOT / "layers/shared/requirements.txt", runtime, origin),
        "dev": LockSource(ROOT / "requirements/dev.txt", runtime + dev, origin),
        **{
            group: LockSource(
                ROOT / f"requirements/{group}.txt",
                tuple(Requirement(r) for r in groups[group]),
                f"{PROJECT} (pyproject.toml:{group})",
            )
            for group in ("sam", "checkov")
        },
    }


def disagreements(source: LockSource, pins: list[Pin]) -> list[str]:
    """What a lock and its part of pyproject.toml disagree on; empty when they agree."""
    problems: list[str] = []
    wanted = {canonicalize_name(r.name): r for r in source.requirements}
    locked_direct = {p.name for p in pins if source.via in p.via}
    by_name: dict[NormalizedName, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    for name, requirement in sorted(wanted.items()):
        if name not in by_name:
            problems.append(f"{name} is in pyproject.toml but not in the lock")
            continue
        for pin in by_name[name]:
            if not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{name}=={pin.version} is outside pyproject.toml's {requirement.specifier}")
        if name not in locked_direct:
            problems.append(f"{name} is in pyproject.toml, but the lock does not have it from pyproject.toml")
    for name in sorted(locked_direct - wanted.keys()):
        problems.append(f"{name} is locked as a requirement of pyproject.toml, which no longer asks for it")
    for pin in pins:
        if not pin.hashes:
            problems.append(f"{pin.name}=={pin.version} has no hash")
    return problems
