"""uvicorn's worker supervisor, with SIGHUP handed to a callback instead of a rolling restart of the workers.

A restart replaces each worker by a new process, whose predecessor closes its idle keep-alive connections on the
way out: with TLS, SIGHUP means "reload the certificate" (storeroom/tls/context.py), which each worker can do in
place, so the callback forwards the signal to them.
"""

from __future__ import annotations

from collections.abc import Callable
from socket import socket

from uvicorn.config import Config
from uvicorn.supervisors import Multiprocess


class Supervisor(Multiprocess):
    def __init__(self, config: Config, sockets: list[socket], on_hup: Callable[[list[int]], None] | None) -> None:
        super().__init__(config, sockets)
        self.on_hup = on_hup

    def handle_hup(self) -> None:
        if self.on_hup is None:
            super().handle_hup()
            return
        self.on_hup([p.pid for p in self.processes if p.pid is not None])
