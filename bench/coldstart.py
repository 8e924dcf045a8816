"""Cold start of every function, and of each way to trace, against `import boto3` + a DynamoDB client.

As deployed: the layer is built by its own recipe (layers/shared/Makefile, what `sam build` runs),
for this machine's platform, with its bytecode; each function's folder is copied as `sam build`
copies it (no bytecode); the process sees only those and the standard library (`python -S -P`,
no virtualenv) and writes no bytecode (/opt and /var/task are read-only on Lambda). The baseline's
boto3 is the layer's, as on Lambda, where the layer's comes first on the path.

Each sample is a fresh Python process (bench/cold_child.py) with the function's environment from
template.yaml and Lambda's own variables set, so Powertools behaves as it does deployed (tracing
enabled). The clock runs inside the process from the first import of the handler module to the
last service its handlers use being built; interpreter start-up is left out of both sides. The
subjects run interleaved, round after round, so that load from other work on the machine falls
on all of them alike; the figure is each subject's median over its rounds divided by the
baseline's median of the same block; the rounds run in blocks, and the figure is the median of the
blocks' ratios, with their spread (bench/spread.py). The ratio is of CPU time (user + system) of the process: on a
machine shared with other work, wall-clock time mostly measures the wait for a core, while an
import-bound start-up's CPU time is what it costs on an idle core; wall-clock ratios are kept
beside it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.spread import spread
from devstack.local_env import function_environment
from devstack.template import ROOT, functions, load_template

CHILD = Path(__file__).with_name("cold_child.py")
TRACING_VARIANTS = ("runtime-only", "tracer-no-patch", "tracer-botocore-only", "tracer-default")
GIFT_FUNCTION = "GiftSendFunction"
VALIDATION_VARIANTS = ("resolver", "resolver-validation", "pydantic-model", "dataclass-checked")
LAYER_SOURCE = ROOT / "layers" / "shared"
DEPLOYED = ROOT / ".local" / "bench-deployed"
PARAMETER_DEFAULTS = {
    name: str(spec["Default"])
    for name, spec in load_template().get("Parameters", {}).items()
    if "Default" in spec and not isinstance(spec["Default"], dict | list)
}


def _layer_fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(
        [LAYER_SOURCE / "Makefile", LAYER_SOURCE / "requirements.txt", *LAYER_SOURCE.rglob("coins/**/*")]
    ):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(LAYER_SOURCE)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def deployed_layer() -> Path:
    """The layer as `sam build` makes it (its Makefile), for this machine: its /opt/python."""
    built = DEPLOYED / f"layer-{_layer_fingerprint()}"
    if not (built / "python" / "coins").is_dir():
        shutil.rmtree(built, ignore_errors=True)
        make = shutil.which("make") or "make"
        subprocess.run(  # noqa: S603 - make, on our own Makefile
            [
                make,
                "-s",
                "-C",
                str(LAYER_SOURCE),
                "build-SharedLayer",
                f"ARTIFACTS_DIR={built}",
                "PIP_PLATFORM=",
                f"PYTHON={sys.executable}",
            ],
            check=True,
            capture_output=True,
        )
    return built / "python"


def layer_without_bytecode(layer: Path) -> Path:
    """A copy of the built layer without its .pyc files: what the layer was before it shipped them."""
    bare = layer.parent.parent / f"{layer.parent.name}-no-bytecode" / "python"
    if not (bare / "coins").is_dir():
        shutil.rmtree(bare.parent, ignore_errors=True)
        shutil.copytree(layer, bare, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return bare


def deployed_function(code_dir: Path) -> Path:
    """A function's folder as `sam build` copies it to /var/task: its files, no bytecode."""
    task = DEPLOYED / "task" / code_dir.name
    shutil.rmtree(task, ignore_errors=True)
    shutil.copytree(code_dir, task, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return task


@dataclass(frozen=True)
class Subject:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str]


