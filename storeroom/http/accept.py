"""Accepting new connections while a worker is busy.

libuv, under uvloop, accepts ONE connection each time the listening socket polls readable, then goes on with
the loop iteration (https://github.com/libuv/libuv/pull/3696, libuv ≥ 1.45).  On a busy worker an iteration
runs every ready request and lasts tens of milliseconds, so connections are accepted at a few dozen a second:
new clients wait in the kernel's accept queue for seconds before their first byte is read, and past the backlog
the kernel drops their SYNs (bench/pressure.py, 1,024 clients against 2 workers: ~20 accepts a second per
worker, the accept queue at 700, p99 9 s, requests timing out).

So each connection libuv hands to :class:`~storeroom.http.edge.EdgeProtocol` also takes up to
``ACCEPT_BATCH`` more from the accept queue, and serves them with the same protocol through
``loop.connect_accepted_socket`` — past the worker's connection cap too (up to twice it), where they are
answered ``503 SlowDown`` at once rather than left waiting in the kernel's queue.  The listening socket is the
worker's own (inherited from the supervisor or made by uvicorn), found once per process in ``/proc/self/fd``;
where it cannot be found, nothing changes.  The queue itself is as long as the kernel allows
(``cli/serve.py:listen_backlog``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Callable
from typing import Any

ACCEPT_BATCH = 64  # connections taken per connection libuv accepts: one loop iteration's worth on a busy worker

_listeners: dict[tuple[int, int], socket.socket | None] = {}


def listener_for(local: Any, family: int) -> socket.socket | None:
    """This process's listening socket on the port of ``local`` (an accepted connection's local address)."""
    if not isinstance(local, tuple) or len(local) < 2 or not isinstance(local[1], int):
        return None
    key = (family, local[1])
    if key not in _listeners:
        _listeners[key] = _find_listener(family, local[1])
    return _listeners[key]


def close_listeners() -> None:
    """Drops this process's copies of its listening sockets, when it stops accepting: a copy kept the socket
    listening through a graceful shutdown, so new clients connected, waited for the whole drain, then were reset
    (uvicorn alone closes its socket, and they are refused at once)."""
    for sock in _listeners.values():
        if sock is not None:
            sock.close()
    _listeners.clear()


def _find_listener(family: int, port: int) -> socket.socket | None:
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        try:
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except (OSError, ValueError):
            continue
        try:
            if (sock.family == family and sock.type == socket.SOCK_STREAM
                    and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                    and sock.getsockname()[1] == port):
                sock.setblocking(False)  # already so for libuv (one open file): accept() must never wait
                return sock
        except OSError:
            pass
        sock.close()
    return None


def drain(loop: asyncio.AbstractEventLoop, listener: socket.socket, room: int,
          factory: Callable[[], asyncio.Protocol], ssl: Any) -> int:
    """Accept up to ``room`` waiting connections (no more than ACCEPT_BATCH) and serve each with ``factory``'s
    protocol; the number accepted."""
    taken = 0
    while taken < min(room, ACCEPT_BATCH):
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            break
        except ConnectionAbortedError:
            continue
        except OSError:  # EMFILE and the like: libuv's own accept will meet it and report it
            break
        conn.setblocking(False)
        taken += 1
        loop.create_task(_serve(loop, conn, factory, ssl))
    return taken


async def _serve(loop: asyncio.AbstractEventLoop, conn: socket.socket, factory: Callable[[], asyncio.Protocol],
                 ssl: Any) -> None:
    try:
        await loop.connect_accepted_socket(factory, conn, ssl=ssl)
    except (OSError, TimeoutError):  # the client went away (or failed its TLS handshake) meanwhile: the
        pass                          # socket is closed with the transport, or when collected
