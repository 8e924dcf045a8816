"""Lambda containers emulated in one process: what each real container holds on its own.

Lambda runs one request at a time in a container, each container its own process. Tests and
benchmarks run handlers in this process instead, several at once on threads, each thread's calls
in a copy of the function's module (devstack.in_process.load_handler). Two things Powertools keeps
per process would then be shared by those copies, which no deployed function ever sees:

- the resolver's request: `BaseRouter.current_event` is a class attribute, set by every app's
  `resolve`, so one container could read another's request (a sender answered with another
  sender's gift);
- the metrics: every `Metrics` shares one metric set, flushed by each request as it ends, so one
  container's flush could empty the set between another's check and its serialization
  (SchemaValidationError "Must contain at least one metric"), or change it while it is read.

Here each container's app keeps its own request, and each thread its own metric set: as separate
processes would, with the handlers' metrics themselves unchanged.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

_install_lock = threading.Lock()


class MetricsPerThread:
    """Stands in for a `Metrics` object's provider: each thread (the request it runs) its own one.

    `Metrics` hands every call to its provider; `log_metrics` wraps the handler once, at import, so
    the wrapper here looks up the calling thread's provider on each request.
    """

    def __init__(self, shared: AmazonCloudWatchEMFProvider) -> None:
        self._shared = shared
        self._local = threading.local()

    def current(self) -> AmazonCloudWatchEMFProvider:
        provider: AmazonCloudWatchEMFProvider | None = getattr(self._local, "provider", None)
        if provider is None:
            provider = AmazonCloudWatchEMFProvider(
                namespace=self._shared.namespace,
                service=self._shared.service,
                function_name=self._shared.function_name,
            )
            self._local.provider = provider
        return provider

    def log_metrics(self, lambda_handler: Callable[..., Any] | None = None, **options: Any) -> Any:
        if lambda_handler is None:  # used with arguments: @metrics.log_metrics(raise_on_empty_metrics=...)
            return functools.partial(self.log_metrics, **options)
        handler = lambda_handler

        @functools.wraps(handler)
        def flushed_by_this_thread(*args: Any, **kwargs: Any) -> Any:
            return self.current().log_metrics(handler, **options)(*args, **kwargs)

        return flushed_by_this_thread

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current(), name)


def metrics_per_thread() -> None:
    """Gives the functions' shared `Metrics` (coins.observability) a provider per thread; once, and
    before any handler module is imported, since `log_metrics` binds its provider at import."""
    from coins.observability import metrics  # the functions' own; imported when a handler is

    with _install_lock:
        if not isinstance(metrics.provider, MetricsPerThread):
            metrics.provider = MetricsPerThread(metrics.provider)  # type: ignore[assignment]


def own_current_event(module: ModuleType) -> None:
    """The module's app keeps the request it serves on itself, which `app.current_event` finds
    before the class attribute every app in the process sets."""
    app = getattr(module, "app", None)
    if not isinstance(app, BaseRouter):
        return
    to_proxy_event: Callable[[dict[str, Any]], Any] = app._to_proxy_event  # type: ignore[attr-defined]

    def kept_on_the_app(event: dict[str, Any]) -> Any:
        proxy = to_proxy_event(event)
        app.__dict__["current_event"] = proxy
        return proxy

    app._to_proxy_event = kept_on_the_app  # type: ignore[attr-defined]
