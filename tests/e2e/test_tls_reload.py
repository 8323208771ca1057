"""Certificates reloaded on SIGHUP (storeroom/tls/context.py): the files are replaced (an ECDSA certificate by an
RSA one, the case where reloading into the listener's own context would not take), SIGHUP is sent to
``storeroom serve``, and then every new connection, to the API's workers and to the console, gets the new
certificate, while connections kept alive from before keep working.  Broken files on a later SIGHUP are reported
and the previous certificate stays in service.  With one worker (the server process is the worker) and with two
(the master forwards the signal)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import StoreroomServer
from tests.tls_certs import CertAuthority, common_name


def peer_name(port: int, ca: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        return common_name(tls.getpeercert(binary_form=True))


def kept_alive(port: int, ca: Path, path: str) -> http.client.HTTPSConnection:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                       context=ssl.create_default_context(cafile=str(ca)))
    conn.request("GET", path)
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200
    return conn


def still_works(conn: http.client.HTTPSConnection, path: str) -> str:
    """Another request on the same connection (no reconnect: the socket is the same); the certificate it has."""
    sock = conn.sock
    conn.request("GET", path)
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200 and conn.sock is sock
    assert isinstance(sock, ssl.SSLSocket)
    return common_name(sock.getpeercert(binary_form=True))


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_the_certificate_without_dropping_connections(tmp_path: Path, workers: int) -> None:
    ca = CertAuthority.create()
    ca_file = ca.write_ca(tmp_path / "ca.pem")
    cert, key, _ = ca.write_server(tmp_path, "first-ecdsa", "ec")
    srv = StoreroomServer(tmp_path / "data", workers=workers, console=True, tls_ca=ca_file,
                          extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    srv.start()
    try:
        assert srv.proc is not None and srv.console_port is not None
        api = kept_alive(srv.port, ca_file, "/_storeroom/health")
        console = kept_alive(srv.console_port, ca_file, "/signin")
        assert peer_name(srv.port, ca_file) == "first-ecdsa"

        ca.write_server(tmp_path, "second-rsa", "rsa")
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_for(lambda: peer_name(srv.port, ca_file) == "second-rsa")
        # every worker has it (new connections spread over them), and the console
        assert {peer_name(srv.port, ca_file) for _ in range(8)} == {"second-rsa"}
        wait_for(lambda: peer_name(srv.console_port, ca_file) == "second-rsa")
        # the connections made before the reload go on, on their own session
        assert still_works(api, "/_storeroom/health") == "first-ecdsa"
        assert still_works(console, "/signin") == "first-ecdsa"
        log = srv.log_path.read_text()
        assert log.count("SIGHUP: TLS certificate reloaded: second-rsa") == 1, log

        cert.write_bytes(b"-----BEGIN CERTIFICATE-----\ntruncated")
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_for(lambda: "SIGHUP: the previous TLS certificate is still served" in srv.log_path.read_text())
        assert "not a PEM certificate" in srv.log_path.read_text()
        assert peer_name(srv.port, ca_file) == "second-rsa"
        assert peer_name(srv.console_port, ca_file) == "second-rsa"
        assert still_works(api, "/_storeroom/health") == "first-ecdsa"
        assert srv.proc.poll() is None
        api.close()
        console.close()
    finally:
        srv.stop()
    log = srv.log_path.read_text()
    assert "Traceback" not in log and "restarting processes" not in log, log
