"""The repository stands alone: no file in it reads or names a path outside it.

A user clones the repository and nothing beside it; a path to ../shared or to this machine's
/work worked here and nowhere else. Every tracked text file is searched for relative paths that
climb out of the repository and for absolute paths into home or work folders. (.ci/run proves the
rest: `make test` passes in a fresh clone inside an empty directory.)
"""

import re
import subprocess
from pathlib import Path

from devstack.template import ROOT

# ../x not preceded by a word character or a dot (so "acct_.../complete" is not one).
CLIMBING = re.compile(r"(?<![\w.])((?:\.\./)+)([\w.-]*)")
ABSOLUTE = re.compile(r"(?<![\w.:/$~-])/(?:work|home|Users|root|mnt|shared)/[\w.-]+")
# In Python: the repository's root climbed above, or a file's own path climbed past the root.
ROOT_PARENT = re.compile(r"\b\w*ROOT\.parent\b")
FILE_PARENTS = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?(\.parents\[(\d+)\]|(?:\.parent\b)+)")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    files = []
    for name in filter(None, listed):
        path = ROOT / name
        if not path.is_file():
            continue
        head = path.read_bytes()[:4096]
        if b"\0" not in head:
            files.append(path)
    return files


def outside_paths(text: str, folder: Path) -> list[str]:
    """Paths in text, read from a file in folder, that lead out of the repository."""
    found = [m.group(0) for m in ABSOLUTE.finditer(text)]
    for match in CLIMBING.finditer(text):
        target = (folder / match.group(1) / match.group(2)).resolve()
        if not target.is_relative_to(ROOT.resolve()):
            found.append(match.group(0))
    return found


def climbing_code(text: str, path: Path) -> list[str]:
    """Python that builds a path above the repository from its root or from its own file."""
    found = [m.group(0) for m in ROOT_PARENT.finditer(text)]
    depth = len(path.relative_to(ROOT).parts) - 1  # folders between the file and the root
    for match in FILE_PARENTS.finditer(text):
        levels = int(match.group(2)) + 1 if match.group(2) else match.group(1).count(".parent")
        if levels - 1 > depth:  # .parent of the file is its folder: one level is no climb
            found.append(match.group(0))
    return found


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    files = tracked_text_files()
    assert len(files) > 50  # the listing worked

    offenders = {}
    for path in files:
        if path == Path(__file__).resolve():
            continue  # this file spells out the forms it looks for
        text = path.read_text(encoding="utf-8", errors="replace")
        found = outside_paths(text, path.parent)
        if path.suffix == ".py":
            found += climbing_code(text, path)
        offenders[str(path.relative_to(ROOT))] = found

    assert {name: paths for name, paths in offenders.items() if paths} == {}


def test_the_check_sees_what_it_looks_for() -> None:
    docs = ROOT / "docs"
    assert outside_paths("see [the contract](../../shared/contract.md)", docs) == ["../../shared"]
    assert outside_paths("fixtures at /work/shared/stripe/fixtures3.json", docs) == ["/work/shared"]
    assert outside_paths("see [the model](data-model.md) and ../README.md", docs) == []
    assert outside_paths("curl $SIM/_sim/accounts/acct_.../complete", docs) == []


def test_the_check_sees_code_that_climbs_out() -> None:
    module = ROOT / "devstack" / "stripe_sim" / "objects.py"
    # How the Stripe fixtures used to be found, beside the clone.
    assert climbing_code('DEFAULT_FIXTURES = REPO_ROOT.parent / "shared"', module) == ["REPO_ROOT.parent"]
    assert climbing_code("REPO = Path(__file__).resolve().parents[3]", module) == [
        "Path(__file__).resolve().parents[3]"
    ]
    assert climbing_code("REPO = Path(__file__).resolve().parents[2]", module) == []
    assert climbing_code("DATA = Path(__file__).parent / 'data'", module) == []
