"""Object data on any S3-compatible store (``--blobs s3://bucket/prefix``): SeaweedFS, Ceph RGW, Garage, MinIO,
AWS S3.  Storeroom keeps the metadata (IAM, the object index, audit); the backend keeps the bytes.

Layout under the prefix: a PutObject's blob is the backend object ``<prefix><32 hex>``; a multipart upload is
*one* backend multipart upload of ``<prefix><40 hex>`` (time-ordered), created by CreateMultipartUpload, whose
part N our part N is (UploadPart streams into the backend's UploadPart, 1:1, so the clients' part sizes --
5 MiB at least but for the last, which S3 clients already obey -- are the backend's), and which
CompleteMultipartUpload completes on the backend before the object's row commits: no byte is copied twice.

Ids.  A multipart upload's id names its backend upload: ``<40 hex>.<backend upload id>`` (or ``~`` and the
backend's id in base64url when it has characters other than unreserved ones), so any node can continue it with
no lookup.  A part's blob id is ``<40 hex>.<part number>.<backend ETag>``; the completed object's row lists
these same ids (the metadata checks a completion against its parts by id), and a read maps them to byte
ranges of the one backend object: part N starts where parts before it in the row end.  Ids without dots are
whole backend objects (PutObject, CopyObject, and uploads begun before the data moved to this backend: their
parts are separate backend objects, which reads concatenate).

Writes.  The body streams to the backend as it arrives, a megabyte at a time, hashed on the thread pool as the
local store does; the last buffer is held back until ``check`` (the request's digests) has passed, so the
backend completes the object -- and acknowledges it durable -- only for a verified body, and a failed upload
leaves nothing (S3 stores nothing of a PUT that ended short).  The backend's ETag is then compared with the MD5
computed on the way (it is the MD5 of the bytes stored for a PUT or a part on every backend named above).
Memory per upload stays at a few megabytes whatever the object's size.

Reads.  Small ranges are one GET (with the small-blob cache in front); large ones stream from a GET whose
answer has begun before the response starts (a missing object is FileNotFoundError then, as with files);
client ranges become backend ranges.

Freeing.  Deletions run :data:`~storeroom.store.blob_backend.DELETE_DELAY` seconds after the row went (a GET on
another node may still be streaming the object); the sweep at start removes unreferenced objects and aborts
multipart uploads no row knows, both only when older than the grace period.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp

from storeroom.errors import AwsError
from storeroom.randomness import random_hex
from storeroom.store.blob_backend import BackendError
from storeroom.store.blobs import (
    INLINE_READ_MAX,
    SMALL_BLOB_MAX,
    SMALL_CACHE_BYTES,
    DeferredDeletes,
    Hasher,
    file_md5,
)
from storeroom.store.s3_client import S3Client, S3Target, error_of, range_header

log = logging.getLogger("storeroom")

WRITE_BUFFER = 1024 * 1024
READ_CHUNK = 1024 * 1024
INLINE_HASH_MAX = 64 * 1024      # a last buffer this small is hashed on the loop, not worth a thread hop
HEALTH_CACHE = 2.0               # seconds a health probe's answer is reused
MAX_BACKEND_COPY = 5 * 1024 ** 3  # S3's largest CopyObject (larger ones need a multipart copy)
ACCOUNT_MARKER = "storeroom-account"

_UPLOAD_ID = re.compile(r"([0-9a-f]{40})([.~])(.+)")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")
_SHAPE = re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}")
_MD5 = re.compile(r"[0-9a-f]{32}")


def encode_upload_id(base: str, backend_id: str) -> str:
    if _UNRESERVED.fullmatch(backend_id):
        return f"{base}.{backend_id}"
    return f"{base}~{base64.urlsafe_b64encode(backend_id.encode()).decode().rstrip('=')}"


def decode_upload_id(upload_id: str) -> tuple[str, str] | None:
    """(40-hex base, backend upload id) of an upload made on this backend; None for another kind."""
    m = _UPLOAD_ID.fullmatch(upload_id)
    if m is None:
        return None
    base, mode, rest = m.groups()
    if mode == ".":
        return base, rest
    try:
        return base, base64.urlsafe_b64decode(rest + "=" * (-len(rest) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


class S3BlobStore:
    def __init__(self, target: S3Target, *, delete_delay: float = 0.0, sweep_grace: float = 0.0) -> None:
        self.target = target
        self.client = S3Client(target)
        self.prefix = target.prefix
        self.description = target.description
        self.sweep_grace = sweep_grace
        self._deferred = DeferredDeletes(delete_delay, self._delete_keys)
        self._small: dict[str, bytes] = {}  # insertion-ordered: a FIFO cache of small blobs
        self._small_bytes = 0
        self._health: tuple[float, str | None] = (0.0, None)

    def key_of(self, blob_id: str) -> str:
        """The backend object holding a blob: its own, or for a multipart part its upload's."""
        return self.prefix + blob_id.partition(".")[0]

    # -- writing -----------------------------------------------------------------------------------------

    def new_writer(self, hashers: Sequence[Hasher] = (), size: int | None = None) -> S3Writer:
        assert size is not None, "the S3 backend streams uploads: their size must be known"
        blob_id = random_hex(16)
        return S3Writer(self, self.prefix + blob_id, hashers, size, blob_id=blob_id)

    async def create_upload(self, upload_id: str) -> str:
        base = f"{time.time_ns():016x}{random_hex(12)}"
        try:
            backend_id = await self.client.create_upload(self.prefix + base)
        except BackendError as exc:
            raise _unavailable(exc) from None
        return encode_upload_id(base, backend_id)

    def part_writer(self, upload_id: str, part_number: int, hashers: Sequence[Hasher], size: int) -> S3Writer:
        decoded = decode_upload_id(upload_id)
        if decoded is None:  # an upload begun on another store: its parts are objects of their own
            return self.new_writer(hashers, size)
        base, backend_id = decoded
        return S3Writer(self, self.prefix + base, hashers, size,
                        query=[("partNumber", str(part_number)), ("uploadId", backend_id)],
                        part_prefix=f"{base}.{part_number}.", upload_id=upload_id)

    async def complete_upload(self, upload_id: str, parts: Sequence[tuple[str, int]]) -> None:
        """Completes the backend upload with exactly these parts, then checks the backend made the object of
        the bytes the rows describe: its ETag must be the MD5 of the parts' MD5s (when those are MD5s) --
        a part uploaded twice at once could otherwise leave the backend's part N another upload's bytes."""
        decoded = decode_upload_id(upload_id)
        if decoded is None:
            return
        base, backend_id = decoded
        numbered = [_part_of(blob_id) for blob_id, _ in parts]
        key = self.prefix + base
        try:
            try:
                etag = await self.client.complete_upload(key, backend_id, numbered)
            except BackendError as exc:
                if exc.code != "NoSuchUpload":
                    raise
                head = await self.client.head(key)  # completed before (a retried Complete)? then it is there
                if head is None:
                    raise
                etag = head.get("ETag", "").strip('"')
        except BackendError as exc:
            if exc.code in ("InvalidPart", "InvalidPartOrder", "NoSuchUpload", "EntityTooSmall"):
                log.warning("object data store refused completing %s: %s", base, exc)
                raise AwsError("InvalidPart", "The object data store refused the parts; abort the upload and "
                               "start again.", UploadId=upload_id) from None
            raise _unavailable(exc) from None
        expected = _multipart_etag([etag_ for _, etag_ in numbered])
        if expected is not None and etag != expected:
            raise AwsError("InvalidPart", "A part was uploaded again while the upload was being completed, and "
                           "the object data store kept other bytes than listed; abort the upload and start again.",
                           UploadId=upload_id)

    async def abort_upload(self, upload_id: str, part_ids: Sequence[str]) -> None:
        decoded = decode_upload_id(upload_id)
        if decoded is None:
            self.delete(part_ids)
            return
        base, backend_id = decoded
        try:
            await self.client.abort_upload(self.prefix + base, backend_id)
            # A completion that reached the backend but whose row never committed left the object there.
            await self.client.delete(self.prefix + base)
        except BackendError as exc:
            # The rows are gone, so the abort happened; what the backend still holds no row knows, and the sweep
            # of a later start removes it.
            log.warning("could not abort backend upload %s (removed by a later sweep): %s", base, exc)

    # -- freeing -----------------------------------------------------------------------------------------

    def delete(self, blob_ids: Iterable[str], keep: Iterable[tuple[str, int]] = ()) -> None:
        kept = {self.key_of(blob_id) for blob_id, _ in keep}
        keys = sorted({self.key_of(blob_id) for blob_id in blob_ids} - kept)
        if keys:
            self._deferred.add(keys)

    def discard_parts(self, blob_ids: Iterable[str]) -> None:
        """A backend part cannot be deleted on its own (the backend drops it at completion or abort); parts
        that are objects of their own (uploads from another store) are."""
        self.delete(blob_id for blob_id in blob_ids if "." not in blob_id)

    async def _delete_keys(self, keys: list[str]) -> None:
        await self.client.delete_many(keys)

    def delete_now(self, key: str) -> None:
        """Remove an object of a failed upload (no row ever referred to it; nobody reads it)."""
        self._deferred.now([key])

    # -- reading -----------------------------------------------------------------------------------------

    async def open_range(self, blobs: list[tuple[str, int]], start: int,
                         end: int) -> bytes | S3Reader:
        spans = self._spans(blobs, start, end)
        try:
            if end - start <= INLINE_READ_MAX:
                return b"".join([await self._read_small(span) for span in spans])
            reader = S3Reader(self.client, spans)
            await reader.open_first()
            return reader
        except BackendError as exc:
            raise _unavailable(exc) from None

    def _spans(self, blobs: list[tuple[str, int]], start: int, end: int) -> list[Span]:
        """(key, start, end in the backend object, blob id, blob size, start and end in the blob)."""
        spans: list[Span] = []
        offsets: dict[str, int] = {}  # where the next blob of each backend object starts in it
        position = 0
        for blob_id, size in blobs:
            key = self.key_of(blob_id)
            base = offsets.get(key, 0)
            offsets[key] = base + size
            lo, hi = max(start - position, 0), min(end - position, size)
            position += size
            if lo < hi:
                whole = size if "." not in blob_id else -1  # the backend object's size, when it is the blob's
                spans.append(Span(key, base + lo, base + hi, blob_id, size, lo, hi, whole))
        return spans

    async def _read_small(self, span: Span) -> bytes:
        """A span of a small read; blobs of at most SMALL_BLOB_MAX bytes are cached whole (ids are immutable)."""
        if span.size > SMALL_BLOB_MAX:
            return await self._get(span.key, span.start, span.end, span.whole)
        cache = self._small
        data = cache.get(span.blob_id)
        if data is None:
            first = span.start - span.lo
            data = await self._get(span.key, first, first + span.size, span.whole)
            cache[span.blob_id] = data
            self._small_bytes += span.size
            while self._small_bytes > SMALL_CACHE_BYTES:
                self._small_bytes -= len(cache.pop(next(iter(cache))))  # oldest first
        return data if (span.lo, span.hi) == (0, span.size) else data[span.lo:span.hi]

    async def _get(self, key: str, start: int, end: int, whole: int) -> bytes:
        if whole >= 0 and (start, end) == (0, whole):
            data = await self.client.get_bytes_whole(key)
            if len(data) != whole:
                raise OSError(f"backend object {key} is not of the size recorded")
            return data
        return await self.client.get_bytes(key, start, end)

    # -- migration ---------------------------------------------------------------------------------------

    async def copy_blob(self, blob_id: str, size: int) -> str | None:
        """The backend's own CopyObject: the bytes stay in the backend.  Not for a part of a multipart backend
        object (a range of it), nor past S3's 5 GiB for one copy; a backend that refuses copies (or fails) is
        read and written instead."""
        if "." in blob_id or size > MAX_BACKEND_COPY:
            return None
        new_id = random_hex(16)
        try:
            await self.client.copy(self.key_of(blob_id), self.key_of(new_id))
        except BackendError as exc:
            log.warning("backend copy of blob %s failed (%s): copying through this node instead", blob_id, exc)
            return None
        return new_id

    async def import_blob(self, blob_id: str, source_path: str, size: int) -> bool:
        """Copy a blob in from a file as the object ``<prefix><id>`` (storeroom/store/blob_migration.py); False
        when it is there already with the same size and MD5.  Sent with Content-MD5, checked against the ETag."""
        md5 = await asyncio.get_running_loop().run_in_executor(None, file_md5, source_path)
        key = self.key_of(blob_id)
        head = await self.client.head(key)
        if head is not None and int(head.get("Content-Length", "-1")) == size and md5.hex() in (
                head.get("ETag", "").strip('"'), head.get("x-amz-meta-storeroom-md5")):
            return False
        etag = await self.client.put_file(key, source_path, size, md5)
        if _MD5.fullmatch(etag) and etag != md5.hex():
            raise OSError(f"the backend stored other bytes for {key} than {source_path} holds")
        return True

    # -- start, health, end ------------------------------------------------------------------------------

    async def prepare(self, account_id: str, *, stored: bool = False) -> None:
        """The bucket must answer; the prefix records the account it belongs to (a second deployment pointed
        at it by mistake would take this one's blobs for orphans)."""
        try:
            await self.client.head_bucket()
        except BackendError as exc:
            reason = {0: f"cannot reach {self.target.endpoint} ({exc.message})",
                      404: f"there is no bucket {self.target.bucket!r} at {self.target.endpoint}",
                      403: "access denied: check STOREROOM_BLOBS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY (and _REGION)",
                      301: f"the bucket is in another region than {self.target.region!r} (STOREROOM_BLOBS_REGION)",
                      }.get(exc.status, str(exc))
            raise ValueError(reason) from None
        key = self.prefix + ACCOUNT_MARKER
        try:
            owner = (await self.client.get_bytes_whole(key)).decode().strip()
        except FileNotFoundError:
            await self.client.put_bytes(key, account_id.encode(), {"content-type": "text/plain"})
            return
        if owner != account_id:
            raise ValueError(f"the blob store {self.description} belongs to account {owner}, not to this one "
                             f"({account_id}): nodes sharing blobs must share their metadata too")

    async def sweep(self, referenced: Iterable[str], upload_exists: Callable[[str], bool]) -> int:
        cutoff = time.time() - self.sweep_grace
        old = [key async for key, _, modified in self.client.list_objects(self.prefix)
               if modified < cutoff and _SHAPE.fullmatch(key[len(self.prefix):])]
        uploads = [(key, upload) async for key, upload, initiated in self.client.list_uploads(self.prefix)
                   if initiated < cutoff and len(key) == len(self.prefix) + 40 and _SHAPE.fullmatch(
                       key[len(self.prefix):])]
        keep = {self.key_of(blob_id) for blob_id in referenced}
        orphans = [key for key in old if key not in keep]
        await self.client.delete_many(orphans)
        stale = [(key, upload) for key, upload in uploads
                 if not upload_exists(encode_upload_id(key[len(self.prefix):], upload))]
        for key, upload in stale:
            await self.client.abort_upload(key, upload)
        return len(orphans) + len(stale)

    async def health(self) -> str | None:
        checked, answer = self._health
        now = time.monotonic()
        if now - checked < HEALTH_CACHE:
            return answer
        try:
            async with asyncio.timeout(2.0):
                await self.client.head_bucket()
            answer = None
        except (BackendError, TimeoutError) as exc:  # (a TimeoutError says nothing of itself)
            answer = f"object store backend {self.description}: {exc or 'no answer within 2 s'}"
        self._health = (now, answer)
        return answer

    async def close(self) -> None:
        await self._deferred.flush()
        await self.client.close()


