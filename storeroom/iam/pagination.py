"""IAM's Marker / MaxItems pagination, one way for every List* action.

Markers are opaque to clients and at most 320 characters (botocore's limit).  Two kinds of listing:

- :func:`keyset_page` — name-ordered SQL listings that may be long (users, groups): the marker is the last
  name returned, and the next page is asked for with ``name > marker`` (no offset to skip through).
- :func:`list_page` — short lists already in memory (policies, versions, tags, keys, simulator results): the
  marker is the count returned so far plus a fingerprint of the last item, so a page still starts after that
  item when entries before it came or went since the previous page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from storeroom.errors import AwsError
from storeroom.iam.api import IamCall
from storeroom.numbers import parse_int

T = TypeVar("T")
DEFAULT_MAX_ITEMS = 100


def _invalid_marker() -> AwsError:
    return AwsError("ValidationError", "Invalid Marker.", 400)


def max_items(call: IamCall) -> int:
    return int(call.params.get("MaxItems", DEFAULT_MAX_ITEMS))


async def keyset_page(call: IamCall, fetch: Callable[[str | None, int], Awaitable[list[T]]],
                      name_of: Callable[[T], str]) -> tuple[list[T], dict[str, Any]]:
    """One page of a name-ordered SQL listing: ``fetch(after, limit)`` is asked for one item more than a page."""
    limit = max_items(call)
    after = None
    if "Marker" in call.params:
        try:
            after = base64.urlsafe_b64decode(call.params["Marker"].encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _invalid_marker() from None
    items = await fetch(after, limit + 1)
    if len(items) <= limit:
        return items, {"IsTruncated": False}
    marker = base64.urlsafe_b64encode(name_of(items[limit - 1]).encode()).decode()
    return items[:limit], {"IsTruncated": True, "Marker": marker}


def list_page(call: IamCall, items: Sequence[T], key: Callable[[T], list[str]]) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` (in a stable order) after ``Marker``; ``key`` identifies an item."""
    start = 0
    marker = call.params.get("Marker")
    if marker is not None:
        offset, fingerprint = _decode(marker)
        start = min(offset, len(items))
        if not (0 < start <= len(items) and _fingerprint(key(items[start - 1])) == fingerprint):
            start = next((i + 1 for i, item in enumerate(items) if _fingerprint(key(item)) == fingerprint), start)
    limit = max_items(call)
    page = list(items[start:start + limit])
    truncated = start + limit < len(items)
    extra: dict[str, Any] = {"IsTruncated": truncated}
    if truncated:
        extra["Marker"] = f"{start + len(page)}.{_fingerprint(key(page[-1]))}"
    return page, extra


def range_page(call: IamCall, total: int) -> tuple[range, dict[str, Any]]:
    """One page of ``total`` numbered items that are computed only once paged to (the simulator's action ×
    resource pairs: a 1 MiB request names millions, and computing them all froze the worker); markers as
    :func:`list_page` writes them for items keyed by their zero-padded number."""
    start = 0
    marker = call.params.get("Marker")
    if marker is not None:
        offset, fingerprint = _decode(marker)
        if not 0 < offset <= total or fingerprint != _fingerprint([f"{offset - 1:012d}"]):
            raise _invalid_marker()
        start = offset
    page = range(start, min(start + max_items(call), total))
    extra: dict[str, Any] = {"IsTruncated": page.stop < total}
    if page.stop < total:
        extra["Marker"] = f"{page.stop}.{_fingerprint([f'{page.stop - 1:012d}'])}"
    return page, extra


def _fingerprint(key: list[str]) -> str:
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def _decode(marker: str) -> tuple[int, str]:
    """``str.isdigit`` is no guard: "²" is a digit to it but no number to ``int()`` (ValueError: 500)."""
    offset, _, fingerprint = marker.partition(".")
    number = parse_int(offset, signed=False)
    if number is None or not fingerprint:
        raise _invalid_marker()
    return number, fingerprint
