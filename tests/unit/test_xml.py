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


def test_parse_refuses_documents_no_s3_schema_has_but_takes_the_largest_real_one() -> None:
    """A few MB of nested or empty elements (within CompleteMultipartUpload's 4 MB) cost ~150 MB and stalled a
    worker for seconds; S3's schemas are at most six deep, and a 10,000-part completion is ~80,000 elements."""
    import pytest

    from storeroom.errors import AwsError

    for body in (b"<C>" + b"<a>" * 20 + b"</a>" * 20 + b"</C>", b"<C>" + b"<a/>" * 100_001 + b"</C>"):
        with pytest.raises(AwsError) as refused:
            xml.parse(body)
        assert refused.value.code == "MalformedXML"
    part = ('<Part><PartNumber>{n}</PartNumber><ETag>"{etag}"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32>'
            '<ChecksumCRC32C>AAAAAA==</ChecksumCRC32C><ChecksumSHA1>x</ChecksumSHA1><ChecksumSHA256>y'
            '</ChecksumSHA256><ChecksumCRC64NVME>z</ChecksumCRC64NVME></Part>')
    body = "".join(part.format(n=n, etag="a" * 32) for n in range(1, 10_001))
    assert len(xml.parse(f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode())) == 10_000
    rule = "<Rule><Filter><And><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter></Rule>"
    assert xml.parse(f"<LifecycleConfiguration>{rule}</LifecycleConfiguration>".encode())[0][0][0][0][0].text == "k"
