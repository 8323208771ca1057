"""S3 REST: find the bucket and key, pick the operation from the table, authorize, run its handler.

Addressing (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html):
virtual-hosted style ``bucket.<domain>/key`` when the Host is a subdomain of ``localhost`` or of a
``--domain``; otherwise path style ``/bucket/key``.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from storeroom import clock
from storeroom.authz import ALLOWED, Authorizer
from storeroom.config import Settings
from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Request, Response
from storeroom.policy import Evaluation, PolicySource
from storeroom.s3 import access, acl, cors, encryption, object_lock, tagging, xml
from storeroom.s3.operations import CONTROL_ROW, SUBRESOURCES, Operation, match_operation
from storeroom.sigv4.auth import amz_epoch
from storeroom.sigv4.canonical import s3_path_bytes
from storeroom.sigv4.v2 import SIGNED_SUBRESOURCES
from storeroom.store.blob_backend import Blobs
from storeroom.store.meta import Bucket, MetaStore
from storeroom.store.versions import valid_version_id

if TYPE_CHECKING:
    from storeroom.identity import CredentialResolver

MAX_KEY_BYTES = 1024


class Version(enum.Enum):
    """Which version of an object an action is judged on, when the caller does not name one."""
    OF_THE_REQUEST = "the version the request's ?versionId= names, when the object is the request's own"


OF_THE_REQUEST = Version.OF_THE_REQUEST


@dataclass(slots=True)
class S3Call:
    """One S3 request on its way through a handler."""

    ctx: Context
    s3: S3Service
    operation: Operation
    bucket: str | None
    key: str | None
    _bucket_record: Bucket | None = field(default=None)

    @property
    def request(self) -> Request:
        return self.ctx.request

    @property
    def meta(self) -> MetaStore:
        return self.s3.meta

    @property
    def blobs(self) -> Blobs:
        return self.s3.blobs

    @property
    def args(self) -> dict[str, str]:
        return self.ctx.request.args

    @property
    def headers(self) -> dict[str, str]:
        return self.ctx.request.headers

    def bucket_arn(self, bucket: str | None = None) -> str:
        return f"arn:aws:s3:::{bucket or self.bucket}"

    def object_arn(self, key: str | None = None, bucket: str | None = None) -> str:
        return f"arn:aws:s3:::{bucket or self.bucket}/{self.key if key is None else key}"

    async def check(self, action: str, resource: str, bucket: str | None = None,
                    extra: Mapping[str, Sequence[str]] | None = None, *,
                    version: str | None | Version = OF_THE_REQUEST) -> Evaluation:
        """Judge ``action`` on ``resource`` with the caller's policies and the policy of ``bucket`` (default:
        the request's bucket), in this request's condition-key context (``extra``: keys a handler knows, such as
        the tags a PutObjectTagging body sets).  Past the policies: an object's existing tags when a policy in
        play asks for them (s3:ExistingObjectTag), Block Public Access's RestrictPublicBuckets, and ACL grants
        when the bucket has ACLs enabled (s3/acl.py, s3/access.py).

        ``version``: the object version the action is on (None: the current one) when it is not the one the
        request's own ``?versionId=`` names — a copy's source, an entry of DeleteObjects.  Its s3:VersionId,
        existing tags and ACL are then that version's: a ``?versionId=`` the caller adds to a request that does
        not take one must not stand in for the version actually read or deleted."""
        bucket = bucket or self.bucket
        authorizer = self.s3.authorizer
        bucket_policy = await authorizer.bucket_policy(bucket) if bucket else None
        principal = self.ctx.principal
        if bucket_policy is not None and principal.is_root and action in ROOT_KEEPS:
            bucket_policy = None  # a bucket policy cannot lock the account root out of the policy itself
        keys_of = s3_condition_keys if version is OF_THE_REQUEST else functools.partial(_keys_of_version, version)
        if principal.is_root and bucket_policy is None:
            return await authorizer.check(self.ctx, action, resource, extra, None, keys_of)
        if action.lower() in EXISTING_TAG_ACTIONS and await self._policies_read_tags(bucket_policy):
            extra = {**(extra or {}), **await self._existing_tags(resource, bucket, version)}
        verdict = await authorizer.check(self.ctx, action, resource, extra, bucket_policy, keys_of)
        if bucket is None or verdict.decision == "explicitDeny":
            return verdict
        if verdict.allowed:
            if principal.is_anonymous and bucket_policy is not None and await self._restricted(bucket, bucket_policy):
                return Evaluation("implicitDeny", "because public access is restricted by the RestrictPublicBuckets "
                                  "block public access setting")
            return verdict
        if await self._acl_allows(action, resource, bucket, version):
            self.ctx.acl_required = True
            return ALLOWED
        return verdict

    def _version_of(self, bucket: str, key: str, version: str | None | Version) -> str | None:
        """The version an action on ``bucket``/``key`` reads: ``version`` when named, else the request's
        ``?versionId=`` when the object is the request's own (a malformed one: the current version)."""
        if isinstance(version, Version):  # OF_THE_REQUEST
            version = self.args.get("versionId") if key == self.key and bucket == self.bucket else None
        return version if version is not None and valid_version_id(version) else None

    async def _policies_read_tags(self, bucket_policy: PolicySource | None) -> bool:
        """Whether a policy in play names s3:ExistingObjectTag (only then are the object's tags read)."""
        if bucket_policy is not None and bucket_policy.policy.names_existing_tags:
            return True
        principal = self.ctx.principal
        if principal.is_root or principal.is_anonymous:  # no identity policies of their own
            return False
        # a user's policies, or a role session's (the role's and its session policies)
        return (await self.s3.authorizer.principal_policies(principal)).names_existing_tags

    async def _existing_tags(self, resource: str, bucket: str | None,
                             version: str | None | Version) -> dict[str, Sequence[str]]:
        prefix = f"arn:aws:s3:::{bucket}/"
        if bucket is None or not resource.startswith(prefix):
            return {}
        key = resource[len(prefix):]
        version_id = self._version_of(bucket, key, version)
        record = await (self.meta.get_object(bucket, key) if version_id is None
                        else self.meta.get_version(bucket, key, version_id))
        if record is None or not record.tags:
            return {}
        return dict(tagging.condition_keys(record.tags, "s3:existingobjecttag"))

    async def _restricted(self, bucket: str, bucket_policy: PolicySource) -> bool:
        """RestrictPublicBuckets with a public policy: an anonymous caller gets nothing from it."""
        record = await self.meta.get_bucket(bucket)
        if record is None or not (await access.effective(self, record)).restrict_buckets:
            return False
        return access.policy_text_is_public(bucket_policy.policy.text)

    async def _acl_allows(self, action: str, resource: str, bucket: str, version: str | None | Version) -> bool:
        """An ACL grant of the bucket (bucket actions, and writes of new objects) or of the object."""
        lowered = action.lower()
        object_level = lowered in acl.OBJECT_ACL_ACTIONS
        if not object_level and lowered not in acl.BUCKET_ACL_ACTIONS:
            return False
        record = await self.meta.get_bucket(bucket)
        if record is None or not acl.acls_enabled(record):
            return False
        ignore = (await access.effective(self, record)).ignore_acls
        anonymous = self.ctx.principal.is_anonymous
        if not object_level:
            return acl.grants_allow(await acl.bucket_grants(self.meta, bucket), lowered, False, anonymous, ignore)
        key = resource[len(f"arn:aws:s3:::{bucket}/"):]
        version_id = self._version_of(bucket, key, version)
        obj = await (self.meta.get_object(bucket, key) if version_id is None
                     else self.meta.get_version(bucket, key, version_id))
        return obj is not None and acl.grants_allow(obj.acl, lowered, True, anonymous, ignore)

    async def require(self, action: str, resource: str, bucket: str | None = None,
                      extra: Mapping[str, Sequence[str]] | None = None, *,
                      version: str | None | Version = OF_THE_REQUEST) -> None:
        """AccessDenied unless the caller may perform ``action`` on ``resource`` (``version``: as ``check``)."""
        decision = await self.check(action, resource, bucket, extra, version=version)
        if not decision.allowed:
            raise access_denied(self.ctx, action, resource, decision)

    async def existing_bucket(self, *, any_region: bool = False) -> Bucket:
        """The bucket record, or NoSuchBucket. Also checks the signing region against the bucket's (unless
        ``any_region``: GetBucketLocation, which any regional endpoint answers)."""
        if self._bucket_record is None:
            assert self.bucket is not None
            record = await self.meta.get_bucket(self.bucket)
            if record is None:
                raise AwsError("NoSuchBucket", BucketName=self.bucket)
            self._bucket_record = record
            if not any_region:
                check_region(self.ctx, record.region)
        return self._bucket_record

    async def may_list_bucket(self) -> bool:
        """S3 answers 404 for a missing key only to callers allowed s3:ListBucket, else 403; judged with the key
        as ``s3:prefix``, so that a listing granted for a prefix counts for the keys in it (pgBackRest's and
        `storeroom grant --prefix`'s policies; what AWS does, as Ceph RGW found and matched)."""
        extra = {"s3:prefix": (self.key,)} if self.key is not None else None
        return (await self.check("s3:ListBucket", self.bucket_arn(), extra=extra)).allowed


