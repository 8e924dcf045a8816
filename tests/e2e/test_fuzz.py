"""Schemathesis against the OpenAPI document the local stack serves, with fan, creator and admin tokens.

Every response must be a non-5xx, with a status, content type, headers and body the document
declares; invalid requests (negative mode) must be refused with a 4xx. A stateful run follows the
document's links (checkout then its replay and the wallet, withdrawal then earnings, pages of history).
Deterministic: FUZZ_SEED (default below) replays the same requests; FUZZ_EXAMPLES scales the run.
"""

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import LocalStack

FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20261125"))
# Examples per operation and generation mode; the run asserts it made at least MIN_REQUESTS requests.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "75"))
MIN_REQUESTS = int(os.environ.get("FUZZ_MIN_REQUESTS", "1000"))

CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS: list[Any] = [*CHECKS, negative_data_rejection]
IDENTITIES = ("fuzz-fan", "fuzz-creator", "fuzz-admin")


@dataclass
class FuzzRun:
    stack: LocalStack
    schema: Any
    session: requests.Session
    tokens: dict[str, str]
    requests: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    def headers_for(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def owner_of(self, case: Case[Any]) -> str:
        """The identity a real client would use for this route (others are tried by the random draw)."""
        path = case.operation.path
        if path.startswith("/v1/admin"):
            return "fuzz-admin"
        if path.startswith(("/v1/creator/", "/v1/streams")):
            return "fuzz-creator"
        return "fuzz-fan"


@pytest.fixture(scope="module")
def fuzz(local_stack: LocalStack) -> Iterator[FuzzRun]:
    tokens = {
        "fuzz-fan": local_stack.token("fuzz-fan", birthdate="1995-06-01"),
        "fuzz-creator": local_stack.token("fuzz-creator", birthdate="1990-01-01"),
        "fuzz-admin": local_stack.token("fuzz-admin", groups=("admins",)),
    }
    with requests.Session() as session:
        run = FuzzRun(local_stack, None, session, tokens)

        def count(response: requests.Response, *_: Any, **__: Any) -> None:
            run.requests += 1
            run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1

        session.hooks["response"].append(count)
        # Given wallets that can actually spend and receive, so valid requests can succeed.
        api = local_stack.api
        for who in IDENTITIES:
            assert session.get(f"{api}/v1/wallet", headers=run.headers_for(who)).status_code == 200
        granted = session.post(
            f"{api}/v1/admin/adjustments",
            headers={**run.headers_for("fuzz-admin"), "Idempotency-Key": "fuzz-seed"},
            json={"user_id": "fuzz-fan", "unit": "coins", "amount": 100_000, "reason": "fuzz seed"},
        )
        assert granted.status_code == 201, granted.text
        # ... and a creator who may go live (gifts need one of their live streams)
        profile = session.post(f"{api}/v1/creator/profile", headers=run.headers_for("fuzz-creator"))
        assert profile.status_code == 200, profile.text
        document = session.get(f"{api}/v1/openapi.json")
        assert document.status_code == 200
        run.schema = schemathesis.openapi.from_dict(_without_security(document.json()))
        yield run
        served_lines = re.findall(r"(GET|POST) (/v1/[a-z/]+)\S* -> \d+ (\d+)ms", "".join(local_stack.output))
        served = [float(ms) for _, _, ms in served_lines]
        by_route: dict[str, list[float]] = {}
        for method, path, ms in served_lines:
            by_route.setdefault(f"{method} {path}", []).append(float(ms))
        print({k: (len(v), round(sum(v) / len(v))) for k, v in sorted(by_route.items())})
        print(
            f"\nfuzzer: {run.requests} requests in {run.seconds:.1f}s (seed {FUZZ_SEED}); statuses "
            f"{dict(sorted(run.statuses.items()))}; stack: {len(served)} served, "
            f"{sum(served) / max(1, len(served)):.0f} ms mean"
        )


def _without_security(document: dict[str, Any]) -> dict[str, Any]:
    """The served document minus its security requirements: every request here carries a real
    token (or none, on the webhook), so generated cases vary the inputs, not the credentials.
    Credentials are the authorization table's job (tests/e2e/test_authorization.py)."""
    document.pop("security", None)
    document.get("components", {}).pop("securitySchemes", None)
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    return document


def _fuzz_operation(run: FuzzRun, operation: Any, mode: GenerationMode) -> None:
    checks = NEGATIVE_CHECKS if mode == GenerationMode.NEGATIVE else CHECKS
    base_url = run.stack.api

    @seed(FUZZ_SEED)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode), other=st.sampled_from((None, *IDENTITIES)))
    def fuzz_case(case: Case[Any], other: str | None) -> None:
        # Mostly the route's own kind of user; sometimes another, to cross the roles.
        who = other or run.owner_of(case)
        response = case.call(base_url=base_url, session=run.session, headers=run.headers_for(who))
        case.validate_response(response, checks=checks)

    fuzz_case()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_describe(e) for e in exc.exceptions)
    return str(exc)


def _each_operation(run: FuzzRun) -> Iterator[Any]:
    for result in run.schema.get_all_operations():
        yield result.ok()


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"]
)
def test_generated_requests_get_documented_answers_and_no_5xx(fuzz: FuzzRun, mode: GenerationMode) -> None:
    started = time.monotonic()
    failures: list[str] = []
    for operation in _each_operation(fuzz):
        try:
            _fuzz_operation(fuzz, operation, mode)
        except hypothesis.errors.Unsatisfiable:
            continue  # nothing invalid to generate for this operation (negative mode, no inputs)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group: collect them all
            failures.append(f"{operation.label} [{mode.value}]: {exc!r}\n{_describe(exc)}")
    fuzz.seconds += time.monotonic() - started
    assert not failures, "\n\n".join(failures)


def test_stateful_runs_follow_the_links(fuzz: FuzzRun) -> None:
    base = fuzz.schema.as_state_machine()
    run = fuzz

    class LinkedCalls(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {
                "base_url": run.stack.api,
                "session": run.session,
                "headers": run.headers_for(run.owner_of(case)),
            }

        def validate_response(self, response: Any, case: Case[Any], **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    started = time.monotonic()
    schemathesis.stateful.run_state_machine_as_test(
        LinkedCalls,
        settings=settings(
            max_examples=max(10, EXAMPLES // 2),
            stateful_step_count=8,
            database=None,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        ),
    )
    fuzz.seconds += time.monotonic() - started


def test_the_run_was_big_enough(fuzz: FuzzRun) -> None:
    # Runs last in this module: the requests of every test above, counted at the HTTP session.
    assert fuzz.requests >= MIN_REQUESTS, f"only {fuzz.requests} requests"
