"""botocore's answers from DynamoDB, parsed to the same dicts in a fraction of the time.

botocore parses every DynamoDB answer by walking its model: each attribute value is a structure of
ten members, each looked up on every value, and a Scan of a few hundred items is hundreds of
thousands of calls. The simulation reads its whole table after every step (the ledger check), so
that walk was the largest part of its Python time. This parser takes the short way for attribute
values alone, and only for the shape DynamoDB answers with (one type key, a value of the type the
model gives it); anything else goes the model's way. The result is the same dict: that is held by
tests/unit/test_simulation_parsing.py against botocore's own parser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from botocore.model import Shape
from botocore.parsers import JSONParser, ResponseParser, ResponseParserFactory


class _Unusual(Exception):
    """A value DynamoDB does not answer with: parsed the model's way instead."""


class AttributeValueParser(JSONParser):
    """botocore's JSON parser, with attribute values (and maps of them) parsed directly."""

    def _handle_structure(self, shape: Shape, value: Any) -> Any:
        if shape.name == "AttributeValue":
            try:
                return _attribute_value(value, self._blob_parser)  # type: ignore[attr-defined]
            except _Unusual:
                pass
        return super()._handle_structure(shape, value)  # type: ignore[misc]  # botocore's own, unstubbed

    def _handle_map(self, shape: Any, value: Any) -> Any:
        if shape.value.name == "AttributeValue" and shape.key.type_name == "string" and type(value) is dict:
            # The keys are strings (botocore passes them through); each value as above.
            return {key: self._handle_structure(shape.value, item) for key, item in value.items()}
        return super()._handle_map(shape, value)  # type: ignore[misc]


def _attribute_value(value: Any, blob: Callable[[Any], bytes]) -> dict[str, Any]:
    """What botocore's model walk makes of one attribute value DynamoDB answered with: one type
    key, its value of the model's type (strings and booleans as they are, blobs decoded, lists and
    maps of attribute values parsed alike). Anything else raises _Unusual."""
    if type(value) is not dict or len(value) != 1:
        raise _Unusual
    ((tag, inner),) = value.items()
    if inner is None:
        raise _Unusual
    if tag in ("S", "N", "NULL", "BOOL"):  # strings and booleans in the model, passed through
        return {tag: inner}
    if tag == "B":
        return {tag: blob(inner)}
    if tag == "M":
        if type(inner) is not dict:
            raise _Unusual
        return {tag: {key: _attribute_value(item, blob) for key, item in inner.items()}}
    if type(inner) is not list:
        raise _Unusual
    if tag == "L":
        return {tag: [None if item is None else _attribute_value(item, blob) for item in inner]}
    if tag in ("SS", "NS"):  # lists of strings
        return {tag: list(inner)}
    if tag == "BS":
        return {tag: [None if item is None else blob(item) for item in inner]}
    raise _Unusual


class _Parsers(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> ResponseParser:
        if protocol_name == "json":
            return AttributeValueParser(**self._defaults)  # type: ignore[attr-defined]
        return super().create_parser(protocol_name)


def dynamodb_client(endpoint_url: str | None) -> Any:
    """A DynamoDB client as boto3.client("dynamodb") makes one (the same settings from the
    environment), whose answers are parsed by AttributeValueParser."""
    session = botocore.session.get_session()
    session.register_component("response_parser_factory", _Parsers())
    return boto3.Session(botocore_session=session).client("dynamodb", endpoint_url=endpoint_url)
