"""Cold start of every function, and of each way to trace, against `import boto3` + a DynamoDB client.

Each sample is a fresh Python process (bench/cold_child.py) with the function's environment from
template.yaml and Lambda's own variables set, so Powertools behaves as it does deployed (tracing
enabled). The clock runs inside the process from the first import of the handler module to the
last service its handlers use being built; interpreter start-up is left out of both sides. The
subjects run interleaved, round after round, so that load from other work on the machine falls
on all of them alike; the figure is each subject's median over its rounds divided by the
baseline's median of the same run. The ratio is of CPU time (user + system) of the process: on a
machine shared with other work, wall-clock time mostly measures the wait for a core, while an
import-bound start-up's CPU time is what it costs on an idle core; wall-clock ratios are kept
beside it.
"""

from __future__ import annotations

import ast
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.local_env import function_environment
from devstack.template import ROOT, functions, load_template

CHILD = Path(__file__).with_name("cold_child.py")
TRACING_VARIANTS = ("runtime-only", "tracer-no-patch", "tracer-botocore-only", "tracer-default")


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
        # A reference to another resource (a queue's URL, say) stands as a placeholder string.
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


def subjects(only: Sequence[str] | None = None) -> list[Subject]:
    """The baseline, every function (or those in `only`) and every way to trace."""
    template = load_template()
    globals_ = template["Globals"]["Function"]
    base_env = _lambda_environment("Baseline", {})
    found = [Subject("baseline", ("baseline",), base_env)]
    for logical_id, props in sorted(functions(template).items()):
        if only is not None and logical_id not in only:
            continue
        merged = {**globals_, **props}
        code_dir = ROOT / merged["CodeUri"]
        module, _ = merged["Handler"].rsplit(".", 1)
        attrs = services_used(code_dir / f"{module}.py")
        found.append(
            Subject(
                logical_id,
                ("function", str(code_dir), ",".join(attrs)),
                _lambda_environment(logical_id, {**props, "CodeUri": merged["CodeUri"]}),
            )
        )
    found += [Subject(f"tracing:{v}", ("tracing", v), base_env) for v in TRACING_VARIANTS]
    return found


def _sample(subject: Subject) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(CHILD), *subject.argv],
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


def bench_cold_starts(rounds: int, only: Sequence[str] | None = None) -> dict[str, Any]:
    every = subjects(only)
    cpu: dict[str, list[float]] = {s.name: [] for s in every}
    wall: dict[str, list[float]] = {s.name: [] for s in every}
    loaded: dict[str, dict[str, bool]] = {}
    for round_ in range(rounds):
        # Rotate the order each round so no subject always follows the same neighbour.
        shift = round_ % len(every)
        for subject in every[shift:] + every[:shift]:
            sample = _sample(subject)
            cpu[subject.name].append(sample["cpu_ms"])
            wall[subject.name].append(sample["ms"])
            loaded[subject.name] = sample["loaded"]

    def ratio(samples: dict[str, list[float]], name: str, against: str = "baseline") -> float:
        return round(statistics.median(samples[name]) / statistics.median(samples[against]), 2)

    base_cpu = statistics.median(cpu["baseline"])
    runtime_only = statistics.median(cpu["tracing:runtime-only"])
    functions_out: dict[str, Any] = {}
    tracing_out: dict[str, Any] = {}
    for name in cpu:
        if name.startswith("tracing:"):
            tracing_out[name.removeprefix("tracing:")] = {
                "cpu_over_baseline": ratio(cpu, name),
                "added_over_runtime_only": round((statistics.median(cpu[name]) - runtime_only) / base_cpu, 2),
                "wall_over_baseline": ratio(wall, name),
            }
        elif name != "baseline":
            functions_out[name] = {
                "cpu_over_baseline": ratio(cpu, name),
                "wall_over_baseline": ratio(wall, name),
                "cpu_median_ms": round(statistics.median(cpu[name]), 1),
                "loads": sorted(k for k, v in loaded[name].items() if v),
            }
    return {
        "rounds": rounds,
        "baseline": "import boto3 + boto3.client('dynamodb'), fresh process, same run",
        "baseline_cpu_median_ms": round(base_cpu, 1),
        "baseline_wall_median_ms": round(statistics.median(wall["baseline"]), 1),
        "functions": functions_out,
        "tracing": tracing_out,
    }


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    print(json.dumps(bench_cold_starts(rounds), indent=2))
