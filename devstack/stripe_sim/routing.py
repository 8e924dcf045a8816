"""A small method + path-pattern router shared by the API, the pages and the /_sim controls."""

import re
from collections.abc import Callable
from typing import Generic, TypeVar

H = TypeVar("H")


class Router(Generic[H]):
    """Patterns use `{name}` for one path segment: "/v1/charges/{id}"."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], H]] = []
        self._templates: dict[re.Pattern[str], str] = {}

    def add(self, method: str, pattern: str, handler: H) -> None:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self._routes.append((method, regex, handler))
        self._templates[regex] = pattern

    def route(self, method: str, pattern: str) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self.add(method, pattern, handler)
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[H, dict[str, str]] | None:
        for route_method, regex, handler in self._routes:
            found = regex.match(path)
            if found and route_method == method:
                return handler, found.groupdict()
        return None

    def template(self, method: str, path: str) -> str | None:
        """The pattern a request matched ("/v1/transfers/{id}/reversals"), or None."""
        for route_method, regex, _ in self._routes:
            if route_method == method and regex.match(path):
                return self._templates[regex]
        return None

    def patterns(self) -> list[tuple[str, str]]:
        return [(method, regex.pattern) for method, regex, _ in self._routes]
