"""The functions' DynamoDB client: DynamoDB's fail-fast read timeout, longer only where it is set."""

import pytest

from coins.repository import READ_TIMEOUT_VARIABLE, default_client


def read_timeout() -> float:
    timeout: float = default_client().meta.config.read_timeout  # type: ignore[attr-defined]  # not in the stubs
    return timeout


def test_a_call_silent_for_5_seconds_is_retried_unless_the_environment_waits_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given no setting, the deployed functions' client gives up on a silent call after 5 s
    monkeypatch.delenv(READ_TIMEOUT_VARIABLE, raising=False)
    assert read_timeout() == 5
    # And where DynamoDB Local queues a burst (the integration tests), it waits as long as it is told
    monkeypatch.setenv(READ_TIMEOUT_VARIABLE, "60")
    assert read_timeout() == 60
