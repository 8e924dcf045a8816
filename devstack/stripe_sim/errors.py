"""Errors in Stripe's own format, so the SDK raises the same exception classes it raises for Stripe."""

from typing import Any

JSON = dict[str, Any]

# Stripe answers an unknown route with this sentence; the SDK shows it as is.
_SUPPORT = "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."


class StripeError(Exception):
    """An answer in Stripe's error format: `{"error": {"type", "message", "code"?, "param"?}}`.

    `replayable` is False for errors found while validating parameters: Stripe saves no
    idempotent result for those, because the endpoint never started executing.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        replayable: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param
        self.replayable = replayable

    @property
    def body(self) -> JSON:
        error: JSON = {"type": self.kind, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def invalid_param(message: str, param: str, *, code: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param, replayable=False)


def missing_param(param: str) -> StripeError:
    return invalid_param(f"Missing required param: {param}.", param, code="parameter_missing")


def unknown_param(param: str) -> StripeError:
    return invalid_param(f"Received unknown parameter: {param}", param, code="parameter_unknown")


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def unrecognized_url(method: str, path: str) -> StripeError:
    # No endpoint ran, so Stripe saves no idempotent result.
    return StripeError(404, f"Unrecognized request URL ({method}: {path}). {_SUPPORT}", replayable=False)


def idempotency_error(message: str) -> StripeError:
    return StripeError(400, message, kind="idempotency_error", replayable=False)
