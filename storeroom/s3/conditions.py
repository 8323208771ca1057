"""Conditional requests and byte ranges, as S3 evaluates them.

Conditional GET/HEAD (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and RFC 7232):
``If-Match`` false → 412; ``If-None-Match`` true → 304; a true ``If-Match`` makes a false
``If-Unmodified-Since`` irrelevant, and a false ``If-None-Match`` makes a true ``If-Modified-Since``
irrelevant.  CopyObject's ``x-amz-copy-source-if-*`` follow the same rules, but every failure is 412.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from storeroom.errors import AwsError
from storeroom.numbers import parse_int


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match list names ``etag`` (unquoted); ``*`` matches any."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == "*" or candidate.strip('"') == etag:
            return True
    return False


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch, or None for a value that is no HTTP date (S3 then ignores the condition).
    OverflowError: a year beyond any datetime ("Mon, 1 Jan 99999999999999999999 ...")."""
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def evaluate(headers: dict[str, str], etag: str, mtime: float, *, prefix: str = "if-",
             copy_source: bool = False, now: float | None = None) -> tuple[int, str] | None:
    """None if the request may proceed, else the status to answer (304 or 412) and the condition that decided
    it (without ``prefix``): a 412 names the condition that failed, not the first one sent.  An
    ``If-Modified-Since`` later than ``now`` is ignored, as HTTP says (RFC 9110 13.1.3: such a date is
    invalid) and S3 answers a copy (LocalStack's AWS-recorded "copy-ignore-future-modified-since")."""
    modified = int(mtime)  # Last-Modified has one-second resolution
    if_match = headers.get(prefix + "match")
    if_none_match = headers.get(prefix + "none-match")
    if_unmodified = headers.get(prefix + "unmodified-since")
    if_modified = headers.get(prefix + "modified-since")
    not_modified = 412 if copy_source else 304
    if if_match is not None:
        if not etag_matches(if_match, etag):
            return 412, "If-Match"
    elif if_unmodified is not None:
        since = parse_http_date(if_unmodified)
        if since is not None and modified > since:
            return 412, "If-Unmodified-Since"
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            return not_modified, "If-None-Match"
    elif if_modified is not None:
        since = parse_http_date(if_modified)
        if since is not None and modified <= since <= (time.time() if now is None else now):
            return not_modified, "If-Modified-Since"
    return None


def check(headers: dict[str, str], etag: str, mtime: float) -> None:
    """Raise the S3 answer of a failed condition on GET/HEAD."""
    failed = evaluate(headers, etag, mtime)
    if failed is None:
        return
    if failed[0] == 304:
        raise NotModified()
    raise AwsError("PreconditionFailed", Condition=failed[1])


def check_copy_source(headers: dict[str, str], etag: str, mtime: float) -> None:
    failed = evaluate(headers, etag, mtime, prefix="x-amz-copy-source-if-", copy_source=True)
    if failed is not None:
        raise AwsError("PreconditionFailed", Condition="x-amz-copy-source-" + failed[1])


def if_range_holds(headers: dict[str, str], etag: str, mtime: float) -> bool:
    """Whether a Range may be served (RFC 7233 3.2): without ``If-Range``, or with one naming this object -- its
    ETag (compared strongly: a weak one never matches) or exactly its Last-Modified date.  Else the whole object
    is sent, so a resumed download never splices a newer object's bytes onto an older one's."""
    value = headers.get("if-range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value.startswith('"') and value.strip('"') == etag
    since = parse_http_date(value)
    return since is not None and since == int(mtime)


class NotModified(Exception):
    """304: answered with the object's ETag and Last-Modified and no body."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The [start, end) of a ``Range: bytes=…`` header, None to send the whole object.

    Syntactically invalid or multi-range headers are ignored, as S3 does; a range starting at or past the end
    is 416 InvalidRange.  A suffix range of an empty object is the whole (empty) object, 200, as S3 answers it
    (tail readers rely on it; RFC 9110 14.1.1: on a zero-length representation "the only satisfiable form of
    range-spec is a suffix-range with a non-zero suffix-length").
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    if first == "":
        n = parse_int(last, signed=False)
        if n is None:
            return None
        if n == 0:  # the last no bytes: S3's 416 (LocalStack's AWS-recorded "get--0"), RFC 9110 14.1.1 alike
            _unsatisfiable(header, size)
        if size == 0:
            return None
        return max(size - n, 0), size
    start = parse_int(first, signed=False)
    if start is None:
        return None
    end = size
    if last:
        last_byte = parse_int(last, signed=False)
        if last_byte is None or last_byte < start:
            return None
        end = last_byte + 1
    if start >= size:
        _unsatisfiable(header, size)
    return start, min(end, size)


def _unsatisfiable(header: str, size: int) -> None:
    raise AwsError("InvalidRange", RangeRequested=header, ActualObjectSize=str(size),
                   headers={"content-range": f"bytes */{size}"})