class Span:
    __slots__ = ("key", "start", "end", "blob_id", "size", "lo", "hi", "whole")

    def __init__(self, key: str, start: int, end: int, blob_id: str, size: int, lo: int, hi: int,
                 whole: int) -> None:
        self.key, self.start, self.end, self.blob_id = key, start, end, blob_id
        self.size, self.lo, self.hi, self.whole = size, lo, hi, whole


def _part_of(blob_id: str) -> tuple[int, str]:
    """(part number, backend ETag) of a part's blob id."""
    _, number, etag = blob_id.split(".", 2)
    return int(number), etag


def _multipart_etag(etags: Sequence[str]) -> str | None:
    """S3's ETag of a multipart object: MD5 of the parts' binary MD5s, then ``-N``; None unless every part's
    ETag is an MD5."""
    if not all(_MD5.fullmatch(e) for e in etags):
        return None
    return hashlib.md5(b"".join(bytes.fromhex(e) for e in etags), usedforsecurity=False).hexdigest() + \
        f"-{len(etags)}"


def _unavailable(exc: BaseException) -> AwsError:
    """What a client is told when the backend failed: 503, which SDKs retry.  The backend's own words (its
    address among them) go to the log, not to the client."""
    log.warning("object data store: %s", exc)
    return AwsError("ServiceUnavailable", "The object data store is unavailable; please try again.")


