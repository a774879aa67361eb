"""``openfinops-server`` and ``openfinops-dashboard`` (the same server, both names as the original documents):
``--host`` (default 127.0.0.1) and ``--port`` (default 8081: Airflow's UI has 8080 in the embedded stack)."""

from __future__ import annotations

import argparse
import logging
import os

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="openfinops-server", description="OpenFinOps telemetry ingest server")
    parser.add_argument("--host", default=os.environ.get("HOST", DEFAULT_HOST))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    start_server(args.host, args.port, workers=args.workers, log_level=args.log_level)


def start_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, debug: bool = False, *, workers: int = 1,
                 log_level: str = "info") -> None:
    import uvicorn

    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO)
    print("🚀 Starting OpenFinOps server...")
    print(f"   Host: {host}")
    print(f"   Port: {port}", flush=True)
    uvicorn.run("openfinops.server.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="debug" if debug else log_level, access_log=False)


if __name__ == "__main__":
    main()
