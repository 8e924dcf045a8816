"""The local AWS endpoint: moto's server, standing in for Secrets Manager and SQS.

The functions reach it through the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables, so the deployed
code paths run unchanged: Powertools Parameters' `get_secret` reads the function's Stripe secret, the
payout scheduler sends to the payout queue. The secrets and queues are the ones template.yaml
declares, created here with the names the template gives them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import boto3

from devstack.cfn import LocalStackValues
from devstack.dynamodb_local import LOCAL_KEY, LOCAL_REGION
from devstack.local_env import queue_name
from devstack.template import resources

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


def aws_client(service: str, endpoint_url: str) -> Any:
    return cast(Any, boto3.client)(
        service,
        endpoint_url=endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
    )


class LocalAws:
    """moto's server on a given or free port, with the template's secrets and queues."""

    def __init__(self, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> LocalAws:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def create_secrets(self, secrets: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
        """Secret name -> value, created (or updated); returns name -> ARN (with its random suffix)."""
        client = aws_client("secretsmanager", self.endpoint_url)
        arns: dict[str, str] = {}
        for name, value in secrets.items():
            text = json.dumps(dict(value))
            try:
                arns[name] = client.create_secret(Name=name, SecretString=text)["ARN"]
            except client.exceptions.ResourceExistsException:
                arns[name] = client.put_secret_value(SecretId=name, SecretString=text)["ARN"]
        return arns

    def create_queues(self, values: LocalStackValues) -> dict[str, str]:
        """Every AWS::SQS::Queue of the template, dead-letter queues first; logical id -> URL."""
        return create_queues(aws_client("sqs", self.endpoint_url), values)


def create_queues(client: SQSClient, values: LocalStackValues) -> dict[str, str]:
    queues = {k: r for k, r in resources(values.template).items() if r.get("Type") == "AWS::SQS::Queue"}
    urls: dict[str, str] = {}
    pending = dict(queues)
    while pending:
        for logical_id, resource in list(pending.items()):
            props = resource.get("Properties", {})
            redrive = props.get("RedrivePolicy")
            target = redrive.get("deadLetterTargetArn", {}) if isinstance(redrive, dict) else {}
            get_att = target.get("Fn::GetAtt", "") if isinstance(target, dict) else ""
            target_id = get_att.split(".", 1)[0] if isinstance(get_att, str) else str(get_att[0])
            if target_id in pending and target_id != logical_id:
                continue  # its dead-letter queue first
            attributes: Any = {
                name: json.dumps(values.resolve(props[name]))
                if isinstance(props[name], dict)
                else str(props[name])
                for name in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "DelaySeconds")
                if name in props
            }
            name = queue_name(logical_id, props, values)
            urls[logical_id] = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            del pending[logical_id]
    return urls
