"""The listings' encoding-type=url of many keys at once (storeroom/s3/listing.py) equals quote() of each."""

from __future__ import annotations

import random
from urllib.parse import quote

from storeroom.s3.listing import _as_is, _encode_all, _url_encode  # noqa: PLC2701


def test_encoding_many_keys_at_once_equals_quoting_each() -> None:
    rng = random.Random(14)
    alphabet = "aZ09_.~/-+ %&é😀\x01?=#"
    for _ in range(2000):
        keys = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(0, 5))]
        if rng.random() < 0.5:  # many pages hold only keys that need no encoding
            keys = [k for k in keys if all(c.isascii() and (c.isalnum() or c in "_.~/-") for c in k)]
        assert _encode_all(_url_encode, keys) == [quote(k, safe="/") for k in keys], keys
        assert [_url_encode(k) for k in keys] == [quote(k, safe="/") for k in keys], keys
        assert _encode_all(_as_is, keys) == keys
