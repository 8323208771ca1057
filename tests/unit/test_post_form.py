"""storeroom/s3/post_object.py's form reader: however the body is cut into chunks, the fields before the file are
read whole, the file's data comes out as it was sent, and the file's first byte is located exactly (the offset
that tells its size from Content-Length)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storeroom.errors import AwsError
from storeroom.s3.post_object import MAX_PRE_DATA, Parts

BOUNDARY = b"----WebKitFormBoundaryQ1w2E3r4"
FILE = b"\r\n--" + BOUNDARY[:-1] + b"\r\nline\n\r\r\n--\r\n" + bytes(range(256)) * 3


def body(fields: list[tuple[str, str]], data: bytes, after: bytes = b"") -> tuple[bytes, int]:
    """A browser's form: the fields, the file, (ignored fields), the closing boundary; and the file's offset."""
    out = b"".join(b"--" + BOUNDARY + f'\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                   for k, v in fields)
    out += b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="a\xc3\xa9.bin"\r\n'
    out += b"Content-Type: application/octet-stream\r\n\r\n"
    start = len(out)
    return out + data + b"\r\n" + after + b"--" + BOUNDARY + b"--\r\n", start


def read(raw: bytes, cuts: list[int]) -> tuple[Parts, int | None, bytes]:
    parts = Parts()
    parts.start(BOUNDARY)
    fed, start, data = 0, None, b""
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    for chunk in pieces:
        pos = 0
        if not parts.file_started:
            pos = parts.feed_lines(chunk)
            fed += pos
            if parts.file_started:
                start = fed
        if pos < len(chunk):
            parts.feed(chunk[pos:])
            fed += len(chunk) - pos
        data += b"".join(parts.take_data())
    parts.parser.finalize()
    return parts, start, data


FIELDS = [("key", "uploads/${filename}"), ("X-Amz-Meta-Note", "é\r\nline"), ("policy", "e30=")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=1500), max_size=12, unique=True))
def test_any_chunking_reads_the_same_form(cuts: list[int]) -> None:
    raw, offset = body(FIELDS, FILE, after=b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; '
                                             b'name="submit"\r\n\r\nUpload\r\n')
    parts, start, data = read(raw, sorted(c for c in cuts if c < len(raw)))
    assert parts.fields == FIELDS and parts.filename == "aé.bin"
    assert start == offset and data == FILE
    assert parts.file_done and parts.ended


def test_an_empty_file_and_no_file() -> None:
    raw, offset = body([("key", "k")], b"")
    parts, start, data = read(raw, [offset])
    assert (start, data, parts.file_done, parts.ended) == (offset, b"", True, True)
    fields_only = (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--' + BOUNDARY
                   + b"--\r\n")
    parts, start, _ = read(fields_only, [])
    assert (parts.file_started, parts.ended, parts.fields) == (False, True, [("key", "k")])


def test_too_many_field_bytes_and_malformed_parts() -> None:
    with pytest.raises(AwsError) as err:
        read(body([("x-amz-meta-big", "x" * (MAX_PRE_DATA + 1))], b"")[0], [])
    assert err.value.code == "MaxPostPreDataLengthExceeded"
    for bad in (b"--" + BOUNDARY + b"\r\nContent-Disposition: attachment\r\n\r\nx\r\n--" + BOUNDARY + b"--\r\n",
                b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + BOUNDARY + b"--\r\n",
                b"not a form at all"):
        with pytest.raises(AwsError) as err:
            read(bad, [])
        assert err.value.code == "MalformedPOSTRequest"