class S3Reader:
    """Streams spans of backend objects, a megabyte at a time; one backend GET per span (adjacent spans of
    one backend object -- a multipart object's parts -- are one GET)."""

    def __init__(self, client: S3Client, spans: list[Span]) -> None:
        self._client = client
        self._spans = _merged(spans)
        self._index = 0
        self._response: aiohttp.ClientResponse | None = None
        self._left = 0

    async def open_first(self) -> None:
        await self._open(self._spans[0])

    async def _open(self, span: Span) -> None:
        try:
            response = await self._client.open("GET", span.key, headers=range_header(
                span.start, span.end, span.whole if span.whole >= 0 else -1))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BackendError(0, "ConnectionError", str(exc)) from None
        if response.status not in (200, 206):
            data = await response.read()
            response.release()
            if response.status == 404:
                raise FileNotFoundError(span.key)
            raise error_of(response.status, data)
        self._response, self._left = response, span.end - span.start

    def __aiter__(self) -> S3Reader:
        return self

    async def __anext__(self) -> bytes:
        while self._index < len(self._spans):
            if self._response is None:
                await self._open(self._spans[self._index])
            assert self._response is not None
            if self._left > 0:
                try:
                    chunk = await self._response.content.readexactly(min(READ_CHUNK, self._left))
                except asyncio.IncompleteReadError:
                    await self.aclose()
                    raise OSError(f"backend object {self._spans[self._index].key} is shorter than recorded") \
                        from None
                self._left -= len(chunk)
                return chunk
            self._response.release()
            self._response = None
            self._index += 1
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._response is not None:
            self._response.close()  # unread bytes may follow: the connection is not reused
            self._response = None
        self._index = len(self._spans)

    def __del__(self) -> None:  # a reader dropped without being read (the response never started)
        self._close()


