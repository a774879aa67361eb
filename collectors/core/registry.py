"""Collector registry by source ``type``.

Two ways a type exists, and neither needs an edit here:
- built in: the module ``collectors/sources/<type>.py`` (modules whose name starts with ``_`` are helpers of a
  source, not types), whose ``Collector`` subclass with ``type = "<type>"`` is the collector;
- a plug-in: an installed distribution's entry point in the group ``openfinops.collectors``, named after the type and
  pointing at the class (``my_vendor = "my_package.collector:MyVendorCollector"``). A plug-in may not reuse a built-in
  type name.

Modules are imported only when a type's class is asked for, so that listing types or parsing DAGs never imports a
vendor SDK."""

from __future__ import annotations

import pkgutil
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points

from collectors import sources
from collectors.core.base import Collector, Dataset

ENTRY_POINT_GROUP = "openfinops.collectors"


@cache
def collector_types() -> dict[str, str]:
    """type -> where its class comes from (``collectors.sources.<type>`` or the entry point's ``module:Class``)."""
    types = {m.name: f"{sources.__name__}.{m.name}" for m in pkgutil.iter_modules(sources.__path__)
             if not m.name.startswith("_")}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in types:
            raise KeyError(f"entry point {ep.name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP}, distribution "
                           f"{ep.dist.name if ep.dist else '?'}): source type {ep.name!r} is built in; "
                           "expected a new type name")
        types[ep.name] = ep.value
    return types


@cache
def collector_class(source_type: str) -> type[Collector]:
    types = collector_types()
    try:
        target = types[source_type]
    except KeyError:
        raise KeyError(f"unknown source type {source_type!r}; expected one of {sorted(types)}") from None
    module_name, _, class_name = target.partition(":")
    module = import_module(module_name)
    if class_name:  # a plug-in names its class
        found = getattr(module, class_name, None)
        if not (isinstance(found, type) and issubclass(found, Collector) and found.type == source_type):
            raise TypeError(f"entry point {source_type!r} = {target!r}: expected a Collector subclass with "
                            f"type = {source_type!r}, got {found!r}")
        return found
    matches = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, Collector) and v.__module__ == module.__name__
               and getattr(v, "type", None) == source_type]
    if len(matches) != 1:
        raise TypeError(f"{module_name}: expected one Collector subclass with type = {source_type!r}, "
                        f"found {len(matches)}")
    return matches[0]


def all_datasets() -> tuple[Dataset, ...]:
    """Every raw dataset any registered collector type can load (module-level ``Dataset`` definitions of the module
    that defines the type's class), one per table. The transform creates all of these tables up front, empty when no
    source of that type is configured, so the dbt staging views of every provider always have a table to read."""
    found: dict[str, Dataset] = {}
    for source_type in collector_types():
        module = import_module(collector_class(source_type).__module__)
        for value in vars(module).values():
            if isinstance(value, Dataset):
                found.setdefault(value.table, value)
    return tuple(found[table] for table in sorted(found))
