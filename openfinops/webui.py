"""The original entry point ``from openfinops.webui import start_server``: the same server as ``openfinops-server``."""

from openfinops.server.cli import start_server

__all__ = ["start_server"]
