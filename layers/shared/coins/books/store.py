"""The books bucket: what the audit and the statement leave there (their results, for people and
for the next run), beside the exports DynamoDB writes. The one module of the books that speaks S3."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


def books_store(bucket: str) -> BooksStore:
    import boto3

    return BooksStore(boto3.client("s3"), bucket)


class BooksStore:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, key: str, body: str, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), ContentType=content_type)

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found += [o["Key"] for o in page.get("Contents", [])]
        return found

    def read(self, key: str) -> str:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True