def services_used(app_py: Path) -> list[str]:
    """The `services().<attr>` a handler module uses, `attr()` where it calls the attribute."""
    tree = ast.parse(app_py.read_text(encoding="utf-8"))
    called: set[str] = set()
    used: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and _is_services_call(node.func.value)
        ):
            called.add(node.func.attr)
        if isinstance(node, ast.Attribute) and _is_services_call(node.value) and node.attr not in used:
            used.append(node.attr)
    return [f"{attr}()" if attr in called else attr for attr in used]


def _is_services_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "services"


def _lambda_environment(logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    """What the deployed function sees at init: the template's variables and Lambda's own."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "VIRTUAL_ENV")}
    env.update(
        function_environment(
            table="coins-bench",
            dynamodb_url="http://127.0.0.1:9",  # never called: nothing at init talks to DynamoDB
            api_url="http://127.0.0.1:9",
            stripe_url="http://127.0.0.1:9",
        )
    )
    for name, value in props.get("Environment", {}).get("Variables", {}).items():
        if name.endswith("_SECRET_NAME") and not isinstance(value, str):
            # A Stripe secret's name (a template parameter): deployed, the function reads it from
            # Secrets Manager at init, one network call this machine cannot make; without a name
            # the code reads the same keys from the environment (function_environment's local
            # ones), so the figure is the import and build cost without that one call.
            continue
        # A template parameter takes its default, as a deploy without overrides would; a reference
        # to another resource (a queue's URL, say) stands as a placeholder string.
        if isinstance(value, dict) and str(value.get("Ref")) in PARAMETER_DEFAULTS:
            env[name] = PARAMETER_DEFAULTS[str(value["Ref"])]
        else:
            env[name] = value if isinstance(value, str) else f"bench-{name.lower()}"
    env.pop("POWERTOOLS_TRACE_DISABLED", None)  # deployed, Powertools traces unless told not to
    code_dir = str(ROOT / props.get("CodeUri", "."))
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props.get("MemorySize", 1024)),
            "AWS_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
            "LAMBDA_TASK_ROOT": code_dir,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "PYTHONHASHSEED": "0",
        }
    )
    return env


def _as_deployed(env: dict[str, str], layer: Path) -> dict[str, str]:
    env = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
    # Lambda's path: the function's folder (the child puts it first), then /opt/python.
    env["PYTHONPATH"] = str(layer)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def subjects(only: Sequence[str] | None = None, layer: Path | None = None) -> list[Subject]:
    """The baseline, every function (or those in `only`), every way to trace and to validate."""
    layer = layer or deployed_layer()
    template = load_template()
    globals_ = template["Globals"]["Function"]
    base_env = _as_deployed(_lambda_environment("Baseline", {}), layer)
    found = [Subject("baseline", ("baseline",), base_env)]
    for logical_id, props in sorted(functions(template).items()):
        if only is not None and logical_id not in only:
            continue
        merged = {**globals_, **props}
        code_dir = ROOT / merged["CodeUri"]
        module, _ = merged["Handler"].rsplit(".", 1)
        attrs = services_used(code_dir / f"{module}.py")
        task = deployed_function(code_dir)
        env = _lambda_environment(logical_id, {**props, "CodeUri": merged["CodeUri"]})
        env["LAMBDA_TASK_ROOT"] = str(task)
        found.append(Subject(logical_id, ("function", str(task), ",".join(attrs)), _as_deployed(env, layer)))
        if logical_id == GIFT_FUNCTION:
            # The same start from a layer without bytecode, as SAM's python3.13 build shipped it.
            found.append(
                Subject(
                    f"no-bytecode:{logical_id}",
                    ("function", str(task), ",".join(attrs)),
                    _as_deployed(env, layer_without_bytecode(layer)),
                )
            )
    found += [Subject(f"tracing:{v}", ("tracing", v), base_env) for v in TRACING_VARIANTS]
    found += [Subject(f"validation:{v}", ("validation", v), base_env) for v in VALIDATION_VARIANTS]
    return found


def _sample(subject: Subject) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        # -S: no site-packages (only the layer, on PYTHONPATH); -P: not the bench's own folder.
        [sys.executable, "-S", "-P", str(CHILD), *subject.argv],
        env=subject.env,
        cwd=subject.env.get("LAMBDA_TASK_ROOT", str(ROOT)),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {subject.name} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_cold_starts(rounds: int, only: Sequence[str] | None = None, blocks: int = 5) -> dict[str, Any]:
    """`blocks` blocks of `rounds` rounds; each ratio is the median of the blocks' ratios."""
    every = subjects(only)
    cpu: dict[str, list[list[float]]] = {s.name: [[] for _ in range(blocks)] for s in every}
    wall: dict[str, list[float]] = {s.name: [] for s in every}
    loaded: dict[str, dict[str, bool]] = {}
    for block in range(blocks):
        for round_ in range(rounds):
            # Rotate the order each round so no subject always follows the same neighbour.
            shift = (block * rounds + round_) % len(every)
            for subject in every[shift:] + every[:shift]:
                sample = _sample(subject)
                cpu[subject.name][block].append(sample["cpu_ms"])
                wall[subject.name].append(sample["ms"])
                loaded[subject.name] = sample["loaded"]

    def all_cpu(name: str) -> list[float]:
        return [s for block in cpu[name] for s in block]

    def cpu_spread(name: str) -> dict[str, Any]:
        return spread(
            [
                statistics.median(mine) / statistics.median(base)
                for mine, base in zip(cpu[name], cpu["baseline"], strict=True)
            ]
        )

    def wall_ratio(name: str) -> float:
        return round(statistics.median(wall[name]) / statistics.median(wall["baseline"]), 2)

    base_cpu = statistics.median(all_cpu("baseline"))
    runtime_only = statistics.median(all_cpu("tracing:runtime-only"))
    functions_out: dict[str, Any] = {}
    tracing_out: dict[str, Any] = {}
    validation_out: dict[str, Any] = {}
    without_bytecode: dict[str, Any] = {}
    for name in cpu:
        figure = cpu_spread(name)
        if name.startswith("tracing:") or name.startswith("validation:"):
            out = tracing_out if name.startswith("tracing:") else validation_out
            out[name.split(":", 1)[1]] = {
                "cpu_over_baseline": figure["median"],
                "cpu_spread": figure,
                "added_over_runtime_only": round(
                    (statistics.median(all_cpu(name)) - runtime_only) / base_cpu, 2
                ),
                "wall_over_baseline": wall_ratio(name),
            }
        elif name.startswith("no-bytecode:"):
            without_bytecode[name.split(":", 1)[1]] = {
                "cpu_over_baseline": figure["median"],
                "cpu_spread": figure,
                "cpu_median_ms": round(statistics.median(all_cpu(name)), 1),
            }
        elif name != "baseline":
            functions_out[name] = {
                "cpu_over_baseline": figure["median"],
                "cpu_spread": figure,
                "wall_over_baseline": wall_ratio(name),
                "cpu_median_ms": round(statistics.median(all_cpu(name)), 1),
                "loads": sorted(k for k, v in loaded[name].items() if v),
            }
    return {
        "rounds": rounds,
        "blocks": blocks,
        "as_deployed": "the layer built by layers/shared/Makefile with its bytecode (unchecked-hash), "
        "functions copied without bytecode, no site-packages, no bytecode written",
        "baseline": "import boto3 + boto3.client('dynamodb'), fresh process, same block",
        "baseline_cpu_median_ms": round(base_cpu, 1),
        "baseline_wall_median_ms": round(statistics.median(wall["baseline"]), 1),
        "functions": functions_out,
        "tracing": tracing_out,
        "validation": validation_out,
        # The same function from the layer without its .pyc files, against the same baseline.
        "without_layer_bytecode": without_bytecode,
    }


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    only = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else None
    print(json.dumps(bench_cold_starts(rounds, only), indent=2))
