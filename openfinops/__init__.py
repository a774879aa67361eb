"""OpenFinOps core: config, loader, pipeline steps and the CLI. Collectors live in the ``collectors`` package."""
