"""The local permission guard holds every AWS client a function makes, whenever it was made.

The documented rule it follows: a Lambda function's execution role is the identity of every AWS call
the function makes, from its init phase on. Lambda assumes the role and puts its temporary
credentials in the execution environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN) before the init phase runs the function's code outside the handler, so a client
created at import time signs with the role like one created inside the handler
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html,
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-ib,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
A client the guard did not see would pass a call the template does not grant, which AWS refuses.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A function process: its module makes a client at import time, before devstack.function_host
# installs the guard (guard_process), then the handler calls DynamoDB with it.
PROGRAM = """
import json, boto3
from botocore.config import Config
from botocore.exceptions import ClientError

made_at_import = boto3.client(
    "dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
    aws_access_key_id="local", aws_secret_access_key="local",
    config=Config(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=1),
)
session_made_before = boto3.session.Session(region_name="us-east-1")

from devstack.deployment import in_process_guard
from devstack.permissions import guard_process

guard_process(in_process_guard("GiftSettlementFunction", env={"TABLE_NAME": "coins-local"}))
made_later = session_made_before.client(
    "dynamodb", endpoint_url="http://127.0.0.1:9", aws_access_key_id="local",
    aws_secret_access_key="local", config=Config(retries={"max_attempts": 0}, connect_timeout=1),
)
answers = {}
for name, client in (("import_time", made_at_import), ("older_session", made_later)):
    try:
        # The settlement's role never writes a creator's payout profile.
        client.put_item(TableName="coins-local", Item={"PK": {"S": "CREATOR#c"}, "SK": {"S": "PROFILE"}})
        answers[name] = "sent"
    except ClientError as exc:
        answers[name] = exc.response["Error"]["Code"]
    except Exception as exc:
        answers[name] = type(exc).__name__  # it reached for the network: the guard let it through
print(json.dumps(answers))
"""


def test_a_client_made_at_import_time_is_refused_what_the_role_does_not_grant() -> None:
    # Given a function process whose clients were made before the guard was installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "shared")])}
    env.pop("DEVSTACK_PERMISSIONS", None)
    # When the handler calls DynamoDB with them, outside the settlement role's grants
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    # Then each call is refused as AWS refuses it, never sent
    assert answers == {"import_time": "AccessDeniedException", "older_session": "AccessDeniedException"}
