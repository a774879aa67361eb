"""Real servers of this project started in-process for tests (not fakes: fakes of vendors live in tests/fakes/)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from openfinops.server.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The ingest server (openfinops.server.app) under uvicorn in a thread on a free loopback port; settings are
    create_app's keyword arguments. ``url`` is its base URL; ``stop()`` shuts it down."""

    def __init__(self, **settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(**settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