def _merged(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for span in spans:
        last = out[-1] if out else None
        if last is not None and last.key == span.key and last.end == span.start:
            out[-1] = Span(last.key, last.start, span.end, last.blob_id, last.size, last.lo, last.hi, -1)
        else:
            out.append(span)
    return out


class S3Writer:
    """One new backend object (or part), streamed as it is written; see the module docstring."""

    def __init__(self, store: S3BlobStore, key: str, hashers: Sequence[Hasher], size: int, *,
                 blob_id: str = "", query: Sequence[tuple[str, str]] = (), part_prefix: str | None = None,
                 upload_id: str = "") -> None:
        self.hashers = tuple(hashers)
        self.size = 0
        self._store = store
        self._key = key
        self._declared = size
        self._query = list(query)
        self._blob_id = blob_id
        self._part_prefix = part_prefix
        self._upload_id = upload_id
        # the MD5 among the hashers (hashlib's), to check the backend's ETag against
        self._md5: Any = next((h for h in self.hashers if getattr(h, "name", "") == "md5"), None)
        self._buffer = bytearray()
        self._in_flight: asyncio.Future[None] | None = None
        self._pending: bytearray | None = None   # being hashed
        self._held: bytearray | None = None      # hashed; sent once the next one is hashed (or after check)
        self._queue: asyncio.Queue[bytearray | None] = asyncio.Queue(maxsize=1)
        self._request: asyncio.Task[Mapping[str, str]] | None = None
        self._committed = False

    @property
    def blob_id(self) -> str:
        return self._blob_id

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self._write(data)
        except BackendError as exc:
            raise self._failed(exc) from None

    async def _write(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        if self.size > self._declared:
            raise _incomplete()
        self._buffer += data
        if len(self._buffer) >= WRITE_BUFFER:
            await self._drain()
            self._pending, self._buffer = self._buffer, bytearray()
            self._in_flight = asyncio.get_running_loop().run_in_executor(None, self._hash, self._pending)

    async def _drain(self) -> None:
        if self._in_flight is None:
            return
        in_flight, self._in_flight = self._in_flight, None
        await in_flight
        if self._held is not None:
            await self._send(self._held)
        self._held, self._pending = self._pending, None

    async def commit(self, check: Callable[[], None] | None = None,
                     tail: Callable[[], bytes | bytearray] | None = None) -> None:
        try:
            if tail is not None:
                await self._write(await asyncio.get_running_loop().run_in_executor(None, tail))
            await self._commit(check)
        except BackendError as exc:
            raise self._failed(exc) from None

    async def _commit(self, check: Callable[[], None] | None) -> None:
        await self._drain()
        if self.size != self._declared:
            raise _incomplete()
        last, self._buffer = self._buffer, bytearray()
        if len(last) <= INLINE_HASH_MAX:
            self._hash(last, check)
        else:
            await asyncio.get_running_loop().run_in_executor(None, self._hash, last, check)
        for chunk in (self._held, last):
            if chunk:
                await self._send(chunk)
        self._held = None
        await self._send(None)
        assert self._request is not None
        headers = await self._request
        etag = headers.get("ETag", "").strip('"')
        if self._md5 is not None and _MD5.fullmatch(etag) and etag != self._md5.hexdigest():
            raise BackendError(200, "BadDigest", f"the backend stored other bytes than were sent to {self._key}")
        if self._part_prefix is not None:
            if not etag:
                raise BackendError(200, "MalformedResponse", "UploadPart answered without an ETag")
            self._blob_id = self._part_prefix + etag
        self._committed = True

    def discard(self) -> None:
        """Abandon the blob: an upload still running is cut (the backend keeps nothing of it); a whole object
        the backend may have stored is deleted.  (A part the backend stored stays its upload's part N until
        replaced, completed without it, or aborted.)"""
        if self._request is not None and not self._request.done():
            self._request.cancel()
        if self._request is not None and self._part_prefix is None:
            self._store.delete_now(self._key)

    # -- internals ---------------------------------------------------------------------------------------

    def _failed(self, exc: BackendError) -> AwsError:
        if exc.code == "NoSuchUpload" and self._part_prefix is not None:
            # the backend's upload is gone (completed by a Complete whose row then failed, or aborted): the
            # client cannot add parts to it any more; retrying would not help
            log.warning("object data store: %s", exc)
            return AwsError("NoSuchUpload", UploadId=self._upload_id)
        return _unavailable(exc)

    def _hash(self, buffer: bytearray, check: Callable[[], None] | None = None) -> None:
        for hasher in self.hashers:
            hasher.update(buffer)
        if check is not None:
            check()

    async def _send(self, chunk: bytearray | None) -> None:
        if self._request is None:
            self._request = asyncio.get_running_loop().create_task(self._upload())
        if not self._queue.full() and not self._request.done():
            self._queue.put_nowait(chunk)
            return
        put = asyncio.ensure_future(self._queue.put(chunk))
        await asyncio.wait((put, self._request), return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
        if self._request.done():
            self._request.result()  # raises the backend's error
            if not put.done() or put.cancelled():
                raise BackendError(0, "ConnectionError", "the backend answered before the upload was sent")

    async def _upload(self) -> Mapping[str, str]:
        async def body() -> AsyncIterator[bytearray]:
            while (chunk := await self._queue.get()) is not None:
                yield chunk

        data: Any = body() if self._declared else b""
        try:
            async with await self._store.client.open(
                    "PUT", self._key, query=self._query, headers={"content-length": str(self._declared)},
                    body=data) as response:
                answer = await response.read()
                if response.status != 200:
                    raise error_of(response.status, answer)
                return response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BackendError(0, "ConnectionError", str(exc) or type(exc).__name__) from None


def _incomplete() -> AwsError:
    return AwsError("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length "
                    "HTTP header")
