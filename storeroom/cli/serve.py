"""``storeroom serve``: prepare the data dir (account, root keys, orphan sweep), then run the workers."""

from __future__ import annotations

import fcntl
import logging
import os
import shlex
import signal
import socket
import sqlite3
import stat
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

import click

from storeroom import __version__
from storeroom.cli.common import FiniteFloat
from storeroom.config import Settings, default_data_dir

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.process import BaseProcess

    from storeroom.hygiene import KeyHygiene
    from storeroom.store.meta import MetaStore
    from storeroom.tls import TlsFiles
    from storeroom.tls.files import CertInfo
    from storeroom.tls.selfsigned import LocalCa


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9000`` for IPv6; a bare host means port 9000)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, "9000"
    try:
        address = host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}") from None
    try:  # a host that names nothing is said now, not after the start message
        socket.getaddrinfo(*address, type=socket.SOCK_STREAM)
    except (socket.gaierror, OverflowError) as exc:
        raise click.BadParameter(f"cannot listen on {value!r}: {getattr(exc, 'strerror', None) or exc}") from None
    return address


@click.command()
@click.option("--listen", default="127.0.0.1:9000", envvar="STOREROOM_LISTEN", show_default=True,
              help="HOST:PORT to listen on (env STOREROOM_LISTEN)")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help=f"where metadata and objects live (default {default_data_dir()}; env STOREROOM_DATA_DIR)")
@click.option("--workers", type=int, default=os.cpu_count() or 1, envvar="STOREROOM_WORKERS",
              help="worker processes (default: one per CPU; env STOREROOM_WORKERS)")
@click.option("--region", default="us-east-1", envvar="STOREROOM_REGION", show_default=True,
              help="the region buckets are created in by default (env STOREROOM_REGION)")
@click.option("--domain", multiple=True,
              help="domain for virtual-hosted-style requests (BUCKET.DOMAIN); repeatable; 'localhost' always works")
@click.option("--key-max-age-days", type=click.IntRange(min=0), default=90, envvar="STOREROOM_KEY_MAX_AGE_DAYS",
              show_default=True, help="warn in the log (at start, then daily) about active access keys older "
              "than this (env STOREROOM_KEY_MAX_AGE_DAYS)")
@click.option("--key-unused-days", type=click.IntRange(min=0), default=90, envvar="STOREROOM_KEY_UNUSED_DAYS",
              show_default=True, help="warn about access keys unused for this long (env STOREROOM_KEY_UNUSED_DAYS)")
@click.option("--metrics-public", is_flag=True, envvar="STOREROOM_METRICS_PUBLIC",
              help="serve GET /_storeroom/metrics unsigned to any address, not only loopback "
              "(env STOREROOM_METRICS_PUBLIC)")
@click.option("--audit-retention-days", type=click.IntRange(min=1), default=90, show_default=True,
              envvar="STOREROOM_AUDIT_RETENTION_DAYS",
              help="days audit events are kept for CloudTrail LookupEvents (env STOREROOM_AUDIT_RETENTION_DAYS)")
@click.option("--audit-sync", is_flag=True, envvar="STOREROOM_AUDIT_SYNC",
              help="commit each request's audit event before its response is sent, so that a crash loses none "
                   "(env STOREROOM_AUDIT_SYNC)")
@click.option("--audit-export", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="STOREROOM_AUDIT_EXPORT",
              help="also write CloudTrail log files (AWSLogs/<account>/CloudTrail/...) under DIR "
                   "(env STOREROOM_AUDIT_EXPORT)")
@click.option("--audit-stdout", is_flag=True, envvar="STOREROOM_AUDIT_STDOUT",
              help="also print every audit event as one JSON line on standard output (env STOREROOM_AUDIT_STDOUT)")
@click.option("--console-listen", default="127.0.0.1:9001", envvar="STOREROOM_CONSOLE_LISTEN", show_default=True,
              help="HOST:PORT of the web console, or 'off' (env STOREROOM_CONSOLE_LISTEN)")
@click.option("--blobs", default="", envvar="STOREROOM_BLOBS", metavar="URL",
              help="where object data goes: DATA_DIR/blobs by default; file:///PATH (a folder several nodes "
                   "mount) or s3://BUCKET[/PREFIX] (an S3-compatible store: STOREROOM_BLOBS_ENDPOINT, "
                   "_ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION) (env STOREROOM_BLOBS)")
