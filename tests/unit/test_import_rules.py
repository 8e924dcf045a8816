"""The layering rules, read from the code's imports (ast): who may speak DynamoDB, who may speak
Stripe, and that no module reaches into another's private names.

The app is what Lambda runs: the layer (layers/shared/coins) and the handlers (functions/*/app.py).
devstack and bench are outside the first two rules on purpose: devstack stands in for AWS and
Stripe themselves (DynamoDB Local's tables and streams, the Stripe simulator built on the SDK's
own types), and bench measures them. Tests reach into internals where they must and are outside all.
"""

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from devstack.template import ROOT

LAYER = ROOT / "layers" / "shared"
REPOSITORY = LAYER / "coins" / "repository"
STRIPE_ADAPTER = LAYER / "coins" / "stripe_adapter.py"
# Outside the repository, boto3 for another AWS service only, and why; never DynamoDB.
OTHER_AWS_ADAPTERS = {
    LAYER / "coins" / "payout_queue.py": "the payout batch's SQS queue",
    LAYER / "coins" / "books" / "athena.py": "the books' queries run by Athena over the table's S3 "
    "exports (the export itself is started by repository/exports.py)",
    LAYER / "coins" / "books" / "store.py": "the books bucket in S3, where the audit and the "
    "statement leave their results",
}
# What an adapter for another AWS service may import: the client, and the SDK's error type.
OTHER_AWS_MODULES = ("boto3", "botocore.exceptions")
DYNAMODB_MODULES = ("boto3", "botocore", "mypy_boto3_dynamodb")
# A library's private module, imported on purpose because the library publishes no other path, and
# why. Anything else private in a library is its authors' to change without notice.
LIBRARY_PRIVATE_IMPORTS = {
    "stripe._object_classes.OBJECT_CLASSES": "the simulator reads the SDK's own map of object "
    "names to classes, so its shapes follow the pinned API version (no public alias exists)",
}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # the module imported from (absolute)
    name: str | None  # the name imported from it; None for `import module`


