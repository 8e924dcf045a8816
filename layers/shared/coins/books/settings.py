"""The books functions' own environment (template.yaml: BooksExportFunction, BooksAuditFunction,
BooksStatementFunction), validated once per cold start."""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class BooksSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_arn: str = Field(min_length=10)
    bucket: str = Field(min_length=3)
    database: str = ""
    workgroup: str = ""
    full_export_days: int = Field(default=90, ge=1)

    @property
    def full_every(self) -> timedelta:
        return timedelta(days=self.full_export_days)

    @classmethod
    def from_env(cls) -> BooksSettings:
        env = os.environ
        return cls(
            table_arn=env.get("TABLE_ARN", ""),
            bucket=env.get("BOOKS_BUCKET", ""),
            database=env.get("BOOKS_DATABASE", ""),
            workgroup=env.get("BOOKS_WORKGROUP", ""),
            full_export_days=int(env.get("BOOKS_FULL_EXPORT_DAYS", "90")),
        )
