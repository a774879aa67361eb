"""Collector registry by source ``type``. Modules are imported lazily so that listing sources or parsing DAGs never
imports a vendor SDK."""

from __future__ import annotations

from importlib import import_module

from collectors.base import Collector

# type -> "module:Class"
COLLECTOR_TYPES: dict[str, str] = {
    "demo": "collectors.demo:DemoCollector",
}


def collector_class(source_type: str) -> type[Collector]:
    try:
        target = COLLECTOR_TYPES[source_type]
    except KeyError:
        raise KeyError(f"unknown source type {source_type!r}; expected one of {sorted(COLLECTOR_TYPES)}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(import_module(module_name), class_name)
