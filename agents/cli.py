"""The agents' shared command line and the original ``config/telemetry.yaml`` format.

Every agent takes ``--openfinops-endpoint URL`` (or ``openfinops.endpoint`` of ``--config``, or env
``OPENFINOPS_ENDPOINT``), ``--interval S`` (or the section's ``collection_interval``, or env ``COLLECTION_INTERVAL``;
default 300), ``--once`` (one cycle, exit 0 when everything was delivered, 1 otherwise: what was not delivered stays
spooled for the next run), ``--spool-dir``, ``--lookback-days``, ``--agent-id`` and ``--log-level``. Registration
takes the admin token from env ``OPENFINOPS_SERVER_ADMIN_TOKEN``; a key registered elsewhere comes from
``openfinops.api_key`` or env ``OPENFINOPS_API_KEY``. Without ``--config``, ``config/telemetry.yaml`` of the working
directory is read when it exists (the original agents' default, used by their Docker example). Secrets belong in the
environment: ``${VAR}`` (or ``${VAR:-default}``) in any string of the config file is replaced by the variable's value
after the YAML is parsed (an unset variable gives an empty value).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.base import TelemetryAgent

log = logging.getLogger("agents")
DEFAULT_CONFIG = "config/telemetry.yaml"  # relative to the working directory, as in the original
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(value: Any) -> Any:
    """``${VAR}`` / ``${VAR:-default}`` replaced in every string of a parsed config."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v) for v in value]
    return value


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    import yaml

    with open(path, encoding="utf-8") as handle:
        parsed = yaml.safe_load(handle) or {}
    if not isinstance(parsed, dict):
        raise ValueError(f"{path}: expected a mapping of sections (openfinops, aws, azure, ...)")
    return substitute(parsed)


def first(*values: Any) -> Any:
    """The first value that is set (not None and not an empty string)."""
    return next((v for v in values if v is not None and v != ""), None)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--openfinops-endpoint", help="the OpenFinOps server, e.g. http://localhost:8081")
    p.add_argument("--config", help="config/telemetry.yaml (the original format; ${ENV} substituted)")
    p.add_argument("--interval", type=float, help="seconds between collections (default 300)")
    p.add_argument("--once", action="store_true", help="one cycle, then exit (0: all delivered)")
    p.add_argument("--spool-dir", help="outbox and agent state (default ~/.openfinops/agents/<type>)")
    p.add_argument("--lookback-days", type=int, help="days collected each cycle (default 3)")
    p.add_argument("--agent-id", help="agent id (with a key registered elsewhere, or to re-register an id)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(prog: str, section: str, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
         build: Callable[[argparse.Namespace, dict[str, Any], dict[str, Any]], TelemetryAgent],
         argv: list[str] | None = None, *, config_is_yaml: bool = True) -> int:
    """Parse, read the config's ``openfinops`` and ``section`` sections, build the agent, run it.
    ``config_is_yaml=False``: ``--config`` is the agent's own file (the SaaS agent's JSON), read by ``build``."""
    p = parser(prog, description)
    add_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.config is None and config_is_yaml and Path(DEFAULT_CONFIG).is_file():
        args.config = DEFAULT_CONFIG  # the original agents read it when run with no arguments (its Docker example)
        log.info("%s: reading %s", prog, DEFAULT_CONFIG)
    config = load_config(args.config) if args.config and config_is_yaml else {}
    server = config.get("openfinops") or {}
    options = config.get(section) or {}
    if options.get("enabled") is False:
        log.info("%s: disabled in %s (%s.enabled: false)", prog, args.config, section)
        return 0
    endpoint = first(args.openfinops_endpoint, server.get("endpoint"), os.environ.get("OPENFINOPS_ENDPOINT"))
    if not endpoint:
        p.error("--openfinops-endpoint (or openfinops.endpoint in --config, or OPENFINOPS_ENDPOINT) is required")
    common: dict[str, Any] = {
        "openfinops_endpoint": endpoint,
        "api_key": first(server.get("api_key"), os.environ.get("OPENFINOPS_API_KEY")),
        "agent_id": first(args.agent_id, server.get("agent_id")),
        "spool_dir": first(args.spool_dir, options.get("spool_dir"), server.get("spool_dir")),
    }
    lookback = first(args.lookback_days, options.get("lookback_days"))
    if lookback is not None:
        common["lookback_days"] = int(lookback)
    try:
        agent = build(args, options, common)
    except (ValueError, KeyError) as exc:
        p.error(str(exc))
    if args.once:
        result = agent.run_once()
        print(f"{prog}: {result.summary()}", file=sys.stderr)
        return 0 if result.ok else 1
    interval = float(first(args.interval, options.get("collection_interval"), os.environ.get("COLLECTION_INTERVAL"),
                           300))
    log.info("%s: pushing to %s every %.0f s (spool %s)", prog, agent.endpoint, interval, agent.spool.root)
    agent.run_continuous(interval)
    return 0


def path_or_none(value: Any) -> Path | None:
    return Path(value).expanduser() if value else None


def services(flag: str | None, options: dict[str, Any], section: str, known: tuple[str, ...]
             ) -> tuple[str, ...] | None:
    """The metric services of an agent: the comma-separated command-line value (``none``: costs only), else the
    config section's ``services`` list, else None (the agent's default)."""
    if flag:
        value = flag.strip()
        return () if value == "none" else tuple(s.strip() for s in value.split(",") if s.strip())
    listed = options.get("services")
    if listed is None:
        return None
    if not isinstance(listed, list):
        raise ValueError(f"{section}.services: expected a list of {list(known)}, got {listed!r}")
    return tuple(str(s) for s in listed)
