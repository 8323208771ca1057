"""The cost of authorization per request, measured in-process: ``python -m bench.authz``.

The end-to-end comparison (target ``storeroom-iam`` vs ``storeroom`` in ``python -m bench``) carries the whole
HTTP stack and this machine's noise, which on a shared 2-core VM is larger than the effect.  This measures the
same thing without either: a real data dir prepared through the real API (bucket, 4 KiB object, the IAM user
with 10 managed policies × 10 statements of ``StoreroomIamTarget``), then the Storeroom ASGI app driven
in-process with presigned GETs signed by root and by the user, alternating in rounds; plus the authorizer alone.

It prints µs per request for root and for the user (medians over rounds), the difference, and the difference as
a share of the server CPU a small GET costs end to end (``--request-cpu-us``, from the ``get4k`` CPU table).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.targets import ACCESS_KEY, BUCKET, HOST, REGION, SECRET_KEY, StoreroomIamTarget

KEY = "obj-4k"


def presigned_scope(port: int, key_id: str, secret: str) -> dict[str, Any]:
    req = AWSRequest(method="GET", url=f"http://{HOST}:{port}/{BUCKET}/{KEY}")
    S3SigV4QueryAuth(Credentials(key_id, secret), "s3", REGION, expires=3600).add_auth(req)
    url = urlsplit(req.url)
    return {"type": "http", "method": "GET", "path": url.path, "raw_path": url.path.encode(),
            "query_string": url.query.encode(), "headers": [(b"host", f"{HOST}:{port}".encode())],
            "client": ("127.0.0.1", 40000), "scheme": "http", "http_version": "1.1"}


async def _requests(app: Any, scope: dict[str, Any], n: int) -> float:
    """µs per request of ``n`` runs of ``app.handle`` on ``scope``."""
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
    t0 = time.perf_counter()
    for _ in range(n):
        await app.handle(scope, receive, send)
    elapsed = (time.perf_counter() - t0) / n * 1e6
    if set(statuses) != {200}:
        raise RuntimeError(f"unexpected statuses {set(statuses)}")
    return elapsed


async def measure(app: Any, scopes: dict[str, dict[str, Any]], rounds: int, n: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in scopes}
    for scope in scopes.values():  # warm-up: caches, compiled policies
        await _requests(app, scope, 200)
    for r in range(rounds):
        order = list(scopes) if r % 2 == 0 else list(reversed(scopes))
        for name in order:
            times[name].append(await _requests(app, scopes[name], n))
    return {name: statistics.median(v) for name, v in times.items()}


async def authorizer_alone(app: Any, scope: dict[str, Any], key_id: str, n: int = 20_000) -> float:
    from storeroom.http.context import Context
    from storeroom.http.types import Request
    from storeroom.s3.service import s3_condition_keys

    async def receive() -> dict[str, Any]:
        return {}
    principal = (await app.credentials.resolve(key_id))[1]
    ctx = Context(Request(scope, receive), "s3", principal, None, None, REGION)
    authorizer, resource = app.s3.authorizer, f"arn:aws:s3:::{BUCKET}/{KEY}"
    start = time.perf_counter()
    for _ in range(n):  # the policies are cached: every await completes at once
        await authorizer.check(ctx, "s3:GetObject", resource, None, await authorizer.bucket_policy(BUCKET),
                               s3_condition_keys)
    return (time.perf_counter() - start) / n * 1e6


def prepare(workdir: Path) -> tuple[StoreroomIamTarget, tuple[str, str]]:
    target = StoreroomIamTarget(workdir, workers=1)
    target.start()  # real server: bucket by root, user + 10 policies + key through the IAM API
    try:
        target.client.put_object(Bucket=BUCKET, Key=KEY, Body=os.urandom(4096))
        return target, target.user_key
    finally:
        target.stop()


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="storeroom-authz-") as tmp:
        target, (key_id, secret) = prepare(Path(tmp))
        os.environ["STOREROOM_DATA_DIR"] = str(target.data_dir)
        from storeroom.config import Settings
        from storeroom.http.app import App
        app = App(Settings.from_env())
        await app.open()
        try:
            scopes = {"root": presigned_scope(target.port, ACCESS_KEY, SECRET_KEY),
                      "IAM user": presigned_scope(target.port, key_id, secret)}
            result = await measure(app, scopes, args.rounds, args.requests)
            alone = await authorizer_alone(app, scopes["IAM user"], key_id)
        finally:
            await app.close()
    added = result["IAM user"] - result["root"]
    print(f"4 KiB GET in-process ({args.rounds} rounds × {args.requests} requests, medians): "
          f"root {result['root']:.1f} µs, IAM user (10 policies × 10 statements) {result['IAM user']:.1f} µs, "
          f"added {added:.1f} µs")
    print(f"Authorizer.check alone for the IAM user: {alone:.2f} µs")
    print(f"added / end-to-end server CPU of a small GET ({args.request_cpu_us:.0f} µs): "
          f"{added / args.request_cpu_us * 100:.1f} % (goal < 5 %)")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.authz", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--requests", type=int, default=2000, help="requests per round and principal")
    p.add_argument("--request-cpu-us", type=float, default=143.0,
                   help="server CPU µs of one small GET end to end (bench's get4k CPU table; 143 at 7595a06)")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
