"""The HTTP edge: one ASGI app serving S3, IAM, STS and CloudTrail on one endpoint.

The request's way: :class:`Request` → SigV4 (who is calling?) → service chosen by the credential scope
(``…/<region>/<service>/aws4_request``; unsigned requests are S3, or ours under ``/_storeroom/``) → the
service's handler (which authorizes, then acts) → :class:`Response` → audit record.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import logging
import math
import os
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from storeroom import clock, cloudtrail, container, metrics, query
from storeroom.audit.events import capture
from storeroom.audit.log import AuditLog, AuditOptions
from storeroom.audit.refused import refused_context
from storeroom.authz import Authorizer
from storeroom.config import Settings
from storeroom.crypto import load_master_key, load_secret_box
from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import (
    ClientDisconnected,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    send_response,
)
from storeroom.iam.api import IamService
from storeroom.identity import CredentialResolver, Principal, anonymous
from storeroom.s3 import cors
from storeroom.s3.access_log import AccessLogging
from storeroom.s3.lifecycle_run import LifecycleRunner
from storeroom.s3.service import S3Service
from storeroom.services import (
    JSON_SERVICES,
    in_service_words,
    render_json_error,
    s3express_service,
    unsupported_service,
)
from storeroom.sessions import SessionTokens
from storeroom.signin import SignIn
from storeroom.sigv4 import SignedRequest, claimed_service, parse_auth, verify
from storeroom.sigv4.v2 import SignedRequestV2, parse_auth_v2, verify_v2
from storeroom.store.backend import open_audit_db, open_meta
from storeroom.store.blob_backend import Blobs, server_blobs
from storeroom.store.meta import MetaStore
from storeroom.store.space import is_storage_full, storage_refusal
from storeroom.sts import StsService
from storeroom.sts.assume import session_may_call

log = logging.getLogger("storeroom")

_HOST_ID = base64.b64encode(os.urandom(48)).decode()
_SERVER = (b"server", b"Storeroom")
IO_THREADS = 32
MAX_SERVICE_BODY = 1 << 20  # IAM/STS/CloudTrail requests are small forms or JSON documents


GC_YOUNG_THRESHOLD = 20_000  # objects allocated (net) between two young collections; CPython's default is 700


def tune_garbage_collector() -> None:
    """Fewer, cheaper cyclic garbage collections, once the worker is ready.

    Why: py-spy on 4 KiB PUTs showed CPython's collector at ~9 % of the event loop's time: a request allocates
    about as many container objects as the default young-generation threshold (700), so nearly every request
    paid a collection, and every tenth an older one, traversing the worker's long-lived objects (modules, caches).
    ``gc.freeze()`` moves everything alive at startup out of the collector's sight for good; a larger young
    threshold makes collections rarer (reference counting frees almost everything a request makes, so the young
    generation holds few survivors and a collection stays short)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)



# A presigned request's x-amz-* query parameters that are not headers of the request: its own authentication's
# (SigV4's X-Amz-*, the session token), the body's framing, server-side encryption, which "S3 requires ... to be
# signed in headers" (aws/aws-sdk-js-v3#1701: the SDKs never move them to the query), and checksums: "Amazon S3
# presigned URLs don't support using the following data-integrity checksum algorithms (CRC32, CRC32C, SHA-1,
# SHA-256)" (the S3 guide) -- S3 ignores them, and the JavaScript SDK signs the empty body's CRC32 into every
# presigned PutObject, which must not be judged against the body uploaded later.
_NOT_HOISTED = frozenset({"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires", "x-amz-signedheaders",
                          "x-amz-signature", "x-amz-security-token", "x-amz-content-sha256", "x-amz-trailer",
                          "x-amz-decoded-content-length", "x-amz-sdk-checksum-algorithm"})
_NOT_HOISTED_PREFIXES = ("x-amz-server-side-encryption", "x-amz-copy-source-server-side-encryption",
                         "x-amz-checksum-")
# what no HTTP header can hold (a query parameter can): refused rather than stored, as S3 refuses it in
# response-* parameters -- an object whose metadata held CR LF could not be served again
_NOT_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _amz_query_params(request: Request) -> dict[str, str]:
    """A SigV2 presigned request's x-amz-* query parameters, as its signature covers them (names in lower
    case, the last of several spellings winning)."""
    return {k.lower(): v for k, v in request.args.items() if k[:6].lower() == "x-amz-"}


