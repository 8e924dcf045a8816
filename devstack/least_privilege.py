"""template.yaml's IAM statements held against the calls the functions made under the permission check.

Each template statement grants, for every action it names, every resource it lists and every
`dynamodb:LeadingKeys` pattern of its condition, one combination. A combination no recorded call
used is wider than the code (as far as the tests drive it): narrow the statement, or add the test
that needs it. A call the check refused is narrower than the code: the template misses a statement.

`python -m devstack.least_privilege <decisions.jsonl>` prints both lists for a recorded run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.iam_policies import compile_policies
from devstack.local_env import LocalServices, stack_values
from devstack.template import function_specs, load_template


@dataclass(frozen=True, order=True)
class Grant:
    function: str
    statement: int  # position among the function's own statements (its Policies, in order)
    action: str
    resource: int  # position in the statement's Resource list
    leading_keys: str  # a dynamodb:LeadingKeys pattern, or "" where the statement has none

    def describe(self, resources: Mapping[tuple[str, int], tuple[str, ...]]) -> str:
        where = resources[(self.function, self.statement)][self.resource]
        keys = f" for keys {self.leading_keys}" if self.leading_keys else ""
        return f"{self.function} statement {self.statement}: {self.action} on {where}{keys}"


def template_grants(
    template: dict[str, Any] | None = None,
) -> tuple[set[Grant], dict[tuple[str, int], tuple[str, ...]]]:
    """Every combination the template's own statements allow (not what SAM adds by itself)."""
    tpl = template or load_template()
    values = stack_values(
        LocalServices(table="coins-local", dynamodb_url="", api_url="", stripe_url=None, aws_url=None), tpl
    )
    grants: set[Grant] = set()
    resources: dict[tuple[str, int], tuple[str, ...]] = {}
    for name, spec in function_specs(tpl).items():
        for statement in compile_policies(spec, values):
            if statement.index < 0 or statement.effect != "Allow":
                continue
            resources[(name, statement.index)] = statement.resources
            patterns = [
                p for c in statement.conditions if c.key == "dynamodb:LeadingKeys" for p in c.values
            ] or [""]
            grants |= {
                Grant(name, statement.index, action, j, pattern)
                for action in statement.actions
                for j in range(len(statement.resources))
                for pattern in patterns
            }
    return grants, resources


def read_decisions(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def used_grants(decisions: Iterable[Mapping[str, Any]]) -> set[Grant]:
    used: set[Grant] = set()
    for decision in decisions:
        if not decision["allowed"] or decision["statement"] is None or decision["statement"] < 0:
            continue
        for action in decision["actions"]:
            for resource in decision["resources"]:
                for pattern in decision["keys"] or [""]:
                    used.add(Grant(decision["function"], decision["statement"], action, resource, pattern))
    return used


def refused_calls(decisions: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted(
        {
            f"{d['function']}: {d['action']} on {d['resource']} (keys {', '.join(d['leading_key_prefixes']) or '-'})"
            for d in decisions
            if not d["allowed"]
        }
    )


def unused_grants(
    decisions: Iterable[Mapping[str, Any]], template: dict[str, Any] | None = None
) -> list[str]:
    grants, resources = template_grants(template)
    return [g.describe(resources) for g in sorted(grants - used_grants(decisions))]


def main(argv: list[str]) -> int:
    decisions = read_decisions(Path(argv[0]))
    refused, unused = refused_calls(decisions), unused_grants(decisions)
    print("Calls the template refused:", *refused or ["none"], sep="\n  ")
    print("Grants no call used:", *unused or ["none"], sep="\n  ")
    return 1 if refused or unused else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