def app_files() -> list[Path]:
    return sorted([*(LAYER / "coins").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")])


def project_files() -> list[Path]:
    return sorted([*app_files(), *(ROOT / "devstack").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])


def module_of(path: Path) -> str:
    """The dotted name a file is imported as (the layer's files from inside the layer)."""
    relative = path.relative_to(LAYER if path.is_relative_to(LAYER) else ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imports(path: Path) -> Iterator[Import]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield Import(path, node.lineno, node.module, alias.name)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def where(found: Import) -> str:
    return f"{found.path.relative_to(ROOT)}:{found.line} {found.module}" + (
        f".{found.name}" if found.name else ""
    )


def test_only_the_repository_speaks_dynamodb() -> None:
    # Given every import of the app
    found = [i for path in app_files() for i in imports(path)]

    # Then boto3, botocore and the DynamoDB types are imported only in coins/repository ...
    outside = [
        i
        for i in found
        if any(within(i.module, m) for m in DYNAMODB_MODULES)
        and not i.path.is_relative_to(REPOSITORY)
        and not (i.path in OTHER_AWS_ADAPTERS and i.module in OTHER_AWS_MODULES)
    ]
    assert [where(i) for i in outside] == []
    # ... and the adapters for other AWS services never make a DynamoDB client (the service's name
    # as a string; the books may still name the S3 layout DynamoDB's exports use, AWSDynamoDB/).
    for adapter, service in OTHER_AWS_ADAPTERS.items():
        names = {
            node.value.lower()
            for node in ast.walk(ast.parse(adapter.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert "dynamodb" not in names, f"{adapter.name} is {service}, not DynamoDB"


def test_only_the_stripe_adapter_speaks_stripe() -> None:
    found = [i for path in app_files() for i in imports(path) if within(i.module, "stripe")]

    assert {i.path for i in found} == {STRIPE_ADAPTER}


def test_no_handler_imports_the_repository() -> None:
    handlers = sorted((ROOT / "functions").glob("*/app.py"))
    assert handlers

    found = [i for path in handlers for i in imports(path)]

    reaching = [
        i
        for i in found
        if within(i.module, "coins.repository") or (i.module == "coins" and i.name == "repository")
    ]
    assert [where(i) for i in reaching] == []


def test_no_module_imports_another_modules_private_names() -> None:
    # Given every import of the app, devstack and bench
    violations = []
    for path in project_files():
        importer = module_of(path)
        for found in imports(path):
            # A private module (coins.repository._dynamo) is its package's: only modules inside
            # that package import it.
            parts = found.module.split(".")
            if f"{found.module}.{found.name}" in LIBRARY_PRIVATE_IMPORTS:
                continue
            for n, part in enumerate(parts):
                if is_private(part) and not within(importer, ".".join(parts[:n])):
                    violations.append(where(found))
            # A private name is its module's alone.
            if found.name is not None and is_private(found.name):
                violations.append(where(found))

    assert violations == []


def test_no_class_uses_a_collaborators_private_members() -> None:
    # `self._ledger._batch_get(...)`: a private member of an object held by another class.
    reaching = []
    for path in project_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
                continue
            held = node.value
            if (
                isinstance(held, ast.Attribute)
                and isinstance(held.value, ast.Name)
                and held.value.id == "self"
            ):
                reaching.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")

    assert reaching == []


def test_the_rules_see_what_they_check() -> None:
    # The rules above pass vacuously if the files are not found: each must see real imports.
    app = {module_of(path) for path in app_files()}
    assert {"coins.repository._dynamo", "coins.repository.ledger.transfers", "coins.stripe_adapter"} <= app
    assert "functions.wallet.app" in app
    assert any(within(i.module, "boto3") for i in imports(REPOSITORY / "_dynamo.py"))
    assert any(i.module == "coins.repository._dynamo" for i in imports(REPOSITORY / "ledger" / "table.py"))


# ---------------------------------------------------------------------------- devstack's floors

DEVSTACK = ROOT / "devstack"


def devstack_modules() -> dict[str, Path]:
    return {module_of(path): path for path in sorted(DEVSTACK.rglob("*.py"))}


def devstack_arrows(modules: Mapping[str, Path]) -> dict[str, dict[str, int]]:
    """Importer -> imported -> the line of its first import, for every import in devstack's files,
    inside functions too (a circle closed there still ties the files). `from package import
    submodule` is an arrow to the submodule; its package's __init__ is not an arrow of its own."""

    def devstack_module(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    arrows: dict[str, dict[str, int]] = {}
    for importer, path in modules.items():
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the importer's package, up level - 1
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                imported = devstack_module(target)
                if imported is not None and imported != importer:
                    arrows.setdefault(importer, {}).setdefault(imported, node.lineno)
    return arrows


def circles(arrows: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """One shortest circle through each group of modules that import each other (Tarjan's strongly
    connected components, then a breadth-first walk from the group's first module back to it)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in arrows.get(module, {}):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(arrows):
        if module not in index:
            visit(module)

    return sorted(shortest_circle(min(group), group, arrows) for group in groups)


def shortest_circle(start: str, group: set[str], arrows: Mapping[str, Mapping[str, int]]) -> list[str]:
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        for module in frontier:
            if start in arrows.get(module, {}):
                return [*paths[module], start]
        reached = []
        for module in frontier:
            for imported in sorted(arrows.get(module, {})):
                if imported in group and imported not in paths:
                    paths[imported] = [*paths[module], imported]
                    reached.append(imported)
        frontier = reached
    raise AssertionError(f"{start} is in a circle it cannot reach back to")


def test_devstack_has_no_import_circles() -> None:
    # Given every import in devstack's files, inside functions too
    modules = devstack_modules()
    arrows = devstack_arrows(modules)

    # Then each module imports only modules below it: no circle, named with its lines if there is.
    named = [
        " -> ".join(
            [circle[0]]
            + [
                f"{imported} ({modules[importer].relative_to(ROOT)}:{arrows[importer][imported]})"
                for importer, imported in pairwise(circle)
            ]
        )
        for circle in circles(arrows)
    ]
    assert named == [], "devstack's import circles:\n" + "\n".join(named)


def test_the_circle_check_sees_circles() -> None:
    # Given modules that import each other through a third, and one inside a function
    arrows = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}

    # Then the circle is found, from its first module back to it; a line of arrows is none
    assert circles(arrows) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b": 1}, "b": {"c": 2}}) == []
    # ... and devstack's own arrows include imports made inside functions (function_host's set-up).
    assert "devstack.deployment" in devstack_arrows(devstack_modules())["devstack.function_host"]


# --------------------------------------------------------------------- test-only code in tests

# What the framework calls by a decorator's registration (pydantic's validators), not by name.
REGISTERING_DECORATORS = ("field_validator", "model_validator")


def names_used(paths: list[Path]) -> set[str]:
    """Every name the files use: attributes, names, imported names, and strings (getattr)."""
    used: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.alias):
                used.add(node.name.rpartition(".")[2])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.add(node.value)
    return used


def methods_nothing_outside_tests_calls(used: set[str]) -> list[str]:
    unused = []
    for path in sorted((LAYER / "coins").rglob("*.py")):
        for cls in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(cls, ast.ClassDef):
                continue
            for method in cls.body:
                if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if method.name.startswith("__") and method.name.endswith("__"):
                    continue
                registered = any(
                    isinstance(d, ast.Call) and ast.unparse(d.func) in REGISTERING_DECORATORS
                    for d in method.decorator_list
                )
                if not registered and method.name not in used:
                    unused.append(f"{path.relative_to(ROOT)}:{method.lineno} {cls.name}.{method.name}")
    return unused


def test_the_layers_classes_carry_no_method_only_tests_call() -> None:
    # Given every name the app and the local stack use (devstack runs the layer's tools too:
    # `make check-ledger`, the statement)
    used = names_used([*app_files(), *DEVSTACK.rglob("*.py")])

    # Then every method of the layer's classes is among them: a helper only tests call (a scan of
    # the whole table, a shortcut over a real method) lives in tests/support instead.
    assert methods_nothing_outside_tests_calls(used) == []
    # ... and the check sees a method the app calls as used, one it does not as unused.
    assert "mature_due" in used
    assert any(
        m.endswith("PayoutBatch.mature_due")
        for m in methods_nothing_outside_tests_calls(used - {"mature_due"})
    )


# -------------------------------------------------------------------------------- room sizes

# Issue 20: a newcomer holds a class of at most 400 lines and a module of at most 700.
MAX_CLASS_LINES = 400
MAX_MODULE_LINES = 700


def test_no_class_or_module_is_too_big_to_hold() -> None:
    # Given every file of the layer and of devstack
    files = sorted([*LAYER.rglob("*.py"), *DEVSTACK.rglob("*.py")])
    assert len(files) > 50

    # Then no module is over 700 lines and no class over 400 (from `class` to its last line).
    too_big = []
    for path in files:
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    too_big.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} class {node.name}: {length} lines"
                    )
    assert too_big == []
