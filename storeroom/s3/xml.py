"""S3's XML: small builders for responses, and a safe parser for request bodies.

Responses are built as strings: for the list and error shapes S3 uses this is simpler and several times faster
than building a tree, and the shapes are checked against botocore's parser by the tests.
"""

from __future__ import annotations

import functools
import re
import time
import xml.etree.ElementTree as ET
from email.utils import formatdate

from storeroom.errors import AwsError

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'

# XML 1.0 cannot carry most control characters even escaped; S3 writes them as numeric references.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"}
_NEEDS_ESCAPE = re.compile(r'[&<>"\r\x00-\x08\x0b\x0c\x0e-\x1f]')


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    return _ESCAPES.get(c) or f"&#x{ord(c):X};"


def escape(value: str) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return _NEEDS_ESCAPE.sub(_escape_char, value)


def tag(name: str, value: object) -> str:
    """``<name>value</name>``; None gives nothing (an absent optional element)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = escape(str(value))
    return f"<{name}>{text}</{name}>"


def document(root: str, inner: str, *, namespace: bool = True) -> bytes:
    ns = f' xmlns="{S3_NS}"' if namespace else ""
    return f"{_HEADER}<{root}{ns}>{inner}</{root}>".encode()


def iso8601(ts: float) -> str:
    """``2009-10-12T17:50:30.000Z``, as S3 writes timestamps in XML."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def http_date(ts: float) -> str:
    """``Wed, 12 Oct 2009 17:50:00 GMT``, as S3 writes Last-Modified (one-second resolution)."""
    return _http_date(int(ts))


@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


def parse(body: bytes) -> ET.Element:
    """Parse a request body; anything unparseable is S3's MalformedXML.

    Python's expat (≥ 2.4.1) refuses entity-expansion bombs, and external entities are never fetched.
    """
    if not body.strip():
        raise AwsError("MalformedXML")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise AwsError("MalformedXML") from None
    return root


def local(element: ET.Element) -> str:
    """An element's name without its namespace."""
    return element.tag.rpartition("}")[2]


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if local(c) == name]


def child_text(element: ET.Element, name: str) -> str | None:
    for c in element:
        if local(c) == name:
            return c.text or ""
    return None