# Actions on which s3:ExistingObjectTag/<key> is set (the Service Authorization Reference's list for S3)
EXISTING_TAG_ACTIONS = frozenset(a.lower() for a in (
    "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAcl", "s3:GetObjectVersionAcl", "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging", "s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging", "s3:PutObjectAcl", "s3:PutObjectVersionAcl", "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes", "s3:RestoreObject"))


# Condition keys S3 sets from request headers (https://docs.aws.amazon.com/service-authorization/latest/reference/
# list_amazons3.html#amazons3-policy-keys), and from the query string for listings.
_HEADER_KEYS = {
    "x-amz-acl": "s3:x-amz-acl",
    "x-amz-server-side-encryption": "s3:x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-copy-source": "s3:x-amz-copy-source",
    "x-amz-metadata-directive": "s3:x-amz-metadata-directive",
    "x-amz-storage-class": "s3:x-amz-storage-class",
    "x-amz-content-sha256": "s3:x-amz-content-sha256",
    "x-amz-grant-read": "s3:x-amz-grant-read",
    "x-amz-grant-write": "s3:x-amz-grant-write",
    "x-amz-grant-read-acp": "s3:x-amz-grant-read-acp",
    "x-amz-grant-write-acp": "s3:x-amz-grant-write-acp",
    "x-amz-grant-full-control": "s3:x-amz-grant-full-control",
    "x-amz-object-ownership": "s3:x-amz-object-ownership",
    "x-amz-object-lock-mode": "s3:object-lock-mode",
    "x-amz-object-lock-retain-until-date": "s3:object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold": "s3:object-lock-legal-hold",
}
# Conditional requests' keys (conditional-writes-enforce.html, conditional-delete-enforce.html): the headers of the
# operations that take them; s3:ObjectCreationOperation tells an s3:PutObject that makes the object from the steps
# of a multipart upload, which take no conditional headers.
_CONDITIONAL_OPERATIONS = frozenset({"PutObject", "CopyObject", "CompleteMultipartUpload", "DeleteObject"})
_CREATION = {"PutObject": "true", "CopyObject": "true", "CompleteMultipartUpload": "true", "PostObject": "true",
             "CreateMultipartUpload": "false", "UploadPart": "false", "UploadPartCopy": "false"}
