"""The console is a client of Storeroom's services, never a side door.

:class:`ConsoleServices` opens, in the console's process, the same service objects an API worker has (the
metadata store, the Authorizer, IamService, S3Service, CloudTrailService, SignIn and the audit log).
:class:`Caller` is what a page uses to act: every call is an *internal request* of the signed-in principal —
a :class:`~storeroom.http.types.Request` built from the browser's request (its address and user agent, so
``aws:SourceIp`` and the audit trail see the person, and TLS for ``aws:SecureTransport``) and a
:class:`~storeroom.http.context.Context` with the session's condition keys (``aws:MultiFactorAuthPresent``,
``aws:MultiFactorAuthAge``, …) — handed to the service's own entry point:

- IAM: :meth:`IamService.invoke` with the Query protocol's parameters, parsed and validated against botocore's
  model exactly as for ``aws iam``; the result is the output shape as a plain dict;
- S3 and CloudTrail: the service's ``handle(ctx)`` with a method, path, headers and body, as the HTTP edge
  calls it; the answer is the service's :class:`Response` (XML, JSON or a streamed body).

Each call leaves its CloudTrail event, as an API request does.  A refusal comes back as :class:`ServiceError`,
which for AccessDenied carries the evaluation that decided it (``Context.denied``, set by the Authorizer)
so the page can show the deciding statement (:func:`explain`).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from storeroom.audit.events import capture
from storeroom.audit.log import AuditLog, AuditOptions
from storeroom.authz import Authorizer
from storeroom.cloudtrail import CloudTrailService
from storeroom.config import Settings
from storeroom.crypto import load_master_key, load_secret_box
from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Message, Request, Response
from storeroom.iam import principal_ids
from storeroom.iam.api import IamService
from storeroom.iam.login_store import get_login_profile
from storeroom.iam.user_store import get_user_by_id
from storeroom.identity import Principal
from storeroom.policy import Evaluation, PolicySource
from storeroom.s3.service import S3Service
from storeroom.share import Shares
from storeroom.signin import SignIn
from storeroom.store.backend import open_audit_db, open_meta
from storeroom.store.blob_backend import server_blobs
from storeroom.store.meta import MetaStore
from storeroom.store.space import storage_refusal

_HOST_ID = base64.b64encode(os.urandom(48)).decode()
CONSOLE_USER_AGENT = "storeroom-console"


class ConsoleServices:
    """The service objects of one console process (opened in the ASGI lifespan, closed at shutdown)."""

    def __init__(self, settings: Settings, meta: MetaStore, audit: AuditLog, account_id: str) -> None:
        self.settings = settings
        self.meta = meta
        self.master_key = load_master_key(settings.master_key_file)
        box = load_secret_box(settings.master_key_file)
        self.account_id: str = account_id
        self.audit = audit
        self.authorizer = Authorizer(self.meta, account_id)
        self.iam = IamService(self.meta, account_id, self.authorizer, box)
        # --blobs: the same object data store as the API's workers, encrypted as theirs
        self.blobs = server_blobs(settings, self.meta)
        self.s3 = S3Service(settings, self.meta, self.blobs, account_id, self.authorizer)
        self.cloudtrail = CloudTrailService(self.audit, self.authorizer)
        self.signin = SignIn(self.meta, box, account_id, self.audit, region=settings.region)
        self.shares = Shares(self.master_key)   # share links: presigned URLs (storeroom/share.py)

    @classmethod
    async def open(cls, settings: Settings) -> ConsoleServices:
        """The metadata (SQLite or PostgreSQL: ``--meta``) and audit log this process shares with the workers."""
        meta = await open_meta(settings.data_dir, settings.meta_url, migrate=False)
        account_id = await meta.get_kv("account_id")
        if account_id is None:
            await meta.close()
            raise RuntimeError(f"no account in {settings.data_dir}: start with `storeroom serve`")
        audit = await AuditLog.open(open_audit_db(settings.data_dir, meta), settings.data_dir, account_id, _HOST_ID,
                                    AuditOptions(settings.audit_retention_days, settings.audit_sync,
                                                 settings.audit_export, settings.audit_stdout, settings.region))
        return cls(settings, meta, audit, account_id)

    async def start(self) -> None:
        await self.meta.start()
        self.audit.start()

    async def close(self) -> None:
        await self.audit.close()
        await self.blobs.close()
        await self.meta.close()

    async def principal(self, kind: str, principal_id: str, profile_created: float | None) -> Principal | None:
        """The session's principal as it is now: None when the user is gone, or the login profile the session
        signed in with (made at ``profile_created``) is: deleted (DeleteLoginProfile "terminates the user's
        ability to access AWS services through the AWS Management Console"), or deleted and made again — the
        session ends with it.  (Compared for equality: the time was written by whichever node made the profile,
        so no clock is compared with another.)"""
        account = self.account_id
        if kind == "root":
            return Principal("Root", account, f"arn:aws:iam::{account}:root", account)
        user = await get_user_by_id(self.meta.db.read, principal_id)
        if user is None:
            return None
        profile = await get_login_profile(self.meta.db.read, principal_id)
        if profile is None or (profile_created is not None and profile.created != profile_created):
            return None
        return Principal("IAMUser", account, f"arn:aws:iam::{account}:user{user.path}{user.name}", user.user_id,
                         user.name, None, tuple(user.tags))


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the person's browser request came from: what internal requests carry."""

    client_ip: str
    user_agent: str
    secure: bool
    host: str


@dataclass(frozen=True, slots=True)
class DecidingStatement:
    source: str              # the policy: managed policy ARN, "user_alice_inline", "bucket policy"…
    source_type: str
    text: str                # the statement's JSON


@dataclass(frozen=True, slots=True)
class Denial:
    """An AccessDenied, explained: what was asked, AWS's decision and reason, and the statement that decided
    (an explicit Deny; none for an implicit deny, where nothing allowed)."""

    action: str
    resource: str
    decision: str            # "explicitDeny" | "implicitDeny"
    reason: str
    statements: tuple[DecidingStatement, ...] = ()


class ServiceError(Exception):
    """An AWS error answered to an internal request: code, message, and for AccessDenied its explanation."""

    def __init__(self, code: str, message: str, status: int, denial: Denial | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status, self.denial = code, message, status, denial


T = TypeVar("T")


async def allowed(call: Awaitable[T]) -> T | None:
    """The answer, or None when the caller may not have it (a denial); other errors are raised.  For what a page
    shows or decides as best it can: AWS's narrow console policies leave some reads out."""
    try:
        return await call
    except ServiceError as err:
        if err.denial is None:
            raise
        return None


@dataclass(slots=True)
class Caller:
    """Acts as the signed-in principal; one per browser request."""

    services: ConsoleServices
    principal: Principal
    origin: Origin
    session_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)

    # -- IAM -----------------------------------------------------------------------------------------------

    async def iam(self, action: str, **params: Any) -> dict[str, Any]:
        """``await caller.iam("CreateUser", UserName="alice", Tags=[{"Key": "k", "Value": "v"}])``: the
        parameters as boto3 takes them (flattened to the Query protocol's form), the result as a dict."""
        flat = {"Action": action, "Version": "2010-05-08", **flatten(params)}
        ctx = self._context("iam", _request("POST", "/", self.origin, body=urlencode(flat).encode()))
        try:
            _, result = await self.services.iam.invoke(ctx, flat)
        except Exception as exc:
            raise await self._refused(ctx, exc) from None
        self._audit(ctx, Response(200))
        return result or {}

    # -- S3 and CloudTrail: the service's own HTTP entry point -----------------------------------------------

    async def s3(self, method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None,
                 body: bytes | AsyncIterator[bytes] = b"", region: str | None = None) -> Response:
        """An S3 request (path style: ``/bucket/key``, query string without ``?``); errors raise
        ServiceError, success returns the Response (its body may be a stream: read it before returning).
        ``region``: the region the request is "sent to" (CreateBucket in another region, as AWS's console calls
        that region's endpoint); the server's by default."""
        # Path style, always: the Host is the API's own address, never the name the browser reached the console
        # by (at "photos.localhost" S3 would take "photos" for the bucket of a virtual-hosted-style request).
        settings = self.services.settings
        api_host = f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"
        request = _request(method, path, self.origin, query=query, headers={"host": api_host, **(headers or {})},
                           body=body)
        ctx = self._context("s3", request)
        if region:
            ctx.region = region
        return await self._handle(ctx, self.services.s3.handle)

    async def cloudtrail(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        headers = {"x-amz-target": f"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{operation}",
                   "content-type": "application/x-amz-json-1.1"}
        request = _request("POST", "/", self.origin, headers=headers, body=json.dumps(params).encode())
        response = await self._handle(self._context("cloudtrail", request), self.services.cloudtrail.handle)
        assert isinstance(response.body, bytes)
        found: dict[str, Any] = json.loads(response.body)
        return found

    async def _handle(self, ctx: Context, handler: Any) -> Response:
        try:
            response: Response = await handler(ctx)
        except Exception as exc:
            raise await self._refused(ctx, exc) from None
        self._audit(ctx, response)
        return response

    async def _refused(self, ctx: Context, exc: Exception) -> Exception:
        """An internal request's failure as the API would answer it (an AwsError, or a full disk's 507),
        audited, as a ServiceError; anything else is raised as it is (the console's pages log it)."""
        err = exc if isinstance(exc, AwsError) else storage_refusal(exc)
        if err is None:
            return exc
        self._audit(ctx, Response(err.status, error_code=err.code, error_message=err.message))
        return await self._error(err, ctx)

    # -- plumbing ------------------------------------------------------------------------------------------

    def _context(self, service: str, request: Request) -> Context:
        return Context(request, service, self.principal, None, None, self.services.settings.region,
                       session_keys=self.session_keys)

    def _audit(self, ctx: Context, response: Response) -> None:
        now = time.time()
        self.services.audit.record(capture(ctx.request, ctx, response, now, now))

    async def _error(self, err: AwsError, ctx: Context) -> ServiceError:
        denial = None
        if err.code in ("AccessDenied", "AccessDeniedException") and ctx.denied is not None:
            action, resource, evaluation = ctx.denied
            denial = await explain(self.services.authorizer, self.principal, action, resource, evaluation)
        return ServiceError(err.code, err.message, err.status, denial)


async def explain(authorizer: Authorizer, principal: Principal, action: str, resource: str,
                  evaluation: Evaluation) -> Denial:
    """The statements that decided a denial, with their text: read from the same compiled policies the
    Authorizer judged with (the caller's own identity policies and boundary, or the bucket policy)."""
    policies = await authorizer.principal_policies(principal)
    sources = list(policies.identity)
    boundary = policies.boundary
    if boundary is not None:
        sources.append(boundary)
    if resource.startswith("arn:aws:s3:::"):
        bucket_policy = await authorizer.bucket_policy(resource[len("arn:aws:s3:::"):].split("/", 1)[0])
        if bucket_policy is not None:
            sources.append(bucket_policy)
    found: list[tuple[PolicySource, str]] = []
    for matched in evaluation.matched:
        for src in sources:
            if src.source_id != matched.source_id:
                continue
            for st in src.policy.statements:
                if st.start == matched.start:
                    found.append((src, json.dumps(st.raw, indent=2)))
    # a bucket policy's users and roles are stored by unique id: shown by ARN, as GetBucketPolicy shows them
    texts = await principal_ids.shown(authorizer.meta.db.read, authorizer.account_id, [t for _, t in found])
    statements = tuple(DecidingStatement(src.arn or src.source_id, src.source_type, text)
                       for (src, _), text in zip(found, texts, strict=True))
    return Denial(action, resource, evaluation.decision, evaluation.reason, statements)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """boto3-style parameters → the Query protocol's flat form (``Tags.member.1.Key``); booleans as
    ``true``/``false``, None left out."""
    flat: dict[str, str] = {}
    for name, value in params.items():
        key = f"{prefix}{name}"
        if value is None:
            continue
        if isinstance(value, bool):
            flat[key] = "true" if value else "false"
        elif isinstance(value, Mapping):
            flat.update(flatten(value, key + "."))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value, 1):
                if isinstance(item, Mapping):
                    flat.update(flatten(item, f"{key}.member.{i}."))
                else:
                    flat[f"{key}.member.{i}"] = str(item)
        else:
            flat[key] = str(value)
    return flat


def _request(method: str, path: str, origin: Origin, *, query: str = "",
             headers: Mapping[str, str] | None = None, body: bytes | AsyncIterator[bytes] = b"") -> Request:
    """An internal request, as the edge would have parsed it from the browser's connection.  ``path`` is
    decoded (``/bucket/a key``); a streamed body needs its ``content-length`` in ``headers``."""
    all_headers = {"host": origin.host, "user-agent": origin.user_agent or CONSOLE_USER_AGENT}
    if isinstance(body, bytes):
        all_headers["content-length"] = str(len(body))
    all_headers.update(headers or {})
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": quote(path, safe="/~").encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in all_headers.items()],
        "client": (origin.client_ip, 0), "scheme": "https" if origin.secure else "http", "http_version": "1.1",
    }
    chunks = _chunks(body)

    async def receive() -> Message:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    return Request(scope, receive)


async def _chunks(body: bytes | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if isinstance(body, bytes):
        if body:
            yield body
        return
    async for chunk in body:
        if chunk:
            yield chunk
