"""The IAM requests of the books' calls (S3, Athena, Glue, DynamoDB exports), as AWS authorizes them.

What devstack.permissions hands here, by AWS's Service Authorization Reference:
- S3: a call on an object is authorized on `arn:aws:s3:::bucket/key`, one on a bucket on
  `arn:aws:s3:::bucket`; HeadObject is `s3:GetObject`, ListObjects(V2) is `s3:ListBucket`.
- Athena: query calls are authorized on the work group, `arn:aws:athena:region:account:workgroup/name`.
- Glue: a call on a table is authorized on the catalog, the database and the table, all three.
- DynamoDB: ExportTableToPointInTime on the table, DescribeExport on `table/T/export/ID`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devstack.cfn import LOCAL_ACCOUNT

S3_ACTIONS = {"HeadObject": "GetObject", "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket"}


def s3_resource(params: Mapping[str, Any]) -> str:
    bucket = str(params.get("Bucket", ""))
    key = params.get("Key")
    return f"arn:aws:s3:::{bucket}/{key}" if key is not None else f"arn:aws:s3:::{bucket}"


def athena_resource(region: str, params: Mapping[str, Any], workgroups: Mapping[str, str]) -> str:
    """The work group the call runs in: named, or the one its query ran in."""
    name = params.get("WorkGroup") or workgroups.get(str(params.get("QueryExecutionId")), "primary")
    return f"arn:aws:athena:{region}:{LOCAL_ACCOUNT}:workgroup/{name}"


def glue_resources(region: str, database: str, table: str | None) -> list[str]:
    root = f"arn:aws:glue:{region}:{LOCAL_ACCOUNT}"
    found = [f"{root}:catalog", f"{root}:database/{database}"]
    if table is not None:
        found.append(f"{root}:table/{database}/{table}")
    return found


def dynamodb_export_resource(operation: str, params: Mapping[str, Any]) -> str | None:
    if operation == "ExportTableToPointInTime":
        return str(params["TableArn"])
    if operation == "DescribeExport":
        return str(params["ExportArn"])
    return None