_QUERY_KEYS = {"prefix": "s3:prefix", "delimiter": "s3:delimiter", "max-keys": "s3:max-keys",
               "versionId": "s3:versionid"}
ALL_BUCKETS = "arn:aws:s3:::*"
UNSIGNED_V2_SUBRESOURCES = SUBRESOURCES - SIGNED_SUBRESOURCES
ROOT_KEEPS = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})


# Headers of S3 Express One Zone's directory buckets, which general purpose buckets (all of Storeroom's) do not
# take: an append at an offset, deletes and aborts conditional on size or time.  The plain operation in their
# stead would overwrite or remove what the client meant to keep, so they are refused as S3 refuses what it does
# not implement.
_DIRECTORY_BUCKET_HEADERS = {
    "PutObject": ("x-amz-write-offset-bytes",),
    "DeleteObject": ("x-amz-if-match-last-modified-time", "x-amz-if-match-size"),
    "AbortMultipartUpload": ("x-amz-if-match-initiated-time",),
}


def _refuse_directory_bucket_headers(operation: str, headers: Mapping[str, str]) -> None:
    for header in _DIRECTORY_BUCKET_HEADERS.get(operation, ()):
        if header in headers:
            raise AwsError("NotImplemented", "A header you provided implies functionality that is not implemented",
                           Header=header)


