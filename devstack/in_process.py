"""Functions called inside this process (unit and integration tests, the bench): each handler
imported from its CodeUri the way the Lambda runtime does, held to its role while it runs.

The local runtime (devstack.runtime) runs each function in processes of its own instead; this is the
in-process way, one floor above the deployment (devstack.deployment), whose role it takes.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from devstack import containers
from devstack.deployment import in_process_guard
from devstack.permissions import (
    PERMISSION_LOG_VARIABLE,
    PermissionGuard,
    acting_as,
    install,
    mode_from_env,
)
from devstack.template import ROOT, functions

LambdaHandler = Callable[[dict[str, Any], Any], Any]


def guard_from_env(logical_id: str) -> PermissionGuard | None:
    """The guard for a handler called in this process, as this process's environment says: none
    with DEVSTACK_PERMISSIONS=off, warning only with warn; decisions recorded to the file
    DEVSTACK_PERMISSION_LOG names."""
    mode = mode_from_env()
    if mode == "off":
        return None
    install()
    record = os.environ.get(PERMISSION_LOG_VARIABLE)
    guard = in_process_guard(logical_id, record=Path(record) if record else None)
    guard.enforce = mode == "enforce"
    return guard


_load_lock = threading.Lock()


def _load_module(code_uri: Path, module_name: str, container: str = "") -> ModuleType:
    # Lambda imports the handler module as a top-level module from the function's code folder;
    # every function has its own app.py, so each gets a unique name here to keep them apart, and
    # each named container its own copy of the module.
    unique = f"_fn_{code_uri.name}_{module_name}{container}"
    with _load_lock:  # concurrent first requests must not see a half-imported module
        if unique in sys.modules:
            return sys.modules[unique]
        return _exec_module(code_uri, module_name, unique)


def _exec_module(code_uri: Path, module_name: str, unique: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(unique, code_uri / f"{module_name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {module_name} from {code_uri}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    containers.metrics_per_thread()
    spec.loader.exec_module(module)
    containers.own_current_event(module)
    return module


def load_function_module(logical_id: str, container: str = "") -> ModuleType:
    props = functions()[logical_id]
    module_name, _ = props["Handler"].rsplit(".", 1)
    return _load_module(ROOT / props["CodeUri"], module_name, container)


class _Containers:
    """A function's in-process containers: each serves one request at a time, as on Lambda; an
    overlapping request gets an idle one or a new one."""

    def __init__(self, logical_id: str, name: str) -> None:
        self._logical_id = logical_id
        self._name = name
        self._attribute = functions()[logical_id]["Handler"].rsplit(".", 1)[1]
        self._idle: list[LambdaHandler] = []
        self._made = 0
        self._lock = threading.Lock()

    def serve(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
            if handler is None:
                # The first is the module load_function_module returns, the others copies of it.
                copy = f"{self._name}_c{self._made}" if self._made else self._name
                self._made += 1
        if handler is None:
            handler = getattr(load_function_module(self._logical_id, copy), self._attribute)
        try:
            return handler(event, context)
        finally:
            with self._lock:
                self._idle.append(handler)


_containers: dict[tuple[str, str], _Containers] = {}


def load_handler(logical_id: str, *, container: str = "") -> LambdaHandler:
    """The function's handler, imported from its CodeUri the way the Lambda runtime does.

    Called in this process (unit and integration tests), so it shares the process's environment;
    unless the tests turned the permission check off (guard_from_env), the handler's AWS calls are
    held to its template statements while it runs. Lambda gives each
    concurrent request a container of its own, and Powertools' resolver keeps the request it is
    serving on the module's app: so calls that overlap each get a copy of the module of their own
    (devstack.containers says what else each keeps apart). Callers on several threads may also
    name a container per thread (`container`).
    """
    with _load_lock:
        pool = _containers.get((logical_id, container))
        if pool is None:
            pool = _containers[logical_id, container] = _Containers(logical_id, container)

    def as_function(event: dict[str, Any], context: Any) -> Any:
        with acting_as(guard_from_env(logical_id)):
            return pool.serve(event, context)

    return as_function
