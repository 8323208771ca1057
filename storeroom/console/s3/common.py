"""What the S3 pages share: reading S3's XML answers, URLs of the bucket pages, breadcrumbs, sizes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlencode

from storeroom.console.services import Caller, ServiceError
from storeroom.http.types import Response

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


async def body_of(response: Response, limit: int = 16 << 20) -> bytes:
    """A (small) answer's body, read whole."""
    if isinstance(response.body, bytes):
        return response.body
    parts, size = [], 0
    async for chunk in response.body:
        size += len(chunk)
        if size > limit:
            raise ValueError("answer too large")
        parts.append(chunk)
    return b"".join(parts)


def parse(data: bytes) -> ET.Element:
    """S3's XML (Storeroom's own answer) with the namespace taken off the tag names.  A key holding a control
    character is written as S3 writes it, ``&#x1;``, which XML 1.0 parsers refuse: such references are read as
    U+FFFD (the console read no UploadId for such a key: a 500, and an upload left behind)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        root = ET.fromstring(_CHARACTER_REFERENCE.sub(_xml_character, data))
    for element in root.iter():
        if element.tag.startswith(_NS):
            element.tag = element.tag[len(_NS):]
    return root


_CHARACTER_REFERENCE = re.compile(rb"&#(x[0-9A-Fa-f]+|[0-9]+);")


def _xml_character(match: re.Match[bytes]) -> bytes:
    spelled = match.group(1)
    try:
        code = int(spelled[1:], 16) if spelled[:1] == b"x" else int(spelled)
        chr(code).encode("utf-8")
    except (ValueError, OverflowError, UnicodeEncodeError):
        return b"&#xFFFD;"
    allowed = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000
    return match.group(0) if allowed else b"&#xFFFD;"


def text(element: ET.Element, name: str, default: str = "") -> str:
    found = element.find(name)
    return default if found is None or found.text is None else found.text


async def s3_xml(caller: Caller, method: str, path: str, query: str = "",
                 headers: dict[str, str] | None = None, body: bytes = b"") -> ET.Element:
    response = await caller.s3(method, path, query, headers=headers, body=body)
    return parse(await body_of(response))


def object_path(bucket: str, key: str = "") -> str:
    """The (decoded) path of a request on ``bucket`` or one of its keys."""
    return f"/{bucket}/{key}" if key else f"/{bucket}"


def bucket_url(bucket: str, **params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/s3/buckets/{quote(bucket, safe='')}" + (f"?{query}" if query else "")


def sub_url(bucket: str, part: str, **params: str) -> str:
    """``/s3/buckets/<bucket>/<part>?…`` (object, upload, download, create-folder…)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/s3/buckets/{quote(bucket, safe='')}/{part}" + (f"?{query}" if query else "")


def check_bucket_name(name: str) -> None:
    """A name that could not even be put in a path (empty, or with a ``/``) answers what S3 answers for any
    name outside its rules; every other name goes to CreateBucket, which judges it."""
    if not name or "/" in name or name != name.strip():
        raise ServiceError("InvalidBucketName", "The specified bucket is not valid.", 400)


@dataclass(frozen=True, slots=True)
class Crumb:
    label: str
    url: str


def breadcrumbs(bucket: str, prefix: str) -> list[Crumb]:
    """Amazon S3 › bucket › folder › folder: each a link to that level of the browser."""
    crumbs = [Crumb("Amazon S3", "/s3/buckets"), Crumb(bucket, bucket_url(bucket))]
    parts = prefix.split("/")[:-1]          # a folder ("a/b/") or an object's key ("a/b/c.txt"): a, b
    walked = ""
    for part in parts:
        walked += part + "/"
        crumbs.append(Crumb(part or "/", bucket_url(bucket, prefix=walked)))
    return crumbs


def size(value: int | str | None) -> str:
    """Bytes as the S3 console shows them: ``0 B``, ``12.5 KB``, ``50.0 MB`` (binary multiples)."""
    if value in (None, ""):
        return "-"
    number = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if number < 1024 or unit == "TB":
            return f"{int(number)} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return f"{number:.1f} TB"


def shown_time(value: str) -> str:
    """S3's ISO 8601 (``2026-12-05T06:00:32.726Z``) or HTTP date as ``2026-12-05 06:00:32 UTC``."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
