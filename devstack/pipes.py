"""EventBridge Pipes, run locally: a pipe's stream source and its target input transformer, from template.yaml.

Deployed, the gift outbox is an `AWS::Pipes::Pipe` (GiftOutboxPipe): it reads the table's stream
with the DynamoDBStreamParameters it is given, keeps the records its FilterCriteria match, renders
each record through its `InputTemplate` and puts the result on the event bus as the event's detail.
Locally the same pipe definition drives the same steps: devstack.event_sources.StreamPoller reads
DynamoDB Local's stream as the pipe's source, and `render_input_template` applies AWS's documented
substitution rules to the template's own `InputTemplate`, so what runs locally is what deploys.

The rules, from the Amazon EventBridge User Guide:
- "Amazon EventBridge Pipes input transformation": an input template is free text, a JSON path, or
  JSON with inline JSON paths (`<$.path>`) and reserved variables (`<aws.pipes.pipe-arn>`, ...);
  the supported path syntax is dot notation, dashes, underscores, alphanumerics, array indices and
  wildcards. EventBridge replaces the variables at runtime, so put quotes around variables that
  refer to JSON path values (strings), and none around variables that refer to JSON objects or
  arrays; `<aws.pipes.event.json>` is not escaped and only goes where a JSON value goes.
- "Amazon EventBridge input transformation", common issues: strings need quotes; a path that is not
  in the event makes no variable, and nothing appears in its place; values taken by a path are not
  escaped when the template is filled in.
So a string is put in as its characters (the template's quotes make it a JSON string), a number,
`true`, `false` or `null` as its JSON text, an object or array as its JSON. A DynamoDB stream image
carries numbers as strings (`{"N": "3"}`): unquoted, `<$....quantity.N>` becomes the JSON number 3.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devstack.cfn import LOCAL_ACCOUNT, LocalStackValues
from devstack.event_filters import filter_patterns
from devstack.event_sources import StreamSource, queue_url_of, stream_table
from devstack.template import resources

# A variable: a JSON path (`$`, then `.name` or `[index]` steps) or a reserved `aws.pipes.` name.
_VARIABLE = re.compile(r"<(\$(?:\.[^.<>\[\]\s]+|\[[^\]<>]*\])*|aws\.pipes\.[a-z.-]+)>")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
RESERVED = (
    "aws.pipes.pipe-arn",
    "aws.pipes.pipe-name",
    "aws.pipes.source-arn",
    "aws.pipes.enrichment-arn",
    "aws.pipes.target-arn",
    "aws.pipes.event.ingestion-time",
    "aws.pipes.event",
    "aws.pipes.event.json",
)


class TemplateNotUnderstood(ValueError):
    """An input template the local pipe cannot render faithfully (it refuses to guess)."""


_MISSING = object()


def _follow(event: Any, path: str) -> Any:
    """The value at a JSON path of the supported syntax, or _MISSING."""
    node = event
    for step in re.findall(r"\.([^.\[\]]+)|\[([^\]]*)\]", path[1:]):
        name, index = step
        if name == "*" or index == "*":
            raise TemplateNotUnderstood(f"{path}: wildcards are not evaluated locally")
        if name:
            if not _NAME.match(name):
                raise TemplateNotUnderstood(f"{path}: {name!r} is not in the supported path syntax")
            if not isinstance(node, Mapping) or name not in node:
                return _MISSING
            node = node[name]
        else:
            if not index.isdigit():
                raise TemplateNotUnderstood(f"{path}: [{index}] is not an array index")
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
    return node


def _text(value: Any) -> str:
    if value is _MISSING:
        return ""  # no variable is made for a path the event lacks: nothing appears
    if isinstance(value, str):
        return value  # not escaped, not quoted: the template's quotes make it a JSON string
    return json.dumps(value, separators=(",", ":"))


def render_input_template(template: str, event: Mapping[str, Any], reserved: Mapping[str, str]) -> str:
    """The text a pipe sends its target for one event, by the documented substitution rules.

    `reserved` holds the pipe's own reserved variables (its ARN, name, source and target ARNs);
    the event's ingestion time and the event itself are filled in here.
    """
    values = {
        **reserved,
        "aws.pipes.event.ingestion-time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "aws.pipes.event": json.dumps(event, separators=(",", ":")),
        "aws.pipes.event.json": json.dumps(event, separators=(",", ":")),
    }

    def substitute(found: re.Match[str]) -> str:
        variable = found.group(1)
        if variable.startswith("$"):
            return _text(_follow(event, variable))
        if variable not in RESERVED:
            raise TemplateNotUnderstood(f"<{variable}> is no reserved variable of EventBridge Pipes")
        return values.get(variable, "")

    return _VARIABLE.sub(substitute, template)


@dataclass(frozen=True)
class StreamPipe:
    """A pipe whose source is a table's stream and whose target is an event bus, as the template has it."""

    logical_id: str
    name: str
    arn: str
    source: StreamSource
    target_arn: str
    input_template: str | None  # None: the record itself is the detail
    detail_type: str
    event_source: str

    @property
    def reserved(self) -> dict[str, str]:
        return {
            "aws.pipes.pipe-arn": self.arn,
            "aws.pipes.pipe-name": self.name,
            "aws.pipes.source-arn": self.source.stream_arn,
            "aws.pipes.target-arn": self.target_arn,
        }

    def detail(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The event's detail for one record; raises ValueError when it is not the JSON object
        PutEvents takes (the entry fails, and the pipe retries the batch, then dead-letters it)."""
        if self.input_template is None:
            return dict(record)
        rendered = render_input_template(self.input_template, record, self.reserved)
        try:
            detail = json.loads(rendered)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{self.logical_id}: the input template rendered no valid JSON ({exc}): {rendered}"
            ) from exc
        if not isinstance(detail, dict):
            raise ValueError(f"{self.logical_id}: an event's detail is a JSON object, not {rendered}")
        return detail


def stream_pipes(values: LocalStackValues) -> list[StreamPipe]:
    """Every pipe of the template reading a table's stream into an event bus, with its local stand-ins."""
    pipes = []
    for logical_id, resource in resources(values.template).items():
        if resource.get("Type") != "AWS::Pipes::Pipe":
            continue
        props = resource["Properties"]
        source_arn = str(values.resolve(props["Source"]))
        parameters = props.get("SourceParameters", {})
        stream = parameters.get("DynamoDBStreamParameters")
        target = props.get("TargetParameters", {})
        bus = target.get("EventBridgeEventBusParameters")
        if stream is None or bus is None:
            raise ValueError(f"{logical_id}: only DynamoDB stream to event bus pipes run locally")
        if int(stream.get("ParallelizationFactor", 1)) != 1:
            raise ValueError(f"{logical_id}: locally one batch per shard at a time only")
        # `!Ref` of a pipe is its name (given, or made by CloudFormation).
        name = str(values.resolve(props["Name"])) if "Name" in props else values.ref(logical_id)
        arn = f"arn:aws:pipes:{values.region}:{LOCAL_ACCOUNT}:pipe/{name}"
        dead_letters = stream.get("DeadLetterConfig", {}).get("Arn")
        pipes.append(
            StreamPipe(
                logical_id=logical_id,
                name=name,
                arn=arn,
                source=StreamSource(
                    function=logical_id,
                    function_arn=arn,
                    stream_arn=source_arn,
                    table=stream_table(values, source_arn, logical_id),
                    starting_position=str(stream["StartingPosition"]),
                    # Each record is rendered and published on its own: the batch size only sets
                    # how many share a retry.
                    batch_size=int(stream.get("BatchSize", 10)),
                    batching_window_seconds=float(stream.get("MaximumBatchingWindowInSeconds", 0)),
                    filters=filter_patterns(parameters.get("FilterCriteria", {})),
                    tumbling_window_seconds=0,
                    report_failures=False,
                    bisect_on_error=stream.get("OnPartialBatchItemFailure") == "AUTOMATIC_BISECT",
                    maximum_retry_attempts=int(stream.get("MaximumRetryAttempts", -1)),
                    on_failure_queue_url=queue_url_of(values, dead_letters, logical_id)
                    if dead_letters
                    else None,
                ),
                target_arn=str(values.resolve(props["Target"])),
                input_template=target.get("InputTemplate"),
                detail_type=str(bus.get("DetailType", "Event from aws:dynamodb")),
                event_source=str(bus.get("Source", "Pipe " + name)),
            )
        )
    return pipes
