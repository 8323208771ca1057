"""POST Object: an HTML form's upload (what ``boto3``'s ``generate_presigned_post`` makes), streamed.

https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html -- "The POST operation adds an object to a
specified bucket by using HTML forms"; the request is ``multipart/form-data`` ("Bucket POST must be of the
enclosure-type multipart/form-data", else 412 PreconditionFailed), its fields stand for PutObject's headers, and
"The file or text content ... must be the last field in the form"; fields after it are ignored.

The body goes through python-multipart's streaming parser (the one Starlette uses): the fields before the file are
kept (at most 20 KB of them, S3's ``MaxPostPreDataLengthExceeded``), and once the file's part begins the form is
judged (storeroom/s3/post_policy.py: key, signature, policy, conditions), the signer authorized ``s3:PutObject``
on the object through the Authorizer, and the file's bytes stream into a blob as they arrive -- memory stays
flat whatever the file's size.  The object commits only once the whole body was read and its closing boundary
seen; a body that breaks off is ``MalformedPOSTRequest`` and leaves nothing behind.

The answer: ``success_action_redirect`` (or the older ``redirect``) that S3 can interpret is a 303 to it with
``bucket``, ``key`` and ``etag`` added; else ``success_action_status`` 200 (empty), 201 (a ``PostResponse``
document) or, by default, 204; ``ETag`` and ``Location`` headers with the object's URL.

The object is written as PutObject writes it: a version on a versioned bucket (``x-amz-version-id`` in the
answer), the ``acl`` field judged by the bucket's Object Ownership and Block Public Access, the ``tagging`` field
(an XML ``<Tagging>`` document) as the object's tags, which are ``s3:RequestObjectTag/<key>`` condition keys of
the ``s3:PutObject`` asked.

Deviations: with an S3 object-data backend (which must announce each blob's size) the file must be the form's
last field, as browsers and SDKs send it.  A form signed with temporary credentials carries their token in
``x-amz-security-token`` (covered by the policy, as S3 requires), checked as a signed request's (http/app.py).
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from storeroom import clock
from storeroom.checksums import Checksum
from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.s3 import encryption, object_lock, post_policy, tagging, xml
from storeroom.s3.acl import Grant, object_write_acl
from storeroom.s3.objects import checksum_headers, commit_object, object_headers, written_headers
from storeroom.s3.post_policy import Form, Size
from storeroom.s3.upload import DEFAULT_CHECKSUM, MAX_PUT_SIZE, content_md5, requested_checksum
from storeroom.store.blob_backend import Writer
from storeroom.store.blobs import Hasher
from storeroom.store.meta import Bucket, ObjectRecord
from storeroom.sts.assume import session_may_call

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

MAX_PRE_DATA = 20 * 1024  # the fields before the file
MAX_KEY_BYTES = 1024


def malformed() -> AwsError:
    return AwsError("MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.",
                    400)


@dataclass(slots=True)
class Parts:
    """python-multipart's events, gathered: the fields before the file, then the file's data as it comes."""

    parser: MultipartParser = field(init=False)
    fields: list[tuple[str, str]] = field(default_factory=list)
    filename: str | None = None
    file_started: bool = False
    file_done: bool = False
    ended: bool = False
    data: list[bytes] = field(default_factory=list)
    _kind: str = ""                     # the current part: "field", "file" or "ignored"
    _name: str = ""
    _value: bytearray = field(default_factory=bytearray)
    _header: bytearray = field(default_factory=bytearray)
    _header_value: bytearray = field(default_factory=bytearray)
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _pre_data: int = 0

    def start(self, boundary: bytes) -> None:
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_val, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_end": self._end})

    def _part_begin(self) -> None:
        self._headers.clear()
        self._value.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header).strip().lower()] = bytes(self._header_value).strip()
        self._header.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if self.file_started:
            if name is not None and name.lower() == b"file":  # a second file (<input type=file multiple>)
                raise AwsError("InvalidArgument", "POST requires exactly one file upload per request.",
                               ArgumentName="file", ArgumentValue="2")
            self._kind = "ignored"  # "Any fields below [the file] are ignored"
            return
        if disposition != b"form-data" or name is None:
            raise malformed()
        self._name = _text(name)
        if self._name.lower() == "file":
            self._kind, self.file_started = "file", True
            filename = options.get(b"filename")
            self.filename = None if filename is None else _text(filename)
        else:
            self._kind = "field"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._kind == "file":
            self.data.append(data[start:end])
        elif self._kind == "field":
            self._pre_data += end - start
            if self._pre_data > MAX_PRE_DATA:
                raise AwsError("MaxPostPreDataLengthExceeded", "Your POST request fields preceding the upload "
                               "file were too large.", 400, MaxPostPreDataLength=str(MAX_PRE_DATA))
            self._value += data[start:end]

    def _part_end(self) -> None:
        if self._kind == "field":
            self.fields.append((self._name, _text(bytes(self._value))))
        elif self._kind == "file":
            self.file_done = True
        self._kind = "ignored"

    def _end(self) -> None:
        self.ended = True

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError:
            raise malformed() from None

    def feed_lines(self, chunk: bytes) -> int:
        """Feeds ``chunk`` line by line until the file's part has begun (its headers end with a line), and
        returns how many bytes were fed: the file's data then starts exactly there, which tells its size from
        Content-Length (an S3 backend must announce it)."""
        pos = 0
        while not self.file_started and pos < len(chunk):
            newline = chunk.find(b"\n", pos)
            end = len(chunk) if newline < 0 else newline + 1
            self.feed(chunk[pos:end])
            pos = end
        return pos

    def take_data(self) -> list[bytes]:
        data, self.data = self.data, []
        return data


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed() from None


def _boundary(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise AwsError("PreconditionFailed", Condition="Bucket POST must be of the enclosure-type "
                       "multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 70:
        raise malformed()
    return boundary


@dataclass(slots=True)
class _Upload:
    """The form's verdict and the blob its file goes into."""

    form: Form
    key: str
    headers: dict[str, str]
    size: Size
    writer: Writer
    md5: hashlib._Hash
    checksum: Checksum
    expected_checksum: str | None
    estimate: int
    tags: dict[str, str] | None = None
    acl: list[Grant] | None = None
    lock: object_lock.WriteLock = field(default_factory=object_lock.WriteLock)
    received: int = 0

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.size.high is not None and self.received > self.size.high:
            raise AwsError("EntityTooLarge", ProposedSize=str(max(self.estimate, self.received)),
                           MaxSizeAllowed=str(self.size.high))
        if self.received > MAX_PUT_SIZE:
            raise AwsError("EntityTooLarge", ProposedSize=str(max(self.estimate, self.received)),
                           MaxSizeAllowed=str(MAX_PUT_SIZE))
        try:
            await self.writer.write(data)
        except AwsError as err:
            raise _sized(err) from None

    async def commit(self) -> None:
        try:
            await self.writer.commit(self.check)
        except AwsError as err:
            raise _sized(err) from None

    def check(self) -> None:
        """Once every byte was hashed, before the blob is durable: the size range and the digests sent."""
        if self.received < self.size.low:
            raise AwsError("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                           ProposedSize=str(self.received), MinSizeAllowed=str(self.size.low))
        expected_md5 = content_md5(self.headers)
        if expected_md5 is not None and self.md5.digest() != expected_md5:
            raise AwsError("BadDigest", ExpectedDigest=self.headers["content-md5"],
                           CalculatedDigest=base64.b64encode(self.md5.digest()).decode())
        if self.expected_checksum is not None and self.expected_checksum != self.checksum.b64digest():
            raise AwsError("BadDigest", f"The {self.checksum.algorithm} you specified did not match the "
                           "calculated checksum.")


def _sized(err: AwsError) -> AwsError:
    """A blob store that was told the file's size (an S3 backend) and got another: the body did not end with the
    file and its closing boundary as Content-Length said."""
    return malformed() if err.code == "IncompleteBody" else err


async def post_object(call: S3Call) -> Response:
    """POST /bucket with a form: stream the body, judge the form when its file begins, store the file."""
    bucket = await call.existing_bucket()
    request = call.request
    boundary = _boundary(call.headers.get("content-type", ""))
    length_header = call.headers.get("content-length")
    if length_header is None or not length_header.strip().isdigit():
        raise AwsError("MissingContentLength")
    length = int(length_header)
    parts = Parts()
    parts.start(boundary)
    closing = len(b"\r\n--" + boundary + b"--\r\n")
    fed = 0
    upload: _Upload | None = None
    try:
        async for chunk in request.stream():
            pos = 0
            if not parts.file_started:
                pos = parts.feed_lines(chunk)
                fed += pos
                if parts.file_started:  # its data starts where the fed bytes end: the file's size is known
                    upload = await _begin(call, bucket, parts, length - fed - closing)
            if pos < len(chunk):
                parts.feed(chunk[pos:] if pos else chunk)
                fed += len(chunk) - pos
            if upload is not None:
                for data in parts.take_data():
                    await upload.write(data)
        try:
            parts.parser.finalize()
        except MultipartParseError:
            raise malformed() from None
        if not parts.file_started:
            raise AwsError("InvalidArgument", "POST requires exactly one file upload per request.",
                           ArgumentName="file", ArgumentValue="0")
        if not (parts.file_done and parts.ended) or upload is None:
            raise malformed()
        await upload.commit()
    except BaseException:
        if upload is not None:
            upload.writer.discard()
        raise
    return await _store(call, bucket, upload)


async def _begin(call: S3Call, bucket: Bucket, parts: Parts, estimate: int) -> _Upload:
    """The form is complete up to its file: judge it, authorize the signer, open the blob."""
    assert call.bucket is not None
    form = Form(parts.fields, parts.filename)
    key = form.get("key")
    if not key:
        raise post_policy.missing("key")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise AwsError("KeyTooLongError", Size=str(len(key.encode())), MaxSizeAllowed=str(MAX_KEY_BYTES))
    size = await _authenticate(call, form, bucket.region)
    call.key = call.ctx.key = key
    headers = post_policy.upload_headers(form)
    _headers_stand_for_fields(call, headers)
    encryption.check_request("PostObject", call.headers)  # the form's encryption fields, as PutObject's headers
    tagging_field = form.get("tagging")
    tags = None if tagging_field is None else tagging.form_tags(tagging_field)
    # as for PutObject's x-amz-tagging: the tags are the request's s3:RequestObjectTag/<key> condition keys
    await call.require("s3:PutObject", call.object_arn(key),
                       extra=tagging.condition_keys(tags, "s3:requestobjecttag") if tags else None)
    acl = await object_write_acl(call, bucket)
    lock = await object_lock.requested(call, bucket, headers)  # the x-amz-object-lock-* fields
    object_headers(headers)  # MetadataTooLarge, InvalidStorageClass: before any byte is stored
    algorithm, expected = requested_checksum(headers, DEFAULT_CHECKSUM)
    assert algorithm is not None
    md5, checksum = hashlib.md5(), Checksum(algorithm)
    hashers: list[Hasher] = [md5, checksum]
    writer = call.blobs.new_writer(hashers, max(estimate, 0))
    return _Upload(form, key, headers, size, writer, md5, checksum, expected, estimate, tags, acl, lock)


async def _authenticate(call: S3Call, form: Form, region: str) -> Size:
    """Who signed the form (the request then acts as them), and what its policy allows; anonymous without one."""
    signed = post_policy.signature_of(form, region)
    if signed is None:
        return Size()
    resolver = call.s3.credentials
    if resolver is None:
        raise AwsError("InvalidAccessKeyId", AWSAccessKeyId=signed.access_key_id)
    token = form.get("x-amz-security-token")
    session_keys: dict[str, tuple[str, ...]] | None = None
    if token is not None:  # temporary credentials (STS, share links): as a signed request's (http/app.py)
        temporary = await resolver.resolve_temporary(signed.access_key_id, token, clock.now())
        if temporary is None:
            raise AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        secret, principal, session_keys = temporary
    else:
        found = await resolver.resolve(signed.access_key_id)
        if found is None:
            raise AwsError("InvalidAccessKeyId", AWSAccessKeyId=signed.access_key_id)
        secret, principal = found
    post_policy.verify(signed, secret)
    if principal.session is not None:  # the signature first, then the session's expiry and scope
        principal.session.check(clock.now())
        if principal.session.services and "s3" not in principal.session.services:
            raise AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        session_may_call(principal, "s3", None)
    ctx = call.ctx
    ctx.principal, ctx.signature_version, ctx.secret = principal, signed.version, secret
    ctx.session_keys = session_keys
    resolver.note_used(signed.access_key_id, "s3", region)
    assert call.bucket is not None
    policy = post_policy.read_policy(signed.policy)
    return post_policy.check_policy(policy, form, call.bucket, time.time(), signed)


def _headers_stand_for_fields(call: S3Call, headers: dict[str, str]) -> None:
    """The form's x-amz-* fields are the upload's headers, for its ACL check and the policies' condition keys
    (s3:x-amz-acl, ...); a request header saying otherwise is refused, as S3 refuses it."""
    request_headers = call.headers
    for name, value in headers.items():
        if not name.startswith("x-amz-"):
            continue
        sent = request_headers.get(name)
        if sent is not None and sent.strip() != value:
            raise AwsError("InvalidRequest", "Conflicting values provided in HTTP headers and POST form fields.")
        request_headers[name] = value


async def _store(call: S3Call, bucket: Bucket, upload: _Upload) -> Response:
    assert call.bucket is not None
    algorithm = upload.checksum.algorithm
    checksum = {"algorithm": algorithm, "value": upload.checksum.b64digest(), "type": "FULL_OBJECT"}
    record = ObjectRecord(call.bucket, upload.key, upload.received, upload.md5.hexdigest(), time.time(),
                          [(upload.writer.blob_id, upload.received)], object_headers(upload.headers), checksum,
                          tags=upload.tags, acl=upload.acl)
    object_lock.apply(record, object_lock.with_default(upload.lock, bucket))
    await commit_object(call, record)
    return _answer(call, upload.form, record, written_headers(bucket, record))


def _answer(call: S3Call, form: Form, record: ObjectRecord, written: list[tuple[str, str]]) -> Response:
    """S3's answer, with PutObject's ``x-amz-version-id`` (on a versioned bucket) and ``x-amz-expiration``
    (RESTObjectPOST.html lists both among the response headers)."""
    redirect = form.get("success_action_redirect") or form.get("redirect")
    if redirect:
        url = post_policy.redirect_to(redirect, record.bucket, record.key, record.etag)
        if url is not None:
            return Response(303, [("location", url), *written])
    host = call.headers.get("host", "localhost")
    virtual = call.s3.virtual_host_bucket(call.request) is not None
    location = post_policy.object_location("https" if call.request.secure else "http", host, record.bucket,
                                           record.key, virtual)
    headers = [("etag", record.quoted_etag), ("location", location), *checksum_headers(record.checksum), *written]
    status = form.get("success_action_status")
    if status == "201":
        body = xml.document("PostResponse", xml.tag("Location", location) + xml.tag("Bucket", record.bucket)
                            + xml.tag("Key", record.key) + xml.tag("ETag", record.quoted_etag), namespace=False)
        return Response(201, [("content-type", "application/xml"), *headers], body)
    return Response(200 if status == "200" else 204, headers)