def s3_condition_keys(ctx: Context) -> dict[str, Sequence[str]]:
    request = ctx.request
    keys: dict[str, Sequence[str]] = {"s3:resourceaccount": (ctx.principal.account_id,)}
    tls = request.scope.get("extensions", {}).get("tls", {}).get("tls_version")
    if tls:  # 0x0303 -> "1.2"
        keys["s3:tlsversion"] = (f"1.{tls - 0x0301}",)
    for header, key in _HEADER_KEYS.items():
        if header in request.headers:
            keys[key] = (request.headers[header],)
    for arg, key in _QUERY_KEYS.items():
        if arg in request.args:
            keys[key] = (request.args[arg],)
    operation = ctx.operation
    if operation in _CONDITIONAL_OPERATIONS:
        for header in ("if-match", "if-none-match"):
            if header in request.headers:
                keys["s3:" + header] = (request.headers[header],)
    creation = _CREATION.get(operation or "")
    if creation is not None:
        keys["s3:objectcreationoperation"] = (creation,)
    until = request.headers.get("x-amz-object-lock-retain-until-date")
    if until is not None:  # s3:object-lock-remaining-retention-days of the retention a write asks for
        until_ms = object_lock.parse_date(until)
        if until_ms is not None:
            keys["s3:object-lock-remaining-retention-days"] = object_lock.retention_keys(
                ("", until_ms), object_lock.now_ms())["s3:object-lock-remaining-retention-days"]
    tags = request.headers.get("x-amz-tagging")
    if tags is not None:
        try:
            keys.update(tagging.condition_keys(tagging.parse_header(tags), "s3:requestobjecttag"))
        except AwsError:
            pass  # the handler answers the header's fault
    if ctx.operation == "PostObject":  # a form's upload: "s3:authtype ... POST"
        if not ctx.principal.is_anonymous:
            keys["s3:signatureversion"] = (ctx.signature_version,)
            keys["s3:authtype"] = ("POST",)
    elif ctx.signed is not None:
        keys["s3:signatureversion"] = ("AWS4-HMAC-SHA256",)
        keys["s3:authtype"] = ("REST-QUERY-STRING" if ctx.signed.presigned else "REST-HEADER",)
        signed_at = amz_epoch(ctx.signed.amz_date)
        if signed_at is not None:  # milliseconds since the signature was made: how old a presigned URL may be
            keys["s3:signatureage"] = (str(max(int((clock.now() - signed_at) * 1000), 0)),)
    elif ctx.signature_version == "AWS":
        keys["s3:signatureversion"] = ("AWS",)
        keys["s3:authtype"] = ("REST-QUERY-STRING" if "Signature" in request.args else "REST-HEADER",)
        keys["s3:signatureage"] = ("0",)  # "In Signature Version 2, this value is always set to 0."
    return keys


def _keys_of_version(version: str | None, ctx: Context) -> dict[str, Sequence[str]]:
    """The request's condition keys for an action on ``version`` of an object (None: its current version)
    rather than on the one its ``?versionId=`` names: s3:VersionId is that version's, or absent."""
    keys = s3_condition_keys(ctx)
    keys.pop("s3:versionid", None)
    if version is not None:
        keys["s3:versionid"] = (version,)
    return keys


def access_denied(ctx: Context, action: str, resource: str, decision: Evaluation) -> AwsError:
    principal = ctx.principal
    if principal.is_anonymous:
        return AwsError("AccessDenied")
    return AwsError(
        "AccessDenied",
        f"User: {principal.arn} is not authorized to perform: {action} on resource: \"{resource}\" "
        f"{decision.reason}",
    )


