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
from xml.parsers import expat

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


def escape_all(values: list[str]) -> list[str]:
    """``escape`` of each value, with one scan of them all when none needs it (a listing's keys, mostly)."""
    if _NEEDS_ESCAPE.search("\n".join(values)) is None:  # the newline joining them needs no escape
        return values
    return [escape(v) for v in values]


# What XML 1.0 cannot carry at all, not even as a character reference (most control characters, lone surrogates)
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def readable(value: str) -> str:
    """``value`` with the characters XML 1.0 cannot carry replaced by U+FFFD: for error documents, which echo
    client input (a key or path with NUL in it) and must stay parseable, or the client reports an unknown error.
    Listings keep S3's numeric references instead (``escape``)."""
    return _NOT_XML.sub("\ufffd", value)


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


# 9999-12-31T23:59:59Z: a date further away (a lifecycle rule or a restore of 2**31 days) is written as this one,
# the last any S3 date format can carry, rather than failing the request
LAST_SECOND = 253402300799


def iso8601(ts: float) -> str:
    """``2009-10-12T17:50:30.000Z``, as S3 writes timestamps in XML: whole seconds, so that a listing's
    LastModified is the second HEAD's Last-Modified names (``aws s3 sync --exact-timestamps`` compares them;
    with milliseconds it downloaded every file again).  A listing writes one per key, so it is put together from
    tables (dates cached by day) instead of ``strftime``: a third of the cost."""
    day, clock = divmod(int(min(ts, LAST_SECOND)), 86400)
    return _iso_day(day) + _CLOCK[clock // 60] + _SECONDS[clock % 60]


_CLOCK = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}.000Z" for s in range(60)]


@functools.lru_cache(maxsize=1024)
def _iso_day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def http_date(ts: float) -> str:
    """``Wed, 12 Oct 2009 17:50:00 GMT``, as S3 writes Last-Modified (one-second resolution)."""
    return _http_date(int(min(ts, LAST_SECOND)))


@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


# S3's request schemas are at most six elements deep (LifecycleConfiguration/Rule/Filter/And/Tag/Key), and the
# largest body, a 10,000-part CompleteMultipartUpload, has ~80,000 elements.  Beyond these, a body is refused as
# soon as it crosses them: a few MB of empty or nested elements cost ~150 MB and stalled the worker for seconds.
MAX_DEPTH = 16
MAX_ELEMENTS = 100_000


def parse(body: bytes) -> ET.Element:
    """Parse a request body; anything unparseable is S3's MalformedXML.

    S3's request bodies are plain UTF-8 documents of its published schemas, which have no DTD.  Expat is driven
    directly so that a document type declaration (and with it every entity declaration, internal or external,
    and every parameter entity) is refused before anything is expanded: no entity bomb, no file or URL read.
    The tree is built iteratively, so nesting never costs the stack, and its depth and size are bounded
    (MAX_DEPTH, MAX_ELEMENTS).
    """
    if not body.strip():
        raise AwsError("MalformedXML")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_entity
    depth, count = 0, 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, count
        depth, count = depth + 1, count + 1
        if depth > MAX_DEPTH or count > MAX_ELEMENTS:
            raise _Refused
        # attributes kept for the one S3 reads (an ACL grantee's xsi:type)
        builder.start(_qualified(name), {_qualified(k): v for k, v in attributes.items()})

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(_qualified(name))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
        return builder.close()
    except (expat.ExpatError, _Refused, ValueError, LookupError, AssertionError):
        # ExpatError: not well-formed; LookupError: an encoding Python does not know; AssertionError and
        # ValueError: TreeBuilder's own complaints (no root element)
        raise AwsError("MalformedXML") from None


class _Refused(Exception):
    """Raised from inside expat to stop at a DTD, or past MAX_DEPTH / MAX_ELEMENTS."""


def _refuse_dtd(*_: object) -> None:
    raise _Refused


def _refuse_entity(*_: object) -> int:
    raise _Refused


def _qualified(name: str) -> str:
    """Expat's ``namespace}local`` as ElementTree's ``{namespace}local``."""
    return "{" + name if "}" in name else name


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