@click.option("--encryption", type=click.Choice(["on", "off"]), default="on", envvar="STOREROOM_ENCRYPTION",
              show_default=True, help="encrypt new object data at rest (SSE-S3, AES-256-GCM under the master key); "
                                      "off stores new data in clear (env STOREROOM_ENCRYPTION)")
@click.option("--trusted-proxies", default="", envvar="STOREROOM_TRUSTED_PROXIES", metavar="CIDR,...",
              help="load balancers whose X-Forwarded-For / Forwarded / PROXY protocol header names the client "
                   "(for aws:SourceIp, the audit trail, throttling); nobody else's is believed "
                   "(env STOREROOM_TRUSTED_PROXIES)")
@click.option("--forwarded-header", type=click.Choice(["x-forwarded-for", "forwarded"]), default="x-forwarded-for",
              envvar="STOREROOM_FORWARDED_HEADER", show_default=True,
              help="the header the trusted proxies set: X-Forwarded-For (with X-Forwarded-Proto) or RFC 7239 "
                   "Forwarded (env STOREROOM_FORWARDED_HEADER)")
@click.option("--tls-cert", type=click.Path(path_type=Path), default=None, envvar="STOREROOM_TLS_CERT",
              metavar="FILE", help="serve HTTPS (API and console) with this PEM certificate (its chain after it); "
                                   "reloaded on SIGHUP (env STOREROOM_TLS_CERT)")
@click.option("--tls-key", type=click.Path(path_type=Path), default=None, envvar="STOREROOM_TLS_KEY",
              metavar="FILE", help="the certificate's unencrypted PEM private key, if not in --tls-cert's file "
                                   "(env STOREROOM_TLS_KEY)")
@click.option("--tls-self-signed", is_flag=True, envvar="STOREROOM_TLS_SELF_SIGNED",
              help="serve HTTPS with a certificate from a local CA kept in DATA_DIR/tls (made at first start; "
                   "clients trust DATA_DIR/tls/ca.pem) (env STOREROOM_TLS_SELF_SIGNED)")
@click.option("--meta", "meta_url", default=None, envvar="STOREROOM_META_URL", metavar="URL",
              help="metadata in this PostgreSQL database (postgresql://user:password@host:port/db), shared by every "
                   "node naming it; default: SQLite in the data dir (env STOREROOM_META_URL)")
@click.option("--lifecycle-interval", type=FiniteFloat(min=0), default=3600, show_default=True,
              envvar="STOREROOM_LIFECYCLE_INTERVAL", metavar="SECONDS",
              help="seconds between two runs of the buckets' lifecycle rules (0: none but those asked for with "
                   "POST /_storeroom/lifecycle) (env STOREROOM_LIFECYCLE_INTERVAL)")
@click.option("--min-free", default="auto", envvar="STOREROOM_MIN_FREE", show_default=True, metavar="SIZE",
              help="free space kept for deletes, metadata and the audit trail: uploads are refused (507 "
                   "InsufficientStorage) below it; auto is the smaller of 64MiB and 5% of the volume, or a size "
                   "(512MiB, 0: none) or a percentage (env STOREROOM_MIN_FREE)")
