"""``storeroom serve`` on Granian (a Rust HTTP server; its ASGI interface) instead of uvicorn + the edge protocol.

For the benchmark only (target ``storeroom-granian``): issue 14 asks whether the HTTP layer is the ceiling of
small requests, measured against another server in the same run.  Never use it to serve: it has none of the
edge's limits (storeroom/http/edge.py), no PROXY protocol, no TLS reload.

    python -m bench.granian_http serve --listen 127.0.0.1:9000 --data-dir DIR --workers 2
"""

from __future__ import annotations

import sys
from typing import Any

from storeroom import cli
from storeroom.cli import serve


def _granian_api(settings: Any, tls: Any, console: Any) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.server import Server

    Server("storeroom.http.app:create_app", address=settings.host, port=settings.port,
           interface=Interfaces.ASGI, workers=settings.workers, http=HTTPModes.http1, loop=Loops.uvloop,
           factory=True, log_enabled=False, backlog=2048).serve()


if __name__ == "__main__":
    serve._run_api = _granian_api
    cli.main(sys.argv[1:], prog_name="storeroom")