def check_region(ctx: Context, bucket_region: str) -> None:
    """A request signed for another region than the bucket's is refused, naming the right region
    (botocore then re-signs for it: its S3RegionRedirector reads the ``Region`` element)."""
    signed = ctx.signed
    if signed is None or ctx.region == bucket_region:  # ctx.region: an empty signing region is the server's
        return
    wrong = signed.credential.region
    if signed.presigned:
        raise AwsError(
            "AuthorizationQueryParametersError",
            f"Error parsing the X-Amz-Credential parameter; the region '{wrong}' is wrong; expecting "
            f"'{bucket_region}'", Region=bucket_region,
        )
    raise AwsError(
        "AuthorizationHeaderMalformed",
        f"The authorization header is malformed; the region '{wrong}' is wrong; expecting '{bucket_region}'",
        Region=bucket_region,
    )


def _valid_utf8_path(raw_path: str) -> bool:
    """Keys are UTF-8; a path whose percent-escapes decode to anything else names no key."""
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def path_of(raw_path: str) -> str:
    """The decoded path of an S3 request whose wire path holds a ``+`` (ASGI's decoded path keeps it a plus):
    ``/b/my+file.txt`` is the key ``my file.txt`` — what the AWS console's object URLs and older s3cmd send."""
    return s3_path_bytes(raw_path).decode("utf-8", "replace")


