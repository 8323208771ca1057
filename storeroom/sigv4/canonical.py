"""SigV4 canonical request and string to sign.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html

Text on the wire: ``raw_path``, ``raw_query`` and header values are ``str`` holding the bytes as received,
decoded with latin-1 (the ASGI/WSGI convention: ``raw.decode("latin-1")``), so the canonical request is
turned back into exactly those bytes before hashing.  A ``str`` with characters above U+00FF cannot have
come from latin-1 and is encoded as UTF-8 instead, so text that was decoded as UTF-8 also works unless it
holds characters in U+0080..U+00FF.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"

# Already canonical: only unreserved characters ("A-Z, a-z, 0-9, hyphen, underscore, period, tilde") and '/'.
_SAFE_PATH = re.compile(r"[A-Za-z0-9\-._~/]*")
_SAFE_QUERY = re.compile(r"[A-Za-z0-9\-._~]*")
_WHITESPACE = re.compile(r"[ \t\r\n]+")


def wire_bytes(text: str) -> bytes:
    """The bytes a wire ``str`` came from (latin-1; UTF-8 when it cannot be latin-1)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates no decoder produces: sign them as something, never fail
        return text.encode("utf-8", "surrogatepass")


def uri_encode(data: bytes, *, keep_slash: bool) -> str:
    """AWS ``UriEncode``: "URI encode every byte except the unreserved characters: 'A'-'Z', 'a'-'z', '0'-'9',
    '-', '.', '_', and '~'" ... "Encode the forward slash character, '/', everywhere except in the object key
    name"; hex digits are uppercase.  https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
    """
    return quote(data, safe="/" if keep_slash else "")


def s3_path_bytes(raw_path: str) -> bytes:
    """An S3 request's path as the bytes it names: percent-decoded, and a ``+`` is a space (S3 reads the path so;
    a real plus is sent as ``%2B``).  The key served (storeroom/s3/service.py ``path_of``) and the CanonicalURI
    signed are both read from it, so a signature never covers another key than the one served."""
    return unquote_to_bytes(wire_bytes(raw_path).replace(b"+", b" "))


def canonical_uri(raw_path: str, *, s3: bool) -> str:
    """The CanonicalURI line.

    S3: "Do not normalize URI paths for requests to Amazon S3" and "each path segment must be URI-encoded
    [once]": the wire path is decoded (:func:`s3_path_bytes`), then encoded once.
    Other services: "Normalize URI paths according to RFC 3986. Remove redundant and relative path components.
    Each path segment must be URI-encoded twice": the wire form is already encoded once, so it is encoded
    once more.  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
    """
    if s3:
        if not raw_path:
            return "/"
        if _SAFE_PATH.fullmatch(raw_path):
            return raw_path
        return uri_encode(s3_path_bytes(raw_path), keep_slash=True)
    path = remove_dot_segments(raw_path)
    if _SAFE_PATH.fullmatch(path):
        return path
    return uri_encode(wire_bytes(path), keep_slash=True)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, and empty segments ('//') collapsed as AWS services require."""
    out: list[str] = []
    segments = path.split("/")
    for segment in segments:
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    trailing = "/" if out and segments[-1] in ("", ".", "..") else ""
    return "/" + "/".join(out) + trailing


def _query_encode(text: str) -> str:
    if _SAFE_QUERY.fullmatch(text):
        return text
    return _query_reencode(text)


@functools.lru_cache(maxsize=4096)
def _query_reencode(text: str) -> str:
    """Decode then encode; cached, as the same encoded values come again and again (X-Amz-Credential,
    session tokens, prefixes)."""
    # '+' is a space in a query string, as S3 reads it.
    return uri_encode(unquote_to_bytes(wire_bytes(text.replace("+", " "))), keep_slash=False)


def canonical_query(raw_query: str) -> str:
    """The CanonicalQueryString line: "URI-encode each parameter name and value", "sort the parameters by
    parameter name", then by value; a name without a value gets an empty value; X-Amz-Signature is left out
    ("The Canonical Query String must include all the query parameters ... except for X-Amz-Signature").
    https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    """
    if not raw_query:
        return ""
    if "&" not in raw_query:
        name, _, value = raw_query.partition("=")
        name = _query_encode(name)
        return "" if name == "X-Amz-Signature" else f"{name}={_query_encode(value)}"
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = _query_encode(name)
        if name != "X-Amz-Signature":
            pairs.append((name, _query_encode(value)))
    pairs.sort()
    return "&".join([f"{name}={value}" for name, value in pairs])


def trim_value(value: str) -> str:
    """``Trimall``: "remove excess white space before and after values, and convert sequential spaces to a
    single space" (tabs and line breaks count as spaces, as botocore's signer treats them)."""
    if (
        "  " in value or "\t" in value or "\n" in value or "\r" in value
        or value[:1] == " " or value[-1:] == " "
    ):
        return _WHITESPACE.sub(" ", value).strip(" ")
    return value


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """The CanonicalHeaders block: ``Lowercase(HeaderName) + ':' + Trimall(HeaderValue) + '\\n'`` per signed
    header (``signed_headers`` lowercase, as ``headers``' names).  An absent header is signed with an empty
    value."""
    get = headers.get
    block = "".join([f"{name}:{get(name, '')}\n" for name in signed_headers])
    if not (
        "  " in block or ": " in block or " \n" in block or "\t" in block or "\r" in block
        or block.count("\n") != len(signed_headers)
    ):
        return block  # the common case: every value already trimmed
    return "".join([f"{name}:{trim_value(get(name, ''))}\n" for name in signed_headers])


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
    *,
    s3: bool,
) -> str:
    """``Method \\n CanonicalURI \\n CanonicalQueryString \\n CanonicalHeaders \\n SignedHeaders \\n
    HashedPayload``."""
    if s3 and raw_path and _SAFE_PATH.fullmatch(raw_path):
        path = raw_path  # the common case, already canonical
    else:
        path = canonical_uri(raw_path, s3=s3)
    query = canonical_query(raw_query) if raw_query else ""
    lines = canonical_headers(headers, signed_headers)
    return f"{method}\n{path}\n{query}\n{lines}\n{';'.join(signed_headers)}\n{payload_hash}"


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """``"AWS4-HMAC-SHA256" \\n timeStampISO8601Format \\n <Scope> \\n
    Hex(SHA256Hash(<CanonicalRequest>))``."""
    try:
        data = canonical_request.encode("latin-1")
    except UnicodeEncodeError:
        data = wire_bytes(canonical_request)
    digest = hashlib.sha256(data).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"
