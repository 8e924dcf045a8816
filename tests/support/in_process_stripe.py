"""The Stripe simulator's WSGI app behind the real SDK, without sockets (the simulation, unit tests)."""

from typing import Any
from urllib.parse import urlsplit

import stripe
from werkzeug.test import Client

from devstack.stripe_sim.server import StripeSimulator


class InProcessStripe(stripe.HTTPClient):
    """The real SDK's requests answered by the simulator's app in this process; retries do not sleep."""

    name = "in-process"

    def __init__(self, simulator: StripeSimulator) -> None:
        super().__init__()
        self._client = Client(simulator.app)

    def request(  # type: ignore[override]
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[bytes, int, dict[str, str]]:
        parts = urlsplit(url)
        try:
            answer = self._client.open(
                path=parts.path,
                query_string=parts.query,
                method=method.upper(),
                headers=dict(headers or {}),
                data=post_data,
            )
        except ConnectionResetError:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                "the connection dropped", should_retry=True
            ) from None
        return answer.get_data(), answer.status_code, dict(answer.headers)

    def close(self) -> None:
        pass

    def _sleep_time_seconds(self, num_retries: int, response: Any = None) -> float:
        return 0.0
