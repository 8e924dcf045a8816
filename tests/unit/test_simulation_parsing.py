"""The simulation's short way of parsing DynamoDB's answers gives what botocore's model walk gives."""

import base64
import json
from typing import Any

import botocore.session
import pytest
from botocore.parsers import JSONParser

from tests.simulation.fast_parsing import AttributeValueParser, dynamodb_client

MODEL = botocore.session.get_session().get_service_model("dynamodb")


def _blob(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


EVERY_TYPE: dict[str, Any] = {
    "PK": {"S": "ACCT#fan-1#coins#0"},
    "balance": {"N": "-12.50"},
    "receipt": {"B": _blob("\x00binary\xff")},
    "tags": {"SS": ["a", "b"]},
    "amounts": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [_blob("x"), _blob("y")]},
    "settles": {"L": [{"S": "gift-1"}, {"N": "3"}, {"L": []}, {"M": {"k": {"B": _blob("z")}}}]},
    "meta": {"M": {"flag": {"BOOL": False}, "none": {"NULL": True}, "deep": {"M": {"n": {"N": "0"}}}}},
    "empty_map": {"M": {}},
    "empty_string": {"S": ""},
}
# Not what DynamoDB answers with: these go botocore's own way, and must come out as botocore's.
UNUSUAL: dict[str, Any] = {
    "two_types": {"S": "a", "N": "1"},
    "nothing": {},
    "null_value": {"S": None},
    "unknown_type": {"X": "?"},
    "list_not_a_list": {"L": "abc"},
    "map_not_a_map": {"M": ["a"]},
    "nested_unusual": {"L": [{"S": "a", "BOOL": True}]},
}


def _answer(operation: str, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = {
        "body": json.dumps(body).encode(),
        "headers": {},
        "status_code": 200,
        "context": {"operation_name": operation},
    }
    return response, MODEL.operation_model(operation).output_shape


def _outcome(parser: JSONParser, response: dict[str, Any], shape: Any) -> str:
    try:
        return repr(parser.parse(dict(response), shape))
    except Exception as error:  # what botocore refuses, ours must refuse alike
        return f"raised {type(error).__name__}"


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("Scan", {"Items": [EVERY_TYPE, {"PK": {"S": "b"}}], "Count": 2, "ScannedCount": 2}),
        ("GetItem", {"Item": EVERY_TYPE}),
        ("GetItem", {"Item": UNUSUAL}),
        ("Query", {"Items": [UNUSUAL], "LastEvaluatedKey": {"PK": {"S": "a"}}, "Count": 1}),
        ("BatchGetItem", {"Responses": {"t": [EVERY_TYPE]}, "UnprocessedKeys": {}}),
        ("TransactWriteItems", {}),
        ("DescribeTable", {"Table": {"TableName": "t", "CreationDateTime": 1.7e9, "ItemCount": 3}}),
    ],
)
def test_each_answer_parses_to_what_botocore_makes_of_it(operation: str, body: dict[str, Any]) -> None:
    # Given an answer from DynamoDB (usual attribute values, unusual ones, or none)
    response, shape = _answer(operation, body)

    # When the simulation's parser and botocore's own parse it
    fast = _outcome(AttributeValueParser(), response, shape)
    model = _outcome(JSONParser(), response, shape)

    # Then they are the same, down to the order of the keys (or both refuse it alike)
    assert fast == model


def test_an_error_answer_parses_to_what_botocore_makes_of_it() -> None:
    # Given a refused transaction, its reasons carrying the items as they were
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled",
        "CancellationReasons": [{"Code": "ConditionalCheckFailed", "Item": EVERY_TYPE}, {"Code": "None"}],
    }
    response, shape = _answer("TransactWriteItems", body)
    response["status_code"] = 400

    # When both parse it, Then the error is the same
    assert AttributeValueParser().parse(dict(response), shape) == JSONParser().parse(dict(response), shape)


def test_the_simulations_client_parses_the_short_way() -> None:
    # Given the client the simulation's backends make
    client = dynamodb_client("http://127.0.0.1:1")

    # Then its answers go through the simulation's parser
    assert isinstance(client._endpoint._response_parser_factory.create_parser("json"), AttributeValueParser)