def _hoistable(name: str) -> bool:
    return name not in _NOT_HOISTED and not name.startswith(_NOT_HOISTED_PREFIXES)


def _header_value(name: str, value: str) -> str:
    if _NOT_IN_HEADER.search(value):
        raise AwsError("InvalidArgument", "Header value contains a control character.", ArgumentName=name,
                       ArgumentValue=value)
    return value


def hoist_presigned_headers(request: Request, signed_v2: dict[str, str] | None = None) -> None:
    """A presigned URL carries the x-amz-* headers of the request it stands for as query parameters (botocore's
    SigV2 presigner always, the JavaScript SDK's by default): S3 applies them as those headers -- metadata, tags,
    storage class, ACL -- so the request is judged and served with them.  Exactly what the signature covered:
    SigV4 signs the whole query (and a presigned request's x-amz-* headers must be signed too: a header sent as
    well keeps its value); SigV2 (``signed_v2``: the values it was checked with, the query's over the headers')
    gets those values, and loses a header whose value its signature did not cover."""
    headers = request.headers
    if signed_v2 is None:
        # (presigned requests are the bench's whole load: one startswith per parameter, the SigV4 X-Amz-* ones,
        # in their capitals, passed over by it; presigners write the headers they move in lower case)
        for name, value in request.args.items():
            if name.startswith("x-amz-") and _hoistable(name):
                headers.setdefault(name, _header_value(name, value))
        return
    for name, value in signed_v2.items():
        if _hoistable(name):
            headers[name] = _header_value(name, value)
        elif headers.get(name, value) != value:
            del headers[name]


def signed_query_headers(request: Request, signed_headers: tuple[str, ...]) -> None:
    """A presigned URL may sign an x-amz-* header whose value travels only in its query (the JavaScript SDK v2
    does so for x-amz-server-side-encryption, x-amz-meta-*): S3 takes the query's value as the header's, for
    the signature and the request alike (LocalStack's AWS-validated test_presigned_url_v4_signed_headers_in_qs).
    It was signed as empty: SignatureDoesNotMatch.  An unsigned x-amz-content-sha256 header is dropped: S3
    ignores it on a presigned request (LocalStack's AWS-validated test_s3_ignored_special_headers; the query
    names the payload), so SigV4's check of unsigned x-amz-* headers does not see it, nor may a condition key."""
    headers, args = request.headers, request.args
    if "x-amz-content-sha256" not in signed_headers:
        headers.pop("x-amz-content-sha256", None)
    for name in signed_headers:
        if name not in headers and name.startswith("x-amz-") and name not in _NOT_HOISTED and name in args:
            headers[name] = _header_value(name, args[name])


