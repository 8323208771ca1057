"""uvicorn's worker supervisor, with a listening socket per worker and SIGHUP handed to a callback instead of a
rolling restart of the workers.

A listening socket per worker slot (``SO_REUSEPORT``): the kernel spreads new connections over the workers by
their addresses.  With one socket shared by all of them (uvicorn's way) the worker that wakes first took a whole
burst of connections — a load generator's or a client pool's 16 opened at once landed 16/0 or 15/1 on two
workers, one core idle (bench/RESULTS.md).  A slot's socket outlives its worker: the parent holds it, so
connections that arrive while a worker is being replaced wait in its queue for the replacement.

A restart replaces each worker by a new process, whose predecessor closes its idle keep-alive connections on the
way out: with TLS, SIGHUP means "reload the certificate" (storeroom/tls/context.py), which each worker can do in
place, so the callback forwards the signal to them.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable

from uvicorn import Server
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process, logger


def slot_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` TCP sockets bound to (host, port) in one ``SO_REUSEPORT`` group.  The port is first bound
    without the option, so that a port another server holds (even one using ``SO_REUSEPORT``) is refused as
    before instead of joined."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))  # OSError (EADDRINUSE) if the port is taken
        port = probe.getsockname()[1]
    return [group_socket(family, host, port) for _ in range(count)]


def group_socket(family: int, host: str, port: int) -> socket.socket:
    """One more socket of the port's ``SO_REUSEPORT`` group."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def die_with_parent() -> None:
    """Linux: SIGTERM when the parent dies, even by SIGKILL -- a worker (or the console) of a ``storeroom serve``
    killed with ``kill -9`` (or by the out-of-memory killer) must not go on serving the port unmanaged, which
    also kept a restarted server from listening on it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the line above: nobody to tell us
        os.kill(os.getpid(), signal.SIGTERM)


def _stop_listening(sock: socket.socket) -> None:
    """``shutdown`` stops a listening socket for every process holding it; the connections waiting in its queue
    are reset."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class OneProcessServer(Server):
    """uvicorn's server for ``--workers 1``: when it stops accepting, so does the listening socket
    (storeroom/http/accept.py keeps a copy of it, which kept it listening through the drain); SIGHUP (an
    operator's reload) never kills it — with TLS it reloads the certificate (storeroom/tls/context.py replaces
    this handler), else there is nothing to reload, as with several workers (uvicorn restarts them)."""

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        signal.signal(signal.SIGHUP, lambda *_: logger.info("SIGHUP: nothing to reload"))
        super().run(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        from storeroom.http import accept

        for server in self.servers:
            server.close()
        accept.close_listeners()
        await super().shutdown(sockets)


class _Worker(Process):
    def target(self, sockets: list[socket.socket] | None = None) -> None:  # (runs in the worker process)
        die_with_parent()
        super().target(sockets)


class Supervisor(Multiprocess):
    def __init__(self, config: Config, sockets: list[socket.socket],
                 on_hup: Callable[[list[int]], None] | None) -> None:
        """``sockets``: one per worker (:func:`slot_sockets`; or the same socket for each, where the platform
        does not spread connections over a ``SO_REUSEPORT`` group)."""
        super().__init__(config, sockets)
        self.on_hup = on_hup
        self.startup_failed = False  # a worker failed before serving: the server stops, and says so in its exit code

    def _worker(self, slot: int) -> Process:
        return _Worker(self.config, [self.sockets[slot]])

    # uvicorn's places that make a worker (and SIGTTIN/SIGTTOU below), each with its slot's socket instead of
    # all of them

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            process = self._worker(slot)
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: killed
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # broken before serving: every restart would fail alike
                logger.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.startup_failed = True
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            process = self._worker(slot)
            process.start()
            self.processes[slot] = process

    def terminate_all(self) -> None:
        """Stopping: the slot sockets stop listening first — for every process holding them, workers included
        (``shutdown`` acts on the socket, not on this process's descriptor) — so that new clients are refused
        at once while the workers finish their requests, rather than queued, kept waiting, and reset."""
        for sock in {id(s): s for s in self.sockets}.values():
            _stop_listening(sock)
        super().terminate_all()

    def restart_all(self) -> None:
        """Replaces each worker, its replacement serving before the old one goes."""
        for slot, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self._worker(slot)
            new_process.start()
            if not new_process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    logger.error(f"New child process [{new_process.pid}] was not ready in time; "
                                 f"keeping worker [{old_process.pid}] and aborting the restart.")
                return
            old_process.terminate()
            old_process.join()
            self.processes[slot] = new_process

    def handle_ttin(self) -> None:
        """SIGTTIN: one worker more, with a slot (and, in a group, a socket) of its own."""
        logger.info("Received SIGTTIN, increasing the number of processes.")
        first = self.sockets[0]
        shared = all(sock is first for sock in self.sockets)
        host, port = first.getsockname()[:2]
        self.sockets.append(first if shared else group_socket(first.family, host, port))
        self.processes_num += 1
        process = self._worker(len(self.processes))
        process.start()
        self.processes.append(process)

    def handle_ttou(self) -> None:
        """SIGTTOU: one worker fewer.  Its slot's socket leaves the group first (``shutdown`` stops a listening
        socket for every process holding it; the connections waiting in its queue are reset), so that no new
        connection waits there while the worker finishes its requests."""
        if self.processes_num <= 1:
            logger.info("Already reached one process, cannot decrease the number of processes anymore.")
            return
        logger.info("Received SIGTTOU, decreasing number of processes.")
        self.processes_num -= 1
        sock = self.sockets.pop()
        own = all(other is not sock for other in self.sockets)
        if own:
            _stop_listening(sock)
        process = self.processes.pop()
        process.terminate()
        process.join()
        if own:
            sock.close()

    def handle_hup(self) -> None:
        if self.on_hup is None:
            super().handle_hup()
            return
        self.on_hup([p.pid for p in self.processes if p.pid is not None])
