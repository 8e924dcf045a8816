"""Edge limits over HTTP, on DynamoDB Local (docs/api.md, "Limits on requests"): each a clear 4xx."""

import base64
import json

import pytest
import requests

from tests.e2e.conftest import LocalStack


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(b'{"sk": "\\ud800"}'),  # a lone surrogate: decodes, but no store can hold it
        _cursor(b'{"sk": "' + "é".encode() * 10 + b'"}'),
        _cursor(b'{"sk": "~~~~"}'),
        _cursor(b'{"sk": ""}'),
        "%2F%2F",
    ],
)
@pytest.mark.parametrize(
    "route", ["/v1/wallet/transactions", "/v1/admin/reviews", "/v1/admin/adjustments/pending"]
)
def test_hand_made_cursors_never_5xx(
    local_stack: LocalStack, http: requests.Session, route: str, cursor: str
) -> None:
    answer = http.get(
        f"{local_stack.api}{route}?cursor={cursor}",
        headers=local_stack.headers("edge-admin", groups=("admins",)),
    )
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (
            b'{"package_id": "coins_70", "pad": "' + b"x" * 20_000 + b'"}',
            "application/json",
            413,
            "payload_too_large",
        ),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "invalid_request"),
        (b'{"package_id": "coins_\xff"}', "application/json", 400, "invalid_request"),
        (b'{"package_id": "coins_70"}', "text/plain", 415, "unsupported_media_type"),
        (b"package_id=coins_70", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
    ids=["too-large", "too-deep", "not-utf8", "text", "form"],
)
def test_bodies_out_of_bounds_are_clear_4xx(
    local_stack: LocalStack, http: requests.Session, body: bytes, content_type: str, status: int, code: str
) -> None:
    answer = http.post(
        f"{local_stack.api}/v1/checkout",
        data=body,
        headers={
            **local_stack.headers("edge-fan"),
            "Content-Type": content_type,
            "Idempotency-Key": "edge-1",
        },
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize(("key", "status"), [("", 400), ("k" * 256, 400), ("k" * 255, 201)])
def test_idempotency_keys_of_0_and_256_characters_are_400(
    local_stack: LocalStack, http: requests.Session, key: str, status: int
) -> None:
    answer = http.post(
        f"{local_stack.api}/v1/checkout",
        headers={**local_stack.headers("edge-keys", birthdate="1990-01-01"), "Idempotency-Key": key},
        json={"package_id": "coins_70"},
    )
    assert answer.status_code == status, answer.text


@pytest.mark.parametrize(
    ("user_id", "path_answer"),
    [
        ("ålice", (400, "invalid_request")),
        ("系统", (400, "invalid_request")),
        ("system", (400, "invalid_request")),
        ("alice%0A", (404, "not_found")),  # a newline in a path segment matches no route
    ],
)
def test_unicode_reserved_and_malformed_ids_in_paths_and_bodies_are_4xx(
    local_stack: LocalStack, http: requests.Session, user_id: str, path_answer: tuple[int, str]
) -> None:
    admin = local_stack.headers("edge-admin", groups=("admins",))
    in_path = http.post(
        f"{local_stack.api}/v1/admin/accounts/{user_id}/status",
        headers=admin,
        json={"status": "frozen", "reason": "edge test"},
    )
    in_body = http.post(
        f"{local_stack.api}/v1/gifts",
        headers={**local_stack.headers("edge-fan"), "Idempotency-Key": "edge-gift"},
        data=json.dumps({"creator_id": user_id.replace("%0A", "\n"), "gift_id": "rose", "stream_id": "edge"}),
    )
    assert (in_path.status_code, in_path.json()["error"]["code"]) == path_answer
    assert (in_body.status_code, in_body.json()["error"]["code"]) == (400, "invalid_request")
