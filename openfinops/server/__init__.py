"""The OpenFinOps server (``openfinops-server`` / ``openfinops-dashboard``): telemetry ingest for agents that push,
health, and redirects to the role dashboards. See :mod:`openfinops.server.app`."""
