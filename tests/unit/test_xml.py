"""storeroom/s3/xml.py's writers: timestamps and escaping, as S3 writes them in its XML answers."""

from __future__ import annotations

import random
import time

from storeroom.s3 import xml


def test_iso8601_agrees_with_strftime() -> None:
    """The table-built timestamps equal strftime's for any moment, whole seconds and the last microsecond of one
    included: whole seconds, as S3 writes them (``.000Z``; never rounded into the next second)."""
    rng = random.Random(14)
    moments = [0.0, 86399.9999, 951782400.5, 4102444799.999] + [rng.uniform(0, 4.2e9) for _ in range(20000)]
    moments += [float(int(m)) for m in moments[:2000]] + [int(m) + 0.9999999 for m in moments[:2000]]
    for ts in moments:
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000Z"
        assert xml.iso8601(ts) == expected, ts


def test_escape_all_escapes_each_value_only_when_one_needs_it() -> None:
    plain = ["a", "dir/b.txt", "é/ü", "tab\there", "new\nline"]
    assert xml.escape_all(plain) == plain
    mixed = plain + ["amp&", "lt<", "ctrl\x01", "cr\r"]
    assert xml.escape_all(mixed) == [xml.escape(v) for v in mixed]
    assert xml.escape_all(mixed)[-4:] == ["amp&amp;", "lt&lt;", "ctrl&#x1;", "cr&#13;"]
    assert xml.escape_all([]) == []