def serve(listen: str, data_dir: Path | None, workers: int, region: str, domain: tuple[str, ...],
          key_max_age_days: int, key_unused_days: int, metrics_public: bool, audit_retention_days: int,
          audit_sync: bool, audit_export: Path | None, audit_stdout: bool, console_listen: str, blobs: str,
          trusted_proxies: str, forwarded_header: str, tls_cert: Path | None, tls_key: Path | None,
          tls_self_signed: bool, meta_url: str | None, lifecycle_interval: float, encryption: str,
          min_free: str) -> None:
    """Run the S3 / IAM / STS / CloudTrail endpoint, and the web console on its own listener."""
    import asyncio

    from storeroom.http.proxy import parse_networks
    from storeroom.store.backend import check_url
    from storeroom.store.space import parse_min_free

    host, port = parse_listen(listen)
    proxies = tuple(p.strip() for p in trusted_proxies.split(",") if p.strip())
    try:
        parse_networks(proxies)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--trusted-proxies") from None
    console_at = None if console_listen.strip().lower() in ("off", "") else parse_listen(console_listen)
    data_dir = (data_dir or default_data_dir()).resolve()
    try:
        parse_min_free(min_free)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--min-free") from None
    try:
        meta_url = check_url(meta_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--meta") from None
    settings = Settings(data_dir=data_dir, host=host, port=port, workers=max(workers, 1), region=region,
                        domains=domain, key_max_age_days=key_max_age_days, key_unused_days=key_unused_days,
                        metrics_public=metrics_public, audit_retention_days=audit_retention_days,
                        audit_sync=audit_sync, audit_export=audit_export.resolve() if audit_export else None,
                        audit_stdout=audit_stdout, blobs=blobs, trusted_proxies=proxies,
                        forwarded_header=forwarded_header, meta_url=meta_url, lifecycle_interval=lifecycle_interval,
                        encryption=encryption == "on", min_free=min_free)
    os.umask(0o077)  # the data dir holds object data and (encrypted) secrets: owner-only, whatever creates files
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _refuse_open_data_dir(data_dir)
    lock = _lock_data_dir(data_dir)
    _refuse_taken_port((host, port), "--listen")
    if console_at is not None:
        _refuse_taken_port(console_at, "--console-listen")
    tls = _prepare_tls(tls_cert, tls_key, tls_self_signed, data_dir, domain, host)
    account_id = asyncio.run(_prepare(settings))
    if settings.audit_export is not None:
        from storeroom.audit.export import recover

        settings.audit_export.mkdir(parents=True, exist_ok=True)
        if finished := recover(settings.audit_export, account_id, settings.region):
            print(f"Storeroom: published {finished} CloudTrail log file(s) an interrupted run left unfinished",
                  file=sys.stderr)
    os.environ.update(settings.to_env())
    if tls is not None:
        os.environ.update(tls.files.to_env())  # the workers and the console build their SSL contexts from it
    _prepare_metrics_dir(settings.metrics_dir)
    console = _start_console(console_at)
    scheme = "https" if tls is not None else "http"
    console_text = f", console {scheme}://{_url_host(console_at[0])}:{console_at[1]}" if console_at else ""
    where = ""
    if meta_url:
        from storeroom.store.postgres import redacted

        where = f"metadata in {redacted(meta_url)}, "
        if not blobs:
            print("Storeroom: --meta without --blobs: objects are kept in this node's data dir, which other nodes "
                  "on this database cannot read (give them all --blobs file:///shared/path or s3://...)",
                  file=sys.stderr)
    print(f"Storeroom {__version__}: account {account_id}, {where}data in {data_dir}, "
          f"endpoint {scheme}://{_url_host(host)}:{port} ({settings.workers} worker(s)){console_text}",
          file=sys.stderr, flush=True)
    if tls is not None:
        _print_tls(tls)
    _raise_open_file_limit()
    hygiene = _start_key_hygiene(settings)
    watch = None
    if tls is not None:
        from storeroom.tls.watch import ExpiryWatch

        watch = ExpiryWatch(tls.files, tls.renew)
        watch.start()
    try:
        _run_api(settings, tls, console)
    finally:
        if console is not None:
            from storeroom.console import server as console_server

            console_server.stop(console)
        hygiene.stop()
        if watch is not None:
            watch.stop()
        lock.close()


def _refuse_taken_port(address: tuple[str, int], flag: str) -> None:
    """Exits when another process listens on ``address``, before anything is made: a first start that then could
    not listen had created the account and shown its one-time secrets for nothing.  (A probe, not a reservation:
    the workers bind later.)"""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(*address, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no owner
            probe.bind(sockaddr)
    except OSError as exc:
        sys.exit(f"storeroom: cannot listen on {address[0]}:{address[1]} ({flag}): {exc.strerror or exc}")


def listen_backlog() -> int:
    """The accept queue's length: the kernel's largest (``net.core.somaxconn``, 4096 since Linux 5.4), as Go's
    servers ask for.  Why not uvicorn's 2048: past a full queue the kernel drops new SYNs and the handshakes'
    last ACKs, and those clients wait for retransmissions (1, 2, 4, 8 s …) instead of their turn — under a 10 ×
    overload 1,930 requests of ~90,000 timed out after 10 s that way, none with the kernel's length
    (bench/RESULTS.md "The accept queue as long as the kernel allows")."""
    try:
        return max(128, min(int(Path("/proc/sys/net/core/somaxconn").read_text()), 65535))
    except (OSError, ValueError):
        return 4096  # not Linux: the kernel caps what it is asked for at its own maximum


def _run_api(settings: Settings, tls: TlsSetup | None, console: BaseProcess | None) -> None:
    """uvicorn's workers with the edge protocol.  What ``uvicorn.run`` does, but with TLS a SIGHUP to this
    process reloads the certificate in every worker and the console (storeroom/tls/context.py) instead of
    uvicorn's rolling restart of the workers, which would close their idle keep-alive connections."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from storeroom.tls.context import api_context

    config = uvicorn.Config(
        "storeroom.http.app:create_app", factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, loop="uvloop", http="storeroom.http.edge:EdgeProtocol", ws="none", lifespan="on",
        access_log=False, server_header=False, log_level=os.environ.get("STOREROOM_LOG_LEVEL", "warning"),
        # timeouts and limits of the connections: storeroom/http/edge.py
        # uvicorn's X-Forwarded-For handling is off: the client address is what policies (aws:SourceIp)
        # and the audit log see, so it is taken from proxies in --trusted-proxies only, by the edge
        # (storeroom/http/proxy.py), which also speaks the PROXY protocol.
        proxy_headers=False,
        backlog=listen_backlog(),
        ssl_context_factory=api_context if tls is not None else None,
    )
    console_pids = [console.pid] if console is not None and console.pid else []
    if settings.workers > 1:
        from storeroom.cli.supervisor import Supervisor, slot_sockets

        on_hup = None
        if tls is not None:
            files = tls.files

            def on_hup(workers: list[int]) -> None:
                from storeroom.tls.context import checked_for_reload

                tls.renew()
                if checked_for_reload(files) is not None:
                    _signal_all([*workers, *console_pids], signal.SIGHUP)

        if sys.platform.startswith("linux"):  # where SO_REUSEPORT spreads connections (elsewhere: one socket)
            try:
                sockets = slot_sockets(settings.host, settings.port, settings.workers)
            except OSError as exc:  # the port is taken: said as uvicorn says it, naming the address
                logging.getLogger("uvicorn.error").error("cannot listen on %s:%s (--listen): %s", settings.host,
                                                         settings.port, exc.strerror or exc)
                sys.exit(STARTUP_FAILURE)
        else:
            sockets = [config.bind_socket()] * settings.workers
        supervisor = Supervisor(config, sockets, on_hup)
        supervisor.run()
        if supervisor.startup_failed:  # as a single worker's start failure: a non-zero exit, for systemd & co
            sys.exit(STARTUP_FAILURE)
        return
    if tls is not None:
        from storeroom.tls.context import AFTER_RELOAD, BEFORE_RELOAD

        BEFORE_RELOAD.append(tls.renew)
        AFTER_RELOAD.append(lambda: _signal_all(console_pids, signal.SIGHUP))
    from storeroom.cli.supervisor import OneProcessServer

    server = OneProcessServer(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class TlsSetup(NamedTuple):
    files: TlsFiles
    info: CertInfo
    local_ca: LocalCa | None
    # at SIGHUP and daily: re-issue a --tls-self-signed certificate near its end; True when it did
    renew: Callable[[], bool]


def _prepare_tls(cert: Path | None, key: Path | None, self_signed: bool, data_dir: Path, domains: tuple[str, ...],
                 host: str) -> TlsSetup | None:
    """The certificate to serve, checked now (a clear message and exit rather than a worker's traceback)."""
    from storeroom.tls import TlsFiles
    from storeroom.tls.files import TlsError, check

    local_ca = None
    if self_signed:
        if cert is not None or key is not None:
            sys.exit("storeroom: --tls-self-signed makes its own certificate: give it or --tls-cert, not both")
        from storeroom.tls import selfsigned

        try:
            local_ca = selfsigned.ensure(data_dir / "tls", domains, host)
        except OSError as exc:
            sys.exit(f"storeroom: --tls-self-signed: cannot write {data_dir / 'tls'}: {exc.strerror or exc}")
        files = local_ca.files

        def renew() -> bool:
            try:
                issued = selfsigned.ensure(data_dir / "tls", domains, host).issued
            except OSError as exc:  # the certificate in service stays; the next SIGHUP or day tries again
                print(f"storeroom: warning: cannot renew the certificate in {data_dir / 'tls'}: {exc}",
                      file=sys.stderr, flush=True)
                return False
            if issued:
                print(f"Storeroom: made {issued} in {data_dir / 'tls'}", file=sys.stderr, flush=True)
            return issued is not None
    elif cert is not None:
        files = TlsFiles(cert.resolve(), (key or cert).resolve())

        def renew() -> bool:
            return False  # a certificate of the operator's: they replace the files
    elif key is not None:
        sys.exit("storeroom: --tls-key needs --tls-cert (the certificate the key belongs to)")
    else:
        return None
    try:
        info = check(files)
    except TlsError as exc:
        sys.exit(f"storeroom: {exc}")
    return TlsSetup(files, info, local_ca, renew)


def _print_tls(tls: TlsSetup) -> None:
    lines = [f"TLS certificate: {tls.info.describe()}"]
    lines += [f"warning: {warning}" for warning in tls.info.warnings]
    if tls.local_ca is not None:
        ca = tls.local_ca.ca_cert
        if tls.local_ca.issued:
            lines.append(f"made {tls.local_ca.issued} in {ca.parent}")
        lines += [f"the certificate is signed by a local CA: clients must trust {ca}, e.g.",
                  f"  export AWS_CA_BUNDLE={ca}          # boto3 and the AWS CLI",
                  f"  aws --ca-bundle {ca} s3 ls",
                  f"  export REQUESTS_CA_BUNDLE={ca}     # Python requests",
                  f"  curl --cacert {ca} …"]
    print("\n".join(f"Storeroom: {line}" for line in lines), file=sys.stderr, flush=True)


async def _prepare(settings: Settings) -> str:
    """Before any worker starts: schema, account and root keys, stored policies' principals by unique id (once),
    and removal of blobs a crash left behind.
    Returns the account id.  Every step is safe when several nodes start on one database at once."""
    from storeroom.crypto import load_secret_box
    from storeroom.iam import principal_ids, throttle
    from storeroom.iam.root import RootPasswordError, ensure_root_login
    from storeroom.identity import check_master_key, ensure_account
    from storeroom.store.backend import open_meta
    from storeroom.store.migrations import NewerSchema

    try:
        meta = await open_meta(settings.data_dir, settings.meta_url, migrate=True)
    except NewerSchema as exc:
        sys.exit(f"storeroom: {exc}")
    except Exception as exc:  # noqa: BLE001 - PostgreSQL unreachable (or refusing us): say so and exit
        if settings.meta_url is None and not isinstance(exc, OSError | sqlite3.OperationalError):
            raise
        # (SQLite's: a full disk, a read-only or missing folder -- said in one line, where it is)
        where = f" in {settings.data_dir}" if settings.meta_url is None else ""
        sys.exit(f"storeroom: cannot open the metadata database{where}: {exc.__cause__ or exc}")
    try:
        box = load_secret_box(settings.master_key_file)
        if not await check_master_key(meta, box):
            sys.exit("storeroom: this node's master key is not the one the metadata's secrets were sealed with: "
                     "give every node the same key (STOREROOM_MASTER_KEY, or the same DATA_DIR/master.key)")
        account_id = await ensure_account(meta, box, settings.data_dir)
        # trust and bucket policies of an earlier version name users and roles by ARN: by unique id from now on
        await principal_ids.migrate(meta.db, account_id)
        await meta.db.write(throttle.forget_clear_names)  # sign-in failures keyed by typed names (earlier versions)
        try:
            await ensure_root_login(meta, account_id, settings.data_dir)
        except RootPasswordError as exc:
            sys.exit(f"storeroom: STOREROOM_ROOT_PASSWORD: {exc}")
        removed = await _prepare_blobs(settings, meta, account_id)
    finally:
        await meta.close()
    if removed:
        print(f"Storeroom: removed {removed} unreferenced blob(s) left by an interrupted write",
              file=sys.stderr)
    return account_id


async def _prepare_blobs(settings: Settings, meta: MetaStore, account_id: str) -> int:
    """Open the object data store, check it answers and belongs to this account, and sweep what a crash left
    behind (storeroom/store/blob_backend.py); exits with the reason when the store cannot be used.  (A shared
    store's sweep spares what is younger than its grace period: another node's writes in flight.)"""
    from storeroom.store.blob_backend import BackendError, server_blobs
    from storeroom.store.inline_blobs import is_inline

    try:
        store = server_blobs(settings, meta)
        try:
            referenced = await meta.referenced_blobs()
            await store.prepare(account_id, stored=any(not is_inline(b) for b in referenced))  # files, not rows
            uploads = {str(r[0]) for r in await meta.db.read.all("SELECT upload_id FROM uploads")}
            return await store.sweep(referenced, uploads.__contains__)
        finally:
            await store.close()
    except (ValueError, OSError, BackendError) as exc:
        from storeroom.store.s3_client import redacted_url
        sys.exit(f"storeroom: --blobs {redacted_url(settings.blobs) if settings.blobs else settings.blob_dir}: {exc}")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _start_console(at: tuple[str, int] | None) -> BaseProcess | None:
    """The web console's own process and listener (storeroom/console/server.py), or None with ``off``."""
    if at is None:
        return None
    from storeroom.console import server as console_server

    try:
        sock = console_server.bind(*at)
    except OSError as exc:
        sys.exit(f"storeroom: cannot listen on {at[0]}:{at[1]} for the console (--console-listen): {exc.strerror}")
    process = console_server.start(sock)
    sock.close()  # the child has its own copy
    return process


def _prepare_metrics_dir(path: Path) -> None:
    """prometheus-client's multiprocess mode (storeroom/metrics.py): every worker writes its counters to
    memory-mapped files in PROMETHEUS_MULTIPROC_DIR, which must be set before a worker imports the library and
    emptied at every start (files of an earlier run would be summed in)."""
    path.mkdir(exist_ok=True, mode=0o700)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def _start_key_hygiene(settings: Settings) -> KeyHygiene:
    """Warnings about old and unused keys, from this process only (not once per worker), off every request."""
    from storeroom.hygiene import KeyHygiene, configure_logging

    configure_logging()
    hygiene = KeyHygiene(settings.meta_db, settings.key_max_age_days, settings.key_unused_days,
                         meta_url=settings.meta_url)
    hygiene.start()
    return hygiene


def _raise_open_file_limit() -> None:
    """Each connection holds a descriptor: let a worker reach its connection cap (edge.MAX_CONNECTIONS) before
    the process limit (often a soft 1024) refuses accepts."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
        except (ValueError, OSError):
            pass


def _refuse_open_data_dir(data_dir: Path) -> None:
    """A data dir every user may write to is refused (sticky or not: /tmp lets anyone create the files before the
    first start): another local user could replace the databases, or plant links where the root credentials are
    written.  Group-writable and other owners are let through, unlike PostgreSQL's stricter rule: containers that
    run under an arbitrary user id in a shared group (OpenShift's) depend on both."""
    if data_dir.stat().st_mode & stat.S_IWOTH:
        sys.exit(f"storeroom: the data dir {data_dir} is writable by every user; use a directory of the server's "
                 f"own (or chmod o-w {shlex.quote(str(data_dir))})")


def _lock_data_dir(data_dir: Path, command: str | None = None) -> IO[str]:
    """One server per data dir (its workers share it): a second `serve` on the same dir exits.  ``command``: an
    offline admin command (`migrate`, ...) taking the dir from a server; it refuses as an error (exit status 2)."""
    from storeroom.cli.common import fail

    try:
        lock = open(data_dir / "storeroom.lock", "w")  # noqa: SIM115 - held for the server's lifetime
    except OSError as exc:  # a read-only mount, a full disk: the first write in the data dir, said in one line
        sys.exit(f"storeroom: cannot write in {data_dir}: {exc.strerror or exc}")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        if command:
            fail(f"a server is using {data_dir}: stop `storeroom serve` before `storeroom {command}`")
        sys.exit(f"storeroom: another server is using {data_dir}")
    return lock
