"""Telemetry agents: thin processes that push telemetry to the OpenFinOps ingest server (``openfinops-server``) over
HTTP, for sites that keep their credentials to themselves. See ``agents/README.md``."""
