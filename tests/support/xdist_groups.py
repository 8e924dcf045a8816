"""How `make test` hands tests to its workers (pytest-xdist, `--dist loadgroup`).

Tests that share a module-scoped fixture (a local stack's fuzz run, a bench run, a browser page) are
marked with one xdist group per module, so one worker runs them all and sets the fixture up once;
the longest files go first, so neither worker is left running one of them while the other has
finished. tests/unit/test_xdist_groups.py runs this plugin under xdist and fails if the groups
stop holding (pytest 9.2 with pytest-xdist 3.8 silently dropped them: pytest-xdist issue #1386).
"""

import pytest

# The longest tests, first: a seeded simulation of 200 lifecycles, the benchmarks at a small size,
# the fuzzer's thousand requests, the live-mode stack's tests.
LONGEST_FIRST = (
    "tests/integration/test_simulation.py",
    "tests/integration/test_bench.py",
    "tests/e2e/test_fuzz.py",
    "tests/e2e/test_live_mode.py",
)


def module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def shares_a_module_fixture(item: pytest.Item) -> bool:
    fixtures = getattr(item, "_fixtureinfo", None)
    definitions = fixtures.name2fixturedefs.values() if fixtures is not None else ()
    return any(d[-1].scope == "module" for d in definitions if d)


def pytest_configure(config: pytest.Config) -> None:
    # Declared here too, so a run without xdist (`-p no:xdist`) accepts the marks under --strict-markers.
    config.addinivalue_line("markers", "xdist_group(name): run on the same xdist worker as its group")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(module_of(item)))
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(module_of(item), len(rank)))
