"""CloudFormation values resolved as the local stack deploys them.

template.yaml writes names and ARNs as intrinsics (`!Ref LedgerTable`, `!GetAtt PayoutQueue.Arn`,
`!Sub "...secret:${StripeCheckoutKeySecretName}-??????"`). Locally each resource has a stand-in
(DynamoDB Local's table, a queue and a secret on the local AWS endpoint), and this module turns the
template's intrinsics into those stand-ins' names and ARNs, the way CloudFormation turns them into
the deployed ones. The functions' environments and their IAM statements are resolved here, so what a
function reads and what it may touch locally are exactly what the template says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOCAL_ACCOUNT = "123456789012"  # moto's default account: the local AWS endpoint's ARNs carry it
LOCAL_PARTITION = "aws"
# A table's stream is named by a label (its creation time); locally every table's stream is "local",
# whatever DynamoDB Local calls it (devstack.permissions translates its ARNs).
LOCAL_STREAM_LABEL = "local"


class UnresolvableValue(ValueError):
    """A template value the local stack cannot stand in for."""


@dataclass(frozen=True)
class LocalResource:
    """One template resource as deployed locally: what `!Ref` and `!GetAtt` give."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class LocalStackValues:
    """Everything an intrinsic can refer to, locally: parameters, pseudo parameters, resources."""

    template: Mapping[str, Any]
    region: str
    stack_name: str
    parameters: dict[str, str] = field(default_factory=dict)
    resources: dict[str, LocalResource] = field(default_factory=dict)

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        declared = self.template.get("Parameters", {}).get(name)
        if declared is None:
            raise UnresolvableValue(f"no parameter or resource named {name}")
        if "Default" not in declared:
            raise UnresolvableValue(f"parameter {name} has no default and no local value")
        value = declared["Default"]
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": LOCAL_ACCOUNT,
            "AWS::Partition": LOCAL_PARTITION,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{LOCAL_ACCOUNT}:stack/{self.stack_name}/local",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> str:
        pseudo = self.pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.resources:
            return self.resources[name].ref
        if name in self.template.get("Resources", {}):
            return self._default_resource(name).ref
        return self.parameter(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            if logical_id not in self.template.get("Resources", {}):
                raise UnresolvableValue(f"!GetAtt {logical_id}.{attribute}: no such resource")
            resource = self._default_resource(logical_id)
        if attribute not in resource.attributes:
            raise UnresolvableValue(
                f"!GetAtt {logical_id}.{attribute}: the local stand-in has no {attribute}"
            )
        return resource.attributes[attribute]

    def _default_resource(self, logical_id: str) -> LocalResource:
        # Resources the local stack has no stand-in for (alarms, topics, ...) still get names and
        # ARNs of their type, so statements and variables naming them resolve; nothing answers there.
        resource_type = self.template["Resources"][logical_id].get("Type", "")
        name = f"{self.stack_name}-{logical_id}"
        service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "local"
        arn = f"arn:{LOCAL_PARTITION}:{service}:{self.region}:{LOCAL_ACCOUNT}:{name}"
        return LocalResource(ref=name, attributes={"Arn": arn, "Name": name})

    def condition(self, name: str) -> bool:
        definition = self.template.get("Conditions", {}).get(name)
        if definition is None:
            raise UnresolvableValue(f"no condition named {name}")
        return _truth(self.resolve(definition))

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function replaced by its local result."""
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return _NO_VALUE if argument == "AWS::NoValue" else self.ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = self.resolve(argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not _truth(self.resolve(argument[0]))
            if key == "Fn::And":
                return all(_truth(v) for v in self.resolve(argument))
            if key == "Fn::Or":
                return any(_truth(v) for v in self.resolve(argument))
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                raise UnresolvableValue(f"the local stack does not evaluate {key}")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {name: str(self.resolve(v)) for name, v in variables.items()}

        def replace(found: re.Match[str]) -> str:
            name = found.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is written as ${Literal}
            if name in local:
                return local[name]
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Any = _NoValue()


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"
