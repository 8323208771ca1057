"""A daily look at the served certificate from the ``storeroom serve`` process, for servers that run for months.

- ``--tls-self-signed``: the server certificate is re-issued when fewer than 30 days are left
  (``selfsigned.ensure``), then the process sends itself SIGHUP, which reloads it everywhere as an operator's
  SIGHUP would (storeroom/tls/context.py).
- ``--tls-cert``: the operator's certificate is only checked; expired, expiring within 14 days or unreadable
  files are warned about in the log, once a day, until they are replaced.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from storeroom.tls import TlsFiles
from storeroom.tls.context import say
from storeroom.tls.files import TlsError, check

CHECK_INTERVAL = 86400.0


class ExpiryWatch:
    def __init__(self, files: TlsFiles, renew: Callable[[], bool], interval: float = CHECK_INTERVAL) -> None:
        self.files, self.renew, self.interval = files, renew, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storeroom-tls-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_once()

    def check_once(self) -> None:
        if self.renew():
            os.kill(os.getpid(), signal.SIGHUP)  # the reload path an operator's SIGHUP takes
            return
        try:
            info = check(self.files)
        except TlsError as exc:
            say(f"warning: the TLS certificate files can no longer be read: {exc} (the loaded certificate is "
                "still served)")
            return
        for warning in info.warnings:
            say(f"warning: {warning}")
