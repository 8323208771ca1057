"""The console's listener: its own process next to the API's workers (see docs/architecture.md, "The console").

``storeroom serve`` binds the console's socket itself (so a port in use fails the start at once, with a clear
message) and hands it to one child process that runs uvicorn's stock httptools protocol with the console's
Starlette app.  The API's workers keep their listener, their edge protocol (storeroom/http/edge.py) and their
limits to themselves: no per-request dispatch is added to the S3 path, and a slow page cannot hold up an S3
request.  The child shares the data dir like one more worker (SQLite, the IAM generation counter, the audit
log), dies with its parent (PR_SET_PDEATHSIG) and is stopped with it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from multiprocessing.process import BaseProcess

from storeroom.cli.supervisor import die_with_parent


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def start(sock: socket.socket) -> BaseProcess:
    """Runs the console on ``sock`` in a child process (spawned: a clean interpreter, like uvicorn's workers)."""
    process = multiprocessing.get_context("spawn").Process(target=_run, args=(sock,), name="storeroom-console",
                                                             daemon=False)
    process.start()
    return process


def stop(process: BaseProcess, timeout: float = 10.0) -> None:
    if process.is_alive():
        assert process.pid is not None
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(timeout)


def _run(sock: socket.socket) -> None:
    die_with_parent()
    import uvicorn

    from storeroom.tls import TlsFiles
    from storeroom.tls.context import console_context

    config = uvicorn.Config(
        "storeroom.console.app:create_app", factory=True, loop="uvloop", http="httptools", ws="none",
        lifespan="on", access_log=False, server_header=False, proxy_headers=False,
        log_level=os.environ.get("STOREROOM_LOG_LEVEL", "warning"), timeout_keep_alive=20,
        h11_max_incomplete_event_size=16 * 1024,
        # HTTPS with the API's certificate, reloaded on the SIGHUP the master forwards (storeroom/tls/context.py)
        ssl_context_factory=console_context if TlsFiles.from_env() is not None else None)
    uvicorn.Server(config).run(sockets=[sock])
