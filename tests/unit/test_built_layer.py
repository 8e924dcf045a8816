"""The layer `make build` (sam build) produced, as Lambda would unpack it under /opt/python.

`make test` builds first and sets REQUIRE_BUILD, so there these tests fail rather than skip when
the build is missing; a developer running pytest alone without `make build` sees them skipped."""

import importlib.util
import os
import struct
import sys
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.locks import ROOT, read_lock

BUILT_LAYER = ROOT / ".aws-sam/build/SharedLayer/python"
ELF_MACHINE_AARCH64 = 183


@pytest.fixture(scope="module")
def layer() -> Path:
    if not BUILT_LAYER.is_dir():
        message = f"no built layer at {BUILT_LAYER.relative_to(ROOT)}: run `make build`"
        if os.environ.get("REQUIRE_BUILD"):
            pytest.fail(message)
        pytest.skip(message)
    return BUILT_LAYER


def distributions(layer: Path) -> dict[str, tuple[Version, list[Requirement]]]:
    found: dict[str, tuple[Version, list[Requirement]]] = {}
    for dist_info in layer.glob("*.dist-info"):
        meta = Parser().parsestr((dist_info / "METADATA").read_text())
        requires = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
        found[canonicalize_name(meta["Name"])] = (Version(meta["Version"]), requires)
    return found


def test_boto3_and_botocore_in_the_layer_belong_together(layer: Path) -> None:
    # Given the built layer's packages
    dists = distributions(layer)
    # Then it ships boto3, and its botocore (which aws-xray-sdk needs anyway) is the one boto3
    # and s3transfer were released against, not whatever the runtime carries
    botocore = dists["botocore"][0]
    for user in ("boto3", "s3transfer"):
        (wanted,) = [r for r in dists[user][1] if r.name == "botocore" and not r.marker]
        assert wanted.specifier.contains(botocore), (
            f"{user} wants botocore{wanted.specifier}, layer has {botocore}"
        )
    # (boto3 and botocore share their version number since 1.36)
    assert dists["boto3"][0] == botocore


def test_the_layer_holds_exactly_what_its_lock_pins(layer: Path) -> None:
    locked = {p.name: p.version for p in read_lock(ROOT / "layers/shared/requirements.txt")}
    built = {name: version for name, (version, _) in distributions(layer).items()}
    assert built == locked


def test_every_compiled_module_is_for_lambdas_arm64_python_313(layer: Path) -> None:
    # Lambda runs arm64 (Globals.Architectures); an x86_64 or other-Python binary fails at import.
    compiled = list(layer.rglob("*.so"))
    assert compiled, "pydantic-core at least is compiled"
    wrong = []
    for path in compiled:
        header = path.read_bytes()[:20]
        (machine,) = struct.unpack_from("<H", header, 18)
        if header[:4] != b"\x7fELF" or machine != ELF_MACHINE_AARCH64 or "cpython-313" not in path.name:
            wrong.append(str(path.relative_to(layer)))
    assert wrong == []


def test_the_layer_carries_the_domain_and_its_data(layer: Path) -> None:
    source = ROOT / "layers/shared/coins"
    expected = {p.relative_to(source) for p in source.rglob("*") if p.suffix in (".py", ".json")}
    built = {
        p.relative_to(layer / "coins") for p in (layer / "coins").rglob("*") if p.suffix in (".py", ".json")
    }
    assert built == expected


def test_every_module_ships_its_bytecode_for_python_313_unchecked(layer: Path) -> None:
    # /opt is read-only on Lambda: a module without its .pyc is compiled at every cold start, and a
    # timestamp .pyc whose source time the zip did not keep is recompiled too (PEP 552).
    magic = importlib.util.MAGIC_NUMBER if sys.version_info[:2] == (3, 13) else None
    missing, wrong = [], []
    for source in layer.rglob("*.py"):
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not compiled.is_file():
            missing.append(str(source.relative_to(layer)))
            continue
        header = compiled.read_bytes()[:8]
        (flags,) = struct.unpack_from("<I", header, 4)
        # PEP 552 flags: bit 0 hash-based, bit 1 check the source; unchecked is hash-based alone
        if flags != 1 or (magic is not None and header[:4] != magic):
            wrong.append(str(compiled.relative_to(layer)))
    assert missing == []
    assert wrong == []