class S3Service:
    def __init__(self, settings: Settings, meta: MetaStore, blobs: Blobs, account_id: str,
                 authorizer: Authorizer) -> None:
        self.settings = settings
        self.authorizer = authorizer
        self.meta = meta
        self.blobs = blobs
        self.account_id = account_id
        self.domains = ("localhost", *settings.domains)
        self.access_logging: Any = None  # s3/access_log.py's AccessLogging, once the app has made it
        self.cors = cors.CorsRules(meta)
        self.credentials: CredentialResolver | None = None  # the app's, for the signatures of POST forms

    def virtual_host_bucket(self, request: Request) -> str | None:
        """The bucket named by a ``bucket.<domain>`` Host header, if any."""
        host = request.headers.get("host", "").lower()  # host names are case-insensitive (RFC 3986 3.2.2)
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
        for domain in self.domains:
            if host.endswith("." + domain) and len(host) > len(domain) + 1:
                return host[: -len(domain) - 1]
        return None

    def address(self, request: Request) -> tuple[str | None, str | None]:
        """(bucket, key) of a request; key None for bucket-level requests, both None for the service."""
        bucket = self.virtual_host_bucket(request)
        if bucket is not None:
            return bucket, request.path[1:] or None
        path = request.path
        if path in ("", "/"):
            return None, None
        bucket, _, key = path[1:].partition("/")
        return bucket, key or None

    @staticmethod
    def refuse_unsigned_v2_subresources(request: Request) -> None:
        """A SigV2 request whose query names a sub-resource SigV2 does not sign (one newer than SigV2, such as
        ``publicAccessBlock``) is refused, as S3 refuses SigV2 for what it does not cover: the unsigned name would
        choose the operation, and a signed DeleteBucket or ListObjects could be replayed as another."""
        if not UNSIGNED_V2_SUBRESOURCES.isdisjoint(request.args):
            raise AwsError("InvalidRequest", "The authorization mechanism you have provided is not supported. "
                           "Please use AWS4-HMAC-SHA256.")

    def v2_resource_path(self, request: Request) -> str:
        """SigV2 signs the path with the bucket in it, also for virtual-hosted-style requests."""
        bucket = self.virtual_host_bucket(request)
        return request.raw_path if bucket is None else f"/{bucket}{request.raw_path}"

    async def handle(self, ctx: Context) -> Response:
        request = ctx.request
        if "+" in request.raw_path:
            request.path = path_of(request.raw_path)
        if "\ufffd" in request.path and not _valid_utf8_path(request.raw_path):
            raise AwsError("InvalidURI")
        bucket, key = self.address(request)
        if request.method == "OPTIONS":  # a browser's CORS preflight: no credentials, answered from the rules
            ctx.operation, ctx.bucket, ctx.key = "PreflightRequest", bucket, key
            return await cors.preflight(self, request)
        if key is not None and len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise AwsError("KeyTooLongError", Size=str(len(key.encode("utf-8", "surrogatepass"))),
                           MaxSizeAllowed=str(MAX_KEY_BYTES))
        control = access.control_operation(request.method, request.path, request.headers)
        if control is not None:  # S3 Control's account-level Block Public Access, on this endpoint
            ctx.operation = control
            return await access.handle_control(S3Call(ctx, self, CONTROL_ROW, None, None), control)
        operation = match_operation(request.method, bucket, key, request.args, request.headers)
        ctx.operation = operation.name
        ctx.bucket, ctx.key = bucket, key
        if operation.handler is None:
            raise AwsError("NotImplemented", f"The {operation.name} operation is not implemented by Storeroom.")
        self._check_expected_owner(request, operation, bucket)
        call = S3Call(ctx, self, operation, bucket, key)
        try:
            if bucket is not None and operation.name != "CreateBucket":
                # S3 tells anyone that a bucket does not exist (404 NoSuchBucket), and in which region it is,
                # before judging access: that is how a client tells a missing bucket from a forbidden one.
                await call.existing_bucket(any_region=operation.name == "GetBucketLocation")
            if operation.action:
                # ListBuckets is asked on arn:aws:s3:::* (what AWS's examples grant s3:ListAllMyBuckets on)
                resource = call.object_arn() if key is not None else (call.bucket_arn() if bucket else ALL_BUCKETS)
                # a request naming a version needs the version's own action (s3:GetObjectVersion …)
                action = operation.version_action if operation.version_action and "versionId" in request.args \
                    else operation.action
                await call.require(action, resource)
            if key is not None:
                encryption.check_request(operation.name, request.headers)
                _refuse_directory_bucket_headers(operation.name, request.headers)
            return encryption.answer(call, await operation.handler(call))
        except AwsError as err:
            # The bucket's region on a refusal (a wrong region, a denied caller): a HEAD's error has no body, and
            # botocore's region redirect and SDKs' bucket-region lookups (unsigned HEADs) read this header.
            if call._bucket_record is not None and err.status in (301, 400, 403):
                err.headers.setdefault("x-amz-bucket-region", call._bucket_record.region)
            raise

    def _check_expected_owner(self, request: Request, operation: Operation, bucket: str | None) -> None:
        """``x-amz-expected-bucket-owner``: "If the account ID that you provide does not match the actual owner
        of the bucket, the request fails with the HTTP status code 403 Forbidden (access denied)."
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html); likewise
        ``x-amz-source-expected-bucket-owner`` for the source of a copy.  Every bucket here is the account's."""
        headers = request.headers
        expected = headers.get("x-amz-expected-bucket-owner")
        if expected is not None and bucket is not None and operation.name != "CreateBucket" and (
                expected.strip() != self.account_id):
            raise AwsError("AccessDenied")
        source = headers.get("x-amz-source-expected-bucket-owner")
        if source is not None and operation.header == "x-amz-copy-source" and source.strip() != self.account_id:
            raise AwsError("AccessDenied")

    def error_response(self, err: AwsError, request: Request, host_id: str) -> Response:
        """S3's error shape: ``<Error><Code/><Message/>…<RequestId/><HostId/></Error>``."""
        bucket, key = None, None
        try:
            bucket, key = self.address(request)
        except Exception:  # noqa: BLE001 - an error about an unparseable request still gets rendered
            pass
        text = xml.readable  # an error echoes client input, which may hold what XML cannot carry
        extra = "".join(xml.tag(k, text(v)) for k, v in err.extra.items())
        if "Key" not in err.extra and err.code == "NoSuchKey" and key is not None:
            extra = xml.tag("Key", text(key)) + extra
        if "BucketName" not in err.extra and bucket and err.code in ("NoSuchBucket", "BucketNotEmpty",
                                                                   "BucketAlreadyOwnedByYou"):
            extra = xml.tag("BucketName", text(bucket)) + extra
        body = xml.document(
            "Error",
            # no <Resource>, which the old documentation shows: S3 writes none (LocalStack's AWS-recorded errors;
            # captured RequestTimeTooSkewed bodies, aws/aws-sdk-php#612, versity/versitygw#1514)
            xml.tag("Code", err.code) + xml.tag("Message", text(err.message)) + extra
            + xml.tag("RequestId", request.request_id)
            + xml.tag("HostId", host_id),
            namespace=False,
        )
        headers = [("content-type", "application/xml"), *err.headers.items()]
        return Response(err.status, headers, body, error_code=err.code)
