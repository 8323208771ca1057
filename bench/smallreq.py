"""Where a small GET and a HEAD spend their time, layer by layer, in-process: ``python -m bench.smallreq``.

As bench/authz.py: a data dir prepared through the real API (a bucket and a 4 KiB object, by the root user),
then the Storeroom ASGI app driven in-process with presigned GETs and HEADs (no HTTP stack, no load generator),
alternating in rounds.  It prints µs per request (medians over rounds), then a second pass with each layer's
entry point wrapped in a timer — the request's parsing (HTTP), SigV4 (parsing, key lookup, verification),
authorization (``S3Call.require``), metadata (the object and bucket rows), storage (opening the blob),
response headers and sending (``send_response``, which reads a small blob's bytes), audit, metrics — and the
rest (dispatch, the handler's own work).  The wrappers add about a µs per layer; their shares are what counts.
What uvicorn and the edge protocol cost (HTTP parsing on the wire) is the end-to-end CPU per request of
``python -m bench`` minus these figures.  ``--profile GET|HEAD`` prints a cProfile listing instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import os
import pstats
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.authz import KEY
from bench.targets import ACCESS_KEY, BUCKET, HOST, REGION, SECRET_KEY, StoreroomTarget


def presigned(port: int, method: str) -> dict[str, Any]:
    req = AWSRequest(method=method, url=f"http://{HOST}:{port}/{BUCKET}/{KEY}")
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION, expires=3600).add_auth(req)
    url = urlsplit(req.url)
    return {"type": "http", "method": method, "path": url.path, "raw_path": url.path.encode(),
            "query_string": url.query.encode(), "headers": [(b"host", f"{HOST}:{port}".encode())],
            "client": ("127.0.0.1", 40000), "scheme": "http", "http_version": "1.1"}


async def _run(app: Any, scope: dict[str, Any], n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}
    statuses: set[int] = set()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])
    started = time.perf_counter()
    for _ in range(n):
        await app.handle(scope, receive, send)
    elapsed = (time.perf_counter() - started) / n * 1e6
    if statuses != {200}:
        raise RuntimeError(f"unexpected statuses {statuses}")
    return elapsed


class Layers:
    """Timers around each layer's entry point (patched on the classes and modules for the measuring pass)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self._undo: list[Callable[[], None]] = []
        self._depth = 0

    def wrap(self, owner: Any, name: str, layer: str) -> None:
        original = getattr(owner, name)
        spent = self.spent
        layers = self

        if asyncio.iscoroutinefunction(original):
            @functools.wraps(original)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                if layers._depth:  # a layer inside another counts as the outer one
                    return await original(*args, **kwargs)
                layers._depth += 1
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    spent[layer] += time.perf_counter() - started
                    layers._depth -= 1
            setattr(owner, name, timed_async)
        else:
            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                if layers._depth:
                    return original(*args, **kwargs)
                layers._depth += 1
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    spent[layer] += time.perf_counter() - started
                    layers._depth -= 1
            setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self, app: Any) -> None:
        import storeroom.http.app as app_module
        import storeroom.s3.objects as objects
        from storeroom.identity import CredentialResolver
        from storeroom.s3.service import S3Call
        self.wrap(app_module, "Request", "HTTP (Request)")
        for name in ("parse_auth", "parse_auth_v2"):
            self.wrap(app_module, name, "SigV4")
        self.wrap(CredentialResolver, "resolve", "SigV4")
        self.wrap(type(app), "_verify", "SigV4")
        self.wrap(S3Call, "require", "authorization")
        self.wrap(type(app.meta), "get_object", "metadata")
        self.wrap(S3Call, "existing_bucket", "metadata")
        self.wrap(type(app.blobs), "open_range", "storage")
        self.wrap(objects, "_response_headers", "response")
        self.wrap(app_module, "send_response", "response")
        self.wrap(type(app), "_audit", "audit")
        self.wrap(type(app), "_observe", "metrics")

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="storeroom-smallreq-") as tmp:
        target = StoreroomTarget(Path(tmp), workers=1)
        target.start()
        try:
            target.client.put_object(Bucket=BUCKET, Key=KEY, Body=os.urandom(4096))
        finally:
            target.stop()
        os.environ["STOREROOM_DATA_DIR"] = str(target.data_dir)
        from storeroom.config import Settings
        from storeroom.http.app import App
        app = App(Settings.from_env())
        await app.open()
        assert app.audit is not None
        app.audit.start()
        try:
            scopes = {"GET": presigned(target.port, "GET"), "HEAD": presigned(target.port, "HEAD")}
            for scope in scopes.values():
                await _run(app, scope, 500)
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                await _run(app, scopes[args.profile], args.requests * 2)
                profile.disable()
                pstats.Stats(profile).sort_stats("tottime").print_stats(40)
                return
            totals: dict[str, list[float]] = {name: [] for name in scopes}
            for r in range(args.rounds):
                for name in (scopes if r % 2 == 0 else reversed(scopes)):
                    totals[name].append(await _run(app, scopes[name], args.requests))
            by_layer: dict[str, dict[str, float]] = {}
            for name, scope in scopes.items():
                layers = Layers()
                layers.install(app)
                try:
                    n = args.requests * 2
                    total = await _run(app, scope, n)
                finally:
                    layers.uninstall()
                by_layer[name] = {layer: s / n * 1e6 for layer, s in layers.spent.items()}
                by_layer[name]["rest (dispatch, handler)"] = total - sum(by_layer[name].values())
                by_layer[name]["total (timed pass)"] = total
        finally:
            await app.close()
    print(f"In-process µs per request ({args.rounds} rounds × {args.requests}, medians): "
          + ", ".join(f"{name} {statistics.median(v):.1f}" for name, v in totals.items()))
    print()
    print("| layer | GET µs | HEAD µs |")
    print("|---|---|---|")
    for layer in by_layer["GET"]:
        print(f"| {layer} | {by_layer['GET'].get(layer, 0):.1f} | {by_layer['HEAD'].get(layer, 0):.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.smallreq", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--requests", type=int, default=2000, help="requests per round and method")
    p.add_argument("--profile", choices=["GET", "HEAD"], help="print a cProfile listing of this method instead")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