class App:
    """The ASGI application; one per worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.meta: MetaStore | None = None
        self.audit: AuditLog | None = None
        self.credentials: CredentialResolver | None = None
        self.s3: S3Service | None = None
        self.iam: IamService | None = None
        self.authorizer: Authorizer | None = None
        self.metrics: metrics.RequestMetrics | None = None
        self.cloudtrail: cloudtrail.CloudTrailService | None = None
        self.access_log: AccessLogging | None = None
        self.lifecycle: LifecycleRunner | None = None
        self.signin: SignIn | None = None
        self.blobs: Blobs | None = None
        self.tokens: SessionTokens | None = None
        self.sts: StsService | None = None
        self.container: container.ContainerCredentials | None = None
        self.account_id = ""
        self.ready = False

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def open(self) -> None:
        settings = self.settings
        self.meta = await open_meta(settings.data_dir, settings.meta_url, migrate=False)
        master_key = load_master_key(settings.master_key_file)
        box = load_secret_box(settings.master_key_file)
        self.tokens = SessionTokens(master_key)
        account_id = await self.meta.get_kv("account_id")
        if account_id is None:
            raise RuntimeError(f"no account in {settings.data_dir}: start with `storeroom serve`")
        self.account_id = account_id
        self.audit = await AuditLog.open(open_audit_db(settings.data_dir, self.meta), settings.data_dir, account_id,
                                         _HOST_ID, AuditOptions(settings.audit_retention_days, settings.audit_sync,
                                                                settings.audit_export, settings.audit_stdout,
                                                                settings.region))
        self.credentials = CredentialResolver(self.meta, box, account_id, self.tokens)
        authorizer = Authorizer(self.meta, account_id)
        self.blobs = server_blobs(settings, self.meta)
        self.s3 = S3Service(settings, self.meta, self.blobs, account_id, authorizer)
        self.s3.credentials = self.credentials  # POST forms carry their signature in fields
        self.iam = IamService(self.meta, account_id, authorizer, box)
        self.sts = StsService(self.meta, account_id, authorizer, box, self.tokens, settings.region)
        self.container = container.ContainerCredentials(self.meta, self.tokens, self.audit, account_id,
                                                        settings.region)
        self.authorizer = authorizer
        self.metrics = metrics.RequestMetrics()
        self.cloudtrail = cloudtrail.CloudTrailService(self.audit, authorizer)
        self.access_log = AccessLogging(self.s3, self.audit)
        self.lifecycle = LifecycleRunner(self.s3, self.audit, settings.lifecycle_interval)
        # the console's sign-in (storeroom/signin.py), sharing this worker's store and audit log
        self.signin = SignIn(self.meta, box, account_id, self.audit, region=settings.region)
        self.ready = True

    async def close(self) -> None:
        """Closes each part in turn, each whatever became of the one before (a full disk can fail the metrics'
        last write and the audit trail's): the audit events still in memory and the metadata connections must
        not be skipped by an earlier part's failure."""
        self.ready = False
        parts: list[tuple[str, Callable[[], Awaitable[None]] | None]] = [
            (name, None if part is None else part.close) for name, part in (
                ("metrics", self.metrics), ("access logging", self.access_log), ("lifecycle", self.lifecycle),
                ("sts", self.sts), ("audit log", self.audit), ("object data", self.blobs), ("metadata", self.meta))]
        for name, close in parts:
            if close is None:
                continue
            try:
                await close()
            except Exception as exc:  # said and passed over: the next parts still close
                if is_storage_full(exc):
                    log.error("closing the %s: the storage is full (%s)", name, exc)
                else:
                    log.exception("closing the %s failed", name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    # Blob writes wait on fsync (milliseconds each, and the disk serves many at once):
                    # a wide pool lets concurrent uploads overlap their fsyncs.
                    asyncio.get_running_loop().set_default_executor(
                        ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="blob-io"))
                    await self.open()
                    assert self.audit is not None and self.metrics is not None and self.access_log is not None
                    assert self.meta is not None
                    await self.meta.start()
                    self.audit.start()
                    self.metrics.start()
                    self.access_log.start()
                    if self.lifecycle is not None:
                        self.lifecycle.start()
                except Exception as exc:  # noqa: BLE001 - reported to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                tune_garbage_collector()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests ----------------------------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.path.startswith("/_storeroom/"):
            own = await self._metrics_endpoint(request) if request.path == "/_storeroom/metrics" \
                else await self._ready() if request.path == "/_storeroom/ready" and self.ready \
                else await self._lifecycle_endpoint(request) if request.path == "/_storeroom/lifecycle" and self.ready \
                else await self._container_credentials(request) if request.path.startswith(container.PATH) \
                else self._own_endpoint(request)
            await send_response(send, own, [(b"x-amz-request-id", request.request_id.encode()), _SERVER])
            return
        context: Context | None = None
        render: Callable[[AwsError, Request], Response] = self._s3_error
        service = "s3"
        try:
            # A CORS preflight is anonymous, whatever the query of the URL it asks about holds (a presigned
            # URL's signature is for the request to come, not for the OPTIONS).
            preflight = request.method == "OPTIONS"
            v2 = None if preflight else parse_auth_v2(request.headers, request.args)
            try:
                signed = None if v2 is not None or preflight else parse_auth(request.headers, request.query)
            except AwsError:  # answered in the protocol of the service the credential names, if it names one
                render = self._service(claimed_service(request.headers, request.query) or "s3")[1]
                raise
            service = signed.credential.service if signed else "s3"
            if signed is None and v2 is None and await self._unsigned_sts(request):
                service = "sts"
            handler, render = self._service(service)
            try:
                context = await self.authenticate(request, v2, signed, service)
            except AwsError:
                if signed is not None and signed.credential.service != "s3":  # the audit event names the action
                    await _read_small_body(request)
                raise
            if context.signed is not None and context.signing_key is None:
                await self._verify_with_body(context)
            if context.principal.access_key_id is not None and context.session_keys is None:  # a long-term key
                assert self.credentials is not None
                self.credentials.note_used(context.principal.access_key_id, context.service, context.region)
            response = await handler(context)
        except AwsError as err:
            response = render(err, request)
            if response.error_message is None:  # (the Query and JSON renderers set their own words)
                response.error_message = err.message
        except ClientDisconnected:
            # nothing to answer, but the attempt is recorded all the same (every request leaves an event: an
            # upload aborted with a stolen key too), as the IncompleteBody S3 would have answered
            context = context if context is not None else self._refused(request)
            response = render(AwsError("IncompleteBody"), request)
            self._audit(request, context, response, time.time())
            self._observe(request, context, service, response)
            return
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the client; log it, answer InternalError
            if (full := storage_refusal(exc)) is not None:  # a full disk is said as such (storeroom/store/space.py)
                log.warning("request %s refused: %s", request.request_id, exc)
                response = render(full, request)
            else:
                log.error("request %s failed:\n%s", request.request_id, traceback.format_exc())
                response = render(AwsError("InternalError"), request)
        if service == "s3" and "origin" in request.headers and request.method != "OPTIONS":
            await self._cors(request, response)
        common = [(b"x-amz-request-id", request.request_id.encode()), (b"x-amz-id-2", _HOST_ID.encode()),
                  _SERVER]
        if request.body_unread:
            common.append((b"connection", b"close"))
        responded = time.time()
        if self.settings.audit_sync:  # --audit-sync: the event is committed before the response goes out
            await self._audit_now(request, context, response, responded)
        try:
            await send_response(send, response, common, head_only=request.method == "HEAD")
        except ClientDisconnected:
            pass
        finally:
            if not self.settings.audit_sync:
                if context is None:  # refused before we knew who was calling
                    context = self._refused(request)
                self._audit(request, context, response, responded)
            self._observe(request, context, service, response)

    async def _cors(self, request: Request, response: Response) -> None:
        """A cross-origin request's answer, errors included, carries the CORS headers of the rule of its bucket
        that allows it (storeroom/s3/cors.py)."""
        assert self.s3 is not None
        try:
            response.headers.extend(await cors.response_headers(self.s3, request))
        except Exception:  # noqa: BLE001 - the answer stands without them (the store may be away)
            log.warning("request %s: CORS headers not added:\n%s", request.request_id, traceback.format_exc())

    async def authenticate(self, request: Request, v2: SignedRequestV2 | None, signed: SignedRequest | None,
                           unsigned_service: str = "s3") -> Context:
        """Find the key, verify time and signature. Unsigned requests are anonymous S3 (or STS's unsigned
        actions: ``unsigned_service``)."""
        assert self.credentials is not None and self.s3 is not None
        if v2 is not None:
            return await self._authenticate_v2(request, v2)
        if signed is None:
            return Context(request, unsigned_service, anonymous(self.account_id), None, None, self.settings.region)
        session_keys: dict[str, tuple[str, ...]] | None = None
        if signed.session_token is not None and SessionTokens.is_temporary(signed.credential.access_key_id):
            secret, principal, session_keys = await self._temporary_credentials(signed)
        else:
            found = await self.credentials.resolve(signed.credential.access_key_id)
            if found is None:
                raise AwsError("InvalidAccessKeyId", AWSAccessKeyId=signed.credential.access_key_id)
            secret, principal = found
        # S3 verifies its body's hash while streaming it (http/body.py); the other services sign the SHA-256 of
        # a small body, which is read and hashed before the signature is verified (_verify_with_body) — never
        # taken from an x-amz-content-sha256 header that some clients send along.
        if signed.presigned and signed.credential.service == "s3":
            signed_query_headers(request, signed.signed_headers)
        try:
            key = None if signed.credential.service != "s3" else self._verify(signed, secret, request, None)
        except AwsError:
            request.claimant = principal  # a wrong signature is still an attempt on this user's key
            raise
        if signed.presigned and signed.credential.service == "s3":
            hoist_presigned_headers(request)
        if principal.session is not None:  # the signature first: a URL past its X-Amz-Expires says so
            principal.session.check(clock.now())
        # An empty region in the scope (region_name='') is the server's; the signature covers the scope as sent.
        region = signed.credential.region or self.settings.region
        return Context(request, signed.credential.service, principal, signed, key, region, secret=secret,
                       session_keys=session_keys)

    async def _temporary_credentials(self, signed: SignedRequest) -> tuple[str, Principal,
                                                                            dict[str, tuple[str, ...]]]:
        """Temporary credentials (storeroom/sessions.py: STS sessions, console share links): the request acts as
        the session's principal, with the session's condition keys.  A token that is not ours, or whose role or
        user is gone, is ``InvalidToken`` (``InvalidClientTokenId`` in the Query services' words); a session
        limited to some services (a share link: S3) is refused by the others."""
        assert self.credentials is not None and signed.session_token is not None
        service = signed.credential.service
        found = await self.credentials.resolve_temporary(signed.credential.access_key_id, signed.session_token,
                                                         clock.now())
        if found is None:
            raise AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        secret, principal, keys = found
        assert principal.session is not None
        if principal.session.services and service not in principal.session.services:
            raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
        session_may_call(principal, service, None)
        return secret, principal, keys

    async def _unsigned_sts(self, request: Request) -> bool:
        """An unsigned STS request: a form POST (or GET) to the service's root path, not a bucket's, naming an STS
        action in ``Action``.  AssumeRoleWithWebIdentity and AssumeRoleWithSAML are taken so (botocore sends them
        without credentials, as AWS takes them); the others get STS's MissingAuthenticationToken, not S3's
        answer to an anonymous ListBuckets."""
        if request.path != "/" or request.method not in ("POST", "GET"):
            return False
        assert self.s3 is not None
        if self.s3.virtual_host_bucket(request) is not None:
            return False
        if request.method == "POST":
            if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return False
            await _read_small_body(request)
        try:
            params = query.form_params(request.body or b"", request.args)
        except AwsError:
            return False
        return params.get("Action") in query.service_model("sts").operation_names

    async def _verify_with_body(self, context: Context) -> None:
        """Query-protocol and JSON services sign the SHA-256 of their (small) body: read it, then verify."""
        assert context.signed is not None and context.secret is not None
        request = context.request
        try:
            body = await request.read_body(MAX_SERVICE_BODY)
        except ValueError:
            raise AwsError("RequestEntityTooLarge", "Request body too large", 413) from None
        context.signing_key = self._verify(context.signed, context.secret, request,
                                           hashlib.sha256(body).hexdigest())

    async def _authenticate_v2(self, request: Request, v2: SignedRequestV2) -> Context:
        """SigV2 (S3 only).  A presigned URL's ``x-amz-*`` query parameters are signed as headers (botocore moves
        them there, the session token of temporary credentials among them)."""
        assert self.credentials is not None and self.s3 is not None
        headers: Mapping[str, str] = request.headers
        signed_query = _amz_query_params(request) if v2.expires is not None else {}
        if signed_query:
            headers = {**headers, **signed_query}
        token = headers.get("x-amz-security-token")
        session_keys = None
        if token is not None and SessionTokens.is_temporary(v2.access_key_id):
            found_session = await self.credentials.resolve_temporary(v2.access_key_id, token, clock.now())
            if found_session is None:
                raise AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
            secret, principal, session_keys = found_session
        else:
            found = await self.credentials.resolve(v2.access_key_id)
            if found is None:
                raise AwsError("InvalidAccessKeyId", AWSAccessKeyId=v2.access_key_id)
            secret, principal = found
        self.s3.refuse_unsigned_v2_subresources(request)
        try:
            verify_v2(v2, secret, request.method, self.s3.v2_resource_path(request), request.raw_query, headers)
        except AwsError:
            request.claimant = principal  # a wrong signature is still an attempt on this user's key
            raise
        if signed_query:
            hoist_presigned_headers(request, signed_query)
        if principal.session is not None:
            principal.session.check(clock.now())
        return Context(request, "s3", principal, None, None, self.settings.region, secret=secret,
                       signature_version="AWS", session_keys=session_keys)

    def _verify(self, signed: SignedRequest, secret: str, request: Request,
                payload_hash: str | None) -> bytes:
        return verify(signed, secret, request.method, request.raw_path, request.raw_query, request.headers,
                      now=clock.now(), payload_hash=payload_hash)

    def _service(self, service: str) -> tuple[Callable[[Context], Awaitable[Response]],
                                              Callable[[AwsError, Request], Response]]:
        assert self.s3 is not None
        if service == "s3":
            return self.s3.handle, self._s3_error
        if service == "iam":
            assert self.iam is not None
            return self.iam.handle, _query_error("iam")
        if service == "sts":
            assert self.sts is not None
            return self.sts.handle, _query_error("sts")
        if service == "cloudtrail":
            assert self.cloudtrail is not None
            return self.cloudtrail.handle, render_json_error
        if service == "s3express":
            return s3express_service, self._s3_error
        if service in JSON_SERVICES:
            return unsupported_service, render_json_error
        return unsupported_service, _query_error("iam")  # a service we do not know: Query-shaped answer

    def _s3_error(self, err: AwsError, request: Request) -> Response:
        assert self.s3 is not None
        return self.s3.error_response(err, request, _HOST_ID)

    def _own_endpoint(self, request: Request) -> Response:
        if request.path == "/_storeroom/health":
            return Response(200, [("content-type", "application/json")], b'{"status":"ok"}')
        if request.path == "/_storeroom/ready":  # not ready yet (once ready: _ready)
            return Response(503, [("content-type", "application/json")], b'{"status":"starting"}')
        return Response(404, [("content-type", "application/json")], b'{"status":"not found"}')

    async def _ready(self) -> Response:
        """Ready: storage is open, the metadata backend answers (PostgreSQL is asked) and the object data store
        answers (an S3 backend is probed, at most every two seconds); else 503 with what is wrong — a load
        balancer's health check then takes the node out of rotation, and back in once it answers again."""
        assert self.blobs is not None and self.meta is not None
        meta_problem, blobs_problem = await self.meta.db.ping(), await self.blobs.health()
        meta: dict[str, str] = {"backend": self.meta.db.dialect, "status": "ok" if meta_problem is None
                                else "unavailable"}
        body: dict[str, object] = {"status": "ready", "meta": meta}
        if meta_problem is not None:
            meta["error"] = meta_problem
        if blobs_problem is not None:
            body["blobs"] = blobs_problem
        if meta_problem is not None or blobs_problem is not None:
            body["status"] = "unavailable"
            return Response(503, [("content-type", "application/json")], json.dumps(body).encode())
        return Response(200, [("content-type", "application/json")], json.dumps(body).encode())

    async def _container_credentials(self, request: Request) -> Response:
        """GET /_storeroom/credentials/APP: role credentials for an application's token (storeroom/container.py)."""
        if self.container is None:
            return Response(503, [("content-type", "application/json")], b'{"status":"starting"}')
        try:
            return await self.container.handle(request)
        except AwsError as err:  # the metadata store is away
            return Response(err.status, [("content-type", "application/json")],
                            json.dumps({"code": err.code, "message": err.message}).encode())

    async def _metrics_endpoint(self, request: Request) -> Response:
        """GET /_storeroom/metrics: unsigned from loopback (or from anywhere with --metrics-public); otherwise a
        SigV4-signed request (for any service) by a principal allowed ``storeroom:GetMetrics``."""
        if request.method not in ("GET", "HEAD"):
            return self._s3_error(AwsError("MethodNotAllowed"), request)
        assert self.meta is not None and self.metrics is not None
        try:
            if not (self.settings.metrics_public or _loopback(request.client_ip)):
                await self._authorize_metrics(await self._authenticated(request))
        except AwsError as err:
            return self._s3_error(err, request)
        except ClientDisconnected:
            return Response(400)
        body = await metrics.scrape(self.metrics, self.meta, self.settings.key_max_age_days)
        return Response(200, [("content-type", metrics.CONTENT_TYPE)], body)

    async def _lifecycle_endpoint(self, request: Request) -> Response:
        """POST /_storeroom/lifecycle[?now=EPOCH]: run the lifecycle rules now (s3/lifecycle_run.py), waiting for a
        run in progress elsewhere; signed by a principal allowed ``storeroom:RunLifecycle``."""
        if request.method != "POST":
            return self._s3_error(AwsError("MethodNotAllowed"), request)
        assert self.lifecycle is not None and self.authorizer is not None
        try:
            context = await self._authenticated(request)
            if not (await self.authorizer.check(context, "storeroom:RunLifecycle", "*")).allowed:
                raise AwsError("AccessDenied")
            now = float(request.args["now"]) if "now" in request.args else None
            if now is not None and not math.isfinite(now):
                raise ValueError(now)
        except AwsError as err:
            return self._s3_error(err, request)
        except ValueError:
            return self._s3_error(AwsError("InvalidArgument", "now must be seconds since the epoch"), request)
        except ClientDisconnected:
            return Response(400)
        summary = await self.lifecycle.run(now, wait=True)
        body = json.dumps(None if summary is None else summary.as_json())
        return Response(200, [("content-type", "application/json")], body.encode())

    async def _authenticated(self, request: Request) -> Context:
        v2 = parse_auth_v2(request.headers, request.args)
        signed = None if v2 is not None else parse_auth(request.headers, request.query)
        context = await self.authenticate(request, v2, signed)
        if context.signed is not None and context.signing_key is None:
            await self._verify_with_body(context)
        return context

    async def _authorize_metrics(self, context: Context) -> None:
        assert self.authorizer is not None
        principal = context.principal
        evaluation = await self.authorizer.check(context, "storeroom:GetMetrics", "*")
        if not evaluation.allowed:
            who = "anonymous" if principal.is_anonymous else principal.arn
            raise AwsError("AccessDenied", f"User: {who} is not authorized to perform: storeroom:GetMetrics "
                           f"{evaluation.reason}".rstrip(), 403)

    def _observe(self, request: Request, context: Context | None, service: str, response: Response) -> None:
        if self.metrics is None:
            return
        body = response.body
        if request.method == "HEAD":
            sent = 0
        elif isinstance(body, bytes):
            sent = len(body)
        else:  # streamed: what the response announced
            sent = next((int(v) for k, v in response.headers if k == "content-length"), 0)
        principal = None if context is None else context.principal
        denied = None
        if response.error_code == "AccessDenied":
            # a role session counts under its role (session names would make a label per session)
            denied = metrics.ANONYMOUS if principal is None or principal.is_anonymous else principal.principal_arn
        operation = (context.operation if context is not None else None) or "Unknown"
        self.metrics.observe(service, operation, response.status, time.time() - request.started, request.received,
                             sent, denied)

    def _audit(self, request: Request, context: Context, response: Response, responded: float) -> None:
        """Queue the request's audit entry (a flat tuple: the event is built off the request path)."""
        if self.audit is not None:
            self.audit.record(capture(request, context, response, responded, time.time()))

    def _refused(self, request: Request) -> Context:
        """The context of a request refused before it was authenticated: whoever its signature names."""
        return refused_context(request, self.credentials, self.s3, self.account_id, self.settings.region)

    async def _audit_now(self, request: Request, context: Context | None, response: Response,
                         responded: float) -> None:
        """``--audit-sync``: the event is committed before the response is sent (its size as announced)."""
        assert self.audit is not None
        if context is None:
            context = self._refused(request)
        body = response.body
        sent = 0 if request.method == "HEAD" else (len(body) if isinstance(body, bytes) else next(
            (int(v) for k, v in response.headers if k == "content-length"), 0))
        try:
            await self.audit.commit(capture(request, context, response, responded, responded, sent))
        except Exception:  # noqa: BLE001 - the request's work is done; losing its event is reported loudly
            log.exception("audit log: the event of request %s could not be committed", request.request_id)


async def _read_small_body(request: Request) -> None:
    try:
        await request.read_body(MAX_SERVICE_BODY)
    except (ValueError, AwsError, ClientDisconnected):
        pass


def _loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address)."""
    return address.startswith(("127.", "::ffff:127.")) or address == "::1"


def _query_error(service: str) -> Callable[[AwsError, Request], Response]:
    def render(err: AwsError, request: Request) -> Response:
        return query.render_error(service, in_service_words(err), request.request_id)
    return render


def create_app() -> App:
    """Factory for uvicorn (``--factory``): settings come from the environment the CLI prepared."""
    return App(Settings.from_env())
