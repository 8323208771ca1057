"""The listeners' SSLContext, and its reload on SIGHUP without dropping a connection.

uvicorn builds one ``ssl.SSLContext`` per worker (``ssl_context_factory``, called in the worker) and gives it to
``loop.create_server`` once; the listener keeps that object for its life.  Two ways to make new handshakes use
new files without restarting the worker were tried with uvloop's TLS (Python 3.11, OpenSSL 3.0):

- ``load_cert_chain`` again on the listener's context: new handshakes get the new certificate when its key has
  the same type, but OpenSSL keeps one certificate *per key type*, so after going from an ECDSA certificate to
  an RSA one (or back) clients are still served the old certificate.  Wrong in exactly the case of a CA change.
- ``sni_callback`` on the listener's context, setting ``ssl_object.context`` to a context freshly built from
  the new files (OpenSSL's ``SSL_set_SSL_CTX``, the way servers pick a certificate per name).  OpenSSL calls it
  for every ClientHello, with or without SNI (clients connecting to an IP address send none), so every new
  handshake gets the current certificate whatever its type; established connections keep their session.

The second is what :class:`ReloadableContext` does (``tests/e2e/test_tls_reload.py`` swaps ECDSA for RSA).
The files are checked first (``files.check``); on any problem the previous certificate stays in service.

Who reloads: each worker process (and the console's) on SIGHUP.  With several workers the master forwards its
SIGHUP to them (``storeroom/cli/serve.py``) instead of uvicorn's rolling restart, which would close every idle
keep-alive connection.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
from collections.abc import Callable
from typing import Any

from storeroom.tls import TlsFiles
from storeroom.tls.files import CertInfo, TlsError, check

# With one worker the master is the worker: on SIGHUP it renews a --tls-self-signed certificate (before) and
# forwards the signal to the console's process (after a successful reload) from these hooks.
BEFORE_RELOAD: list[Callable[[], object]] = []
AFTER_RELOAD: list[Callable[[], None]] = []


def new_context(files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # AWS: "TLS 1.2 to become the minimum TLS protocol level for all AWS API endpoints"
    # (https://aws.amazon.com/blogs/security/tls-1-2-required-for-aws-endpoints/)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.cert, files.key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class ReloadableContext:
    """The listener's context (``served``), whose handshakes take the certificate of ``current``."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self.served = new_context(files)
        self.current = self.served
        self.served.sni_callback = self._select

    def _select(self, ssl_object: Any, server_name: str | None, ctx: ssl.SSLContext) -> None:
        current = self.current
        if current is not ctx:
            ssl_object.context = current

    def reload(self) -> CertInfo:
        """Serves the files' current content to new handshakes; raises TlsError (and keeps the old) if bad."""
        info = check(self.files)
        try:
            fresh = new_context(self.files)
        except (ssl.SSLError, OSError) as exc:  # changed again between the check and the load
            raise TlsError(f"--tls-cert {self.files.cert}: {exc}") from None
        self.current = fresh
        return info


def say(message: str) -> None:
    print(f"storeroom: {message}", file=sys.stderr, flush=True)


def checked_for_reload(files: TlsFiles) -> CertInfo | None:
    """The master's look at the files before it forwards SIGHUP: None (and why, on stderr) when they are bad."""
    try:
        info = check(files)
    except TlsError as exc:
        say(f"SIGHUP: the previous TLS certificate is still served: {exc}")
        return None
    say(f"SIGHUP: TLS certificate reloaded: {info.describe()}")
    for warning in info.warnings:
        say(f"warning: {warning}")
    return info


def _install_sighup(reloadable: ReloadableContext, report: bool) -> None:
    def on_hup() -> None:
        for hook in BEFORE_RELOAD:
            hook()
        try:
            info = reloadable.reload()
        except TlsError as exc:
            say(f"SIGHUP: the previous TLS certificate is still served: {exc}" + ("" if report else
                f" (process {os.getpid()})"))
            return
        if report:
            say(f"SIGHUP: TLS certificate reloaded: {info.describe()}")
            for warning in info.warnings:
                say(f"warning: {warning}")
        for hook in AFTER_RELOAD:
            hook()

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_hup)
    except RuntimeError:  # no running loop (uvicorn loads its config inside the loop today): a plain handler
        signal.signal(signal.SIGHUP, lambda _sig, _frame: on_hup())


def _factory(files: TlsFiles | None, report: bool) -> ssl.SSLContext:
    if files is None:
        raise RuntimeError("TLS is on but STOREROOM_TLS_CERT is not set")
    reloadable = ReloadableContext(files)
    _install_sighup(reloadable, report)
    return reloadable.served


def api_context(config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory`` for the API's workers.  The one process of ``--workers 1`` reports
    reloads itself; with more, the master does (once, not once per worker)."""
    return _factory(TlsFiles.from_env(), report=getattr(config, "workers", 1) <= 1)


def console_context(config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory`` for the console's process (the master reports its reloads)."""
    return _factory(TlsFiles.from_env(), report=False)
