"""Who sent a request that was refused before it was authenticated (unknown key, bad signature, malformed
authorization)?  Its audit event names whatever is known: the service and region it was signed for, the access
key, and the key's owner when the key exists (a wrong secret is still an attempt on that user's key).

Runs on the event loop thread, and only for refused requests.  The key's owner is the one authentication found
before it refused the signature (``request.claimant``), else the credential cache's: an error path never waits
on the metadata store (which may be the very thing that is down).
"""

from __future__ import annotations

from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Request
from storeroom.identity import CredentialResolver, Principal, anonymous
from storeroom.s3.operations import match_operation
from storeroom.s3.service import S3Service
from storeroom.sigv4 import parse_auth
from storeroom.sigv4.v2 import parse_auth_v2


def refused_context(request: Request, credentials: CredentialResolver | None, s3: S3Service | None,
                    account_id: str, region: str) -> Context:
    service, key_id, signature_version, signed = "s3", None, "AWS4-HMAC-SHA256", None
    try:
        v2 = parse_auth_v2(request.headers, request.args)
        if v2 is not None:
            key_id, signature_version = v2.access_key_id, "AWS"
        else:
            signed = parse_auth(request.headers, request.query)
            if signed is not None:
                service, region = signed.credential.service, signed.credential.region or region
                key_id = signed.credential.access_key_id
    except AwsError:
        pass  # a malformed authorization: nobody is known
    principal: Principal = anonymous(account_id)
    if request.claimant is not None:  # authentication found the key, then refused the signature
        principal = request.claimant
    elif key_id is not None:
        found = credentials.cached(key_id) if credentials is not None else None
        principal = found[1] if found is not None else Principal("Unknown", "", "", "", None, key_id)
    ctx = Context(request, service, principal, signed, None, region, signature_version=signature_version)
    if service == "s3" and s3 is not None:
        try:
            ctx.bucket, ctx.key = s3.address(request)
            ctx.operation = match_operation(request.method, ctx.bucket, ctx.key, request.args, request.headers).name
        except Exception:  # noqa: BLE001 - an unparseable request: the event names what was found
            pass
    return ctx
