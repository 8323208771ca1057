"""The ``storeroom`` command: ``serve`` starts the endpoint; admin commands read the data dir directly."""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from pathlib import Path

from storeroom import __version__
from storeroom.config import Settings, default_data_dir


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, "9000"
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storeroom", description="S3 + IAM compatible object store")
    parser.add_argument("--version", action="version", version=f"storeroom {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the S3/IAM/STS endpoint")
    serve.add_argument("--listen", type=_listen, default=os.environ.get("STOREROOM_LISTEN", "127.0.0.1:9000"),
                       help="HOST:PORT to listen on (default 127.0.0.1:9000; env STOREROOM_LISTEN)")
    serve.add_argument("--data-dir", type=Path, default=None,
                       help=f"where metadata and objects live (default {default_data_dir()}; env STOREROOM_DATA_DIR)")
    serve.add_argument("--workers", type=int, default=int(os.environ.get("STOREROOM_WORKERS", os.cpu_count() or 1)),
                       help="worker processes (default: one per CPU; env STOREROOM_WORKERS)")
    serve.add_argument("--region", default=os.environ.get("STOREROOM_REGION", "us-east-1"),
                       help="the region buckets are created in by default (default us-east-1)")
    serve.add_argument("--domain", action="append", default=[],
                       help="domain for virtual-hosted-style requests (BUCKET.DOMAIN); repeatable; "
                            "'localhost' always works")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from storeroom.crypto import SecretBox, load_master_key
    from storeroom.identity import ensure_account
    from storeroom.store.blobs import sweep_orphans
    from storeroom.store.meta import MetaStore

    if isinstance(args.listen, str):
        args.listen = _listen(args.listen)
    host, port = args.listen
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    settings = Settings(data_dir=data_dir, host=host, port=port, workers=max(args.workers, 1),
                        region=args.region, domains=tuple(args.domain))
    os.umask(0o077)  # the data dir holds object data and (encrypted) secrets: owner-only, whatever creates files
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = _lock_data_dir(data_dir)

    # Before any worker starts: schema, account and root keys, and removal of blobs a crash left behind.
    meta = MetaStore(settings.meta_db)
    try:
        box = SecretBox(load_master_key(settings.master_key_file))
        account_id = ensure_account(meta, box, data_dir)
        removed = sweep_orphans(settings.blob_dir, meta.referenced_blobs())
    finally:
        meta.close()
    if removed:
        print(f"Storeroom: removed {removed} unreferenced blob file(s) left by an interrupted write",
              file=sys.stderr)
    os.environ.update(settings.to_env())
    print(f"Storeroom {__version__}: account {account_id}, data in {data_dir}, "
          f"endpoint http://{host}:{port} ({settings.workers} worker(s))", file=sys.stderr, flush=True)
    _raise_open_file_limit()
    try:
        uvicorn.run(
            "storeroom.http.app:create_app", factory=True, host=host, port=port, workers=settings.workers,
            loop="uvloop", http="storeroom.http.edge:EdgeProtocol", ws="none", lifespan="on", access_log=False,
            server_header=False, log_level=os.environ.get("STOREROOM_LOG_LEVEL", "warning"),
            # timeouts and limits of the connections: storeroom/http/edge.py
            # X-Forwarded-For is not trusted: the client address is what policies (aws:SourceIp) and the
            # audit log see, and a client could forge the header.
            proxy_headers=False,
            backlog=2048,
        )
    finally:
        lock.close()
    return 0


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


def _lock_data_dir(data_dir: Path):  # type: ignore[no-untyped-def]
    """One server per data dir (its workers share it): a second `serve` on the same dir exits."""
    lock = open(data_dir / "storeroom.lock", "w")  # noqa: SIM115 - held for the server's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"storeroom: another server is using {data_dir}")
    return lock
