"""The cost of a request with session credentials against one with a user's access key, in-process:
``python -m bench.sessions``.

As bench/authz.py: a real data dir prepared through the real API — the bucket and a 4 KiB object, the IAM user
of ``StoreroomIamTarget`` (10 managed policies × 10 statements), and a role with the same 10 policies that the
user assumes (``AssumeRole``, and once more with a session policy) — then the Storeroom ASGI app driven in-process
with presigned GETs, alternating in rounds:

- the user's long-term key;
- a role session (``ASIA…`` + token: the token opened from the per-process cache, the role's principal and
  policies from theirs);
- a role session with a session policy (the intersection is evaluated too);
- a GetSessionToken session of the user.

It prints µs per request (medians over rounds) and each session's difference from the user's key (goal: within
10 µs), and the first request of a session, token opening included (what a new session costs once per worker).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench.authz import KEY, _requests, measure, presigned_scope
from bench.targets import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, StoreroomIamTarget

ROLE = "bench-role"


def _prepare(workdir: Path) -> tuple[StoreroomIamTarget, dict[str, tuple[str, str, str | None]]]:
    """The data dir, and the credentials of each kind (key id, secret, session token)."""
    target = StoreroomIamTarget(workdir, workers=1)
    target.start()
    try:
        target.client.put_object(Bucket=BUCKET, Key=KEY, Body=os.urandom(4096))
        iam = boto3.client("iam", endpoint_url=target.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                           aws_secret_access_key=SECRET_KEY)
        account = iam.get_user()["User"]["Arn"].split(":")[4]
        user_arn = f"arn:aws:iam::{account}:user/bench"
        iam.create_role(RoleName=ROLE, MaxSessionDuration=43200, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn},
                                                   "Action": "sts:AssumeRole"}]}))
        for p in iam.list_attached_user_policies(UserName="bench")["AttachedPolicies"]:
            iam.attach_role_policy(RoleName=ROLE, PolicyArn=p["PolicyArn"])
        key_id, secret = target.user_key
        sts = boto3.client("sts", endpoint_url=target.endpoint, region_name=REGION, aws_access_key_id=key_id,
                           aws_secret_access_key=secret)
        arn = f"arn:aws:iam::{account}:role/{ROLE}"
        narrow = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]})
        found: dict[str, tuple[str, str, str | None]] = {"IAM user key": (key_id, secret, None)}
        for name, extra in (("role session", {}), ("role session + session policy", {"Policy": narrow})):
            c = sts.assume_role(RoleArn=arn, RoleSessionName="bench", DurationSeconds=43200, **extra)["Credentials"]
            found[name] = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        c = sts.get_session_token(DurationSeconds=43200)["Credentials"]
        found["GetSessionToken session"] = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        return target, found
    finally:
        target.stop()


def _scope(port: int, key_id: str, secret: str, token: str | None) -> dict[str, Any]:
    """A presigned GET, with the session token in the query when there is one (as botocore writes it)."""
    if token is None:
        return presigned_scope(port, key_id, secret)
    from urllib.parse import urlsplit

    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from bench.targets import HOST
    req = AWSRequest(method="GET", url=f"http://{HOST}:{port}/{BUCKET}/{KEY}")
    S3SigV4QueryAuth(Credentials(key_id, secret, token), "s3", REGION, expires=43200).add_auth(req)
    url = urlsplit(req.url)
    return {"type": "http", "method": "GET", "path": url.path, "raw_path": url.path.encode(),
            "query_string": url.query.encode(), "headers": [(b"host", f"{HOST}:{port}".encode())],
            "client": ("127.0.0.1", 40000), "scheme": "http", "http_version": "1.1"}


async def _first_request(app: Any, scope: dict[str, Any]) -> float:
    """µs of the first request of a session in a process: token opened, principal and policies loaded."""
    app.credentials._sessions.clear()
    app.tokens._opened.clear()
    app.authorizer._role_policies._entries.clear()
    app.authorizer._session_policies._entries.clear()
    start = time.perf_counter()
    await _requests(app, scope, 1)
    return (time.perf_counter() - start) * 1e6


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="storeroom-sessions-") as tmp:
        target, found = _prepare(Path(tmp))
        os.environ["STOREROOM_DATA_DIR"] = str(target.data_dir)
        from storeroom.config import Settings
        from storeroom.http.app import App
        app = App(Settings.from_env())
        await app.open()
        try:
            scopes = {name: _scope(target.port, *creds) for name, creds in found.items()}
            result = await measure(app, scopes, args.rounds, args.requests)
            first = statistics.median([await _first_request(app, scopes["role session"]) for _ in range(50)])
            key_id, _, token = found["role session"]
            assert token is not None
            await app.credentials.resolve_temporary(key_id, token, time.time())
            n = 20_000
            start = time.perf_counter()
            for _ in range(n):  # a fresh str each time, as each request's token is
                await app.credentials.resolve_temporary(key_id, token[:-1] + token[-1], time.time())
            resolve = (time.perf_counter() - start) / n * 1e6
        finally:
            await app.close()
    base = result["IAM user key"]
    print(f"4 KiB GET in-process ({args.rounds} rounds × {args.requests} requests each, medians):")
    for name, value in result.items():
        added = "" if name == "IAM user key" else f"  ({value - base:+.1f} µs; goal within 10)"
        print(f"  {name:32s} {value:6.1f} µs{added}")
    print(f"  first request of a role session in a process (token opened, role loaded): {first:.0f} µs")
    print(f"  resolving a role session's credentials alone (cached token, principal, condition keys): "
          f"{resolve:.2f} µs")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sessions", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--requests", type=int, default=2000, help="requests per round and kind of credentials")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
