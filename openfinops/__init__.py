"""OpenFinOps core: config, loader, pipeline steps and the CLI. Collectors live in the ``collectors`` package."""


def __getattr__(name: str):
    """``from openfinops import ObservabilityHub`` (the original API), imported lazily so that importing the package
    (DAG parsing, the CLI) loads no database driver."""
    if name == "ObservabilityHub":
        from openfinops.hub import ObservabilityHub

        return ObservabilityHub
    raise AttributeError(f"module 'openfinops' has no attribute {name!r}")


__all__ = ["ObservabilityHub"]
