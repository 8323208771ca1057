"""aws-chunked decoding: AWS's documented example, a reference encoder, botocore's AwsChunkedWrapper and a
real boto3 upload, fed in arbitrary slices; tampering, truncation and malformed framing are refused."""

from __future__ import annotations

import hashlib
import hmac
import io
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.auth import _host_from_url
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, CrtCrc32cChecksum, Sha256Checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storeroom.checksums import Checksum
from storeroom.errors import AwsError
from storeroom.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    AwsChunkedDecoder,
    parse_auth,
    signing_key,
    verify,
)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# The example of https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html: 65 KiB of 'a' in
# chunks of 64 KiB, 1 KiB and 0 bytes.
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
KEY = signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")


def doc_body() -> bytes:
    first, second, final = DOC_SIGNATURES
    return (
        f"10000;chunk-signature={first}\r\n".encode()
        + b"a" * 65536
        + b"\r\n"
        + f"400;chunk-signature={second}\r\n".encode()
        + b"a" * 1024
        + b"\r\n"
        + f"0;chunk-signature={final}\r\n\r\n".encode()
    )


# ------------------------------------------------------------------------------------- reference encoder


def _sign(string_to_sign: str) -> str:
    return hmac.new(KEY, string_to_sign.encode(), hashlib.sha256).hexdigest()


def encode_signed(
    payload: bytes, chunk_size: int, trailers: Sequence[tuple[str, str]] | None = None, seed: str = DOC_SEED
) -> bytes:
    """aws-chunked with chunk signatures (and signed trailers when ``trailers`` is given)."""
    out: list[bytes] = []
    previous = seed
    pieces = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] + [b""]
    for piece in pieces:
        previous = _sign(
            f"AWS4-HMAC-SHA256-PAYLOAD\n{DOC_DATE}\n{DOC_SCOPE}\n{previous}\n{EMPTY_SHA256}\n"
            f"{hashlib.sha256(piece).hexdigest()}"
        )
        out.append(
            f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + (b"\r\n" if piece else b"")
        )
    if trailers is None:
        out.append(b"\r\n")
        return b"".join(out)
    canonical = "".join(f"{name}:{value}\n" for name, value in trailers)
    signature = _sign(
        f"AWS4-HMAC-SHA256-TRAILER\n{DOC_DATE}\n{DOC_SCOPE}\n{previous}\n"
        f"{hashlib.sha256(canonical.encode()).hexdigest()}"
    )
    out.append("".join(f"{name}:{value}\r\n" for name, value in trailers).encode())
    out.append(f"x-amz-trailer-signature:{signature}\r\n\r\n".encode())
    return b"".join(out)


def encode_unsigned(
    payload: bytes, chunk_size: int, checksum_cls: Any = Crc32Checksum, name: str = "x-amz-checksum-crc32"
) -> bytes:
    """botocore's own aws-chunked encoder (STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload), checksum_cls=checksum_cls, checksum_name=name, chunk_size=chunk_size
    )
    return bytes(wrapper.read())


def decoder(mode: str = STREAMING_SIGNED) -> AwsChunkedDecoder:
    if mode == STREAMING_UNSIGNED_TRAILER:
        return AwsChunkedDecoder(mode)
    return AwsChunkedDecoder(
        mode, signing_key=KEY, seed_signature=DOC_SEED, amz_date=DOC_DATE, scope=DOC_SCOPE
    )


def slices(body: bytes, cuts: Sequence[int]) -> Iterator[bytes]:
    points = sorted({min(cut, len(body)) for cut in cuts} | {0, len(body)})
    for start, end in zip(points, points[1:], strict=False):
        yield body[start:end]


def decode(
    body: bytes, mode: str = STREAMING_SIGNED, cuts: Sequence[int] = ()
) -> tuple[bytes, dict[str, str]]:
    chunked = decoder(mode)
    out = b"".join(chunked.feed(piece) for piece in slices(body, cuts))
    trailers = chunked.finish()
    assert chunked.decoded_length == len(out)
    return out, trailers


def refused(body: bytes, mode: str = STREAMING_SIGNED, cuts: Sequence[int] = ()) -> AwsError:
    with pytest.raises(AwsError) as caught:
        decode(body, mode, cuts)
    return caught.value


CUTS = st.lists(st.integers(min_value=0, max_value=200_000), max_size=30)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------ signed mode


def test_aws_documented_example() -> None:
    assert encode_signed(b"a" * 66560, 65536) == doc_body()  # our reference encoder agrees with AWS
    out, trailers = decode(doc_body())
    assert out == b"a" * 66560 and trailers == {}


@SETTINGS
@given(cuts=CUTS)
def test_aws_documented_example_in_slices(cuts: list[int]) -> None:
    assert decode(doc_body(), cuts=cuts) == (b"a" * 66560, {})


@SETTINGS
@given(payload=st.binary(max_size=40_000), chunk_size=st.integers(8192, 20_000), cuts=CUTS)
def test_signed_round_trip(payload: bytes, chunk_size: int, cuts: list[int]) -> None:
    body = encode_signed(payload, chunk_size)
    assert decode(body, cuts=cuts) == (payload, {})


@SETTINGS
@given(payload=st.binary(max_size=30_000), chunk_size=st.integers(8192, 20_000), cuts=CUTS)
def test_signed_trailer_round_trip(payload: bytes, chunk_size: int, cuts: list[int]) -> None:
    checksum = Checksum("CRC32C")
    checksum.update(payload)
    trailers = [("x-amz-checksum-crc32c", checksum.b64digest())]
    body = encode_signed(payload, chunk_size, trailers)
    out, got = decode(body, STREAMING_SIGNED_TRAILER, cuts)
    assert out == payload
    assert got == {"x-amz-checksum-crc32c": checksum.b64digest()}


def test_signed_trailer_with_several_trailers_and_spaces() -> None:
    body = encode_signed(b"x" * 10, 8192, [("x-amz-checksum-sha256", "abc="), ("x-amz-meta-a", "b")])
    body = body.replace(b"x-amz-meta-a:b\r\n", b"x-amz-meta-a: b\r\n")  # a space after ':' signs the same
    assert decode(body, STREAMING_SIGNED_TRAILER)[1] == {"x-amz-checksum-sha256": "abc=", "x-amz-meta-a": "b"}


def test_tampered_chunk_data_refused() -> None:
    body = bytearray(doc_body())
    body[100] = ord("b")
    assert refused(bytes(body)).code == "SignatureDoesNotMatch"


def test_tampered_chunk_signature_refused() -> None:
    body = doc_body().replace(DOC_SIGNATURES[1].encode(), DOC_SIGNATURES[0].encode())
    assert refused(body).code == "SignatureDoesNotMatch"


def test_reordered_chunks_refused() -> None:
    body = encode_signed(b"a" * 8192 + b"b" * 8192, 8192)
    first_end = body.index(b"\r\n", body.index(b"\r\n") + 2) + 2
    second_end = body.index(b"\r\n", body.index(b"\r\n", first_end) + 2) + 2
    swapped = body[first_end:second_end] + body[:first_end] + body[second_end:]
    assert refused(swapped).code == "SignatureDoesNotMatch"


def test_wrong_seed_refused() -> None:
    chunked = AwsChunkedDecoder(
        STREAMING_SIGNED, signing_key=KEY, seed_signature="0" * 64, amz_date=DOC_DATE, scope=DOC_SCOPE
    )
    with pytest.raises(AwsError) as caught:
        chunked.feed(doc_body())
    assert caught.value.code == "SignatureDoesNotMatch"


def test_tampered_trailer_refused() -> None:
    body = encode_signed(b"data", 8192, [("x-amz-checksum-crc32", "AAAAAA==")])
    assert (
        refused(body.replace(b"AAAAAA==", b"AAAAAB=="), STREAMING_SIGNED_TRAILER).code
        == "SignatureDoesNotMatch"
    )
    unsigned = body[: body.index(b"x-amz-trailer-signature")] + b"\r\n"
    assert refused(unsigned, STREAMING_SIGNED_TRAILER).code == "IncompleteBody"


def test_trailer_in_signed_mode_without_trailers_refused() -> None:
    body = encode_signed(b"data", 8192)[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert refused(body).code == "InvalidRequest"


def test_short_chunk_before_the_last_refused() -> None:
    body = encode_signed(b"x" * 9000, 4500)
    error = refused(body)
    assert error.code == "InvalidChunkSizeError" and error.status == 400
    assert error.extra == {"Chunk": "1", "BadChunkSize": "4500"}
    assert decode(encode_signed(b"x" * 9000, 8192))[0] == b"x" * 9000  # the last chunk may be short


@SETTINGS
@given(data=st.data())
def test_truncated_signed_body_refused(data: st.DataObject) -> None:
    body = encode_signed(b"z" * 20_000, 8192)
    end = data.draw(st.integers(0, len(body) - 3))  # only the very last CRLF may be missing
    error = refused(body[:end], cuts=data.draw(CUTS))
    assert error.code in ("IncompleteBody", "SignatureDoesNotMatch")


@SETTINGS
@given(data=st.data())
def test_truncated_signed_trailer_body_refused(data: st.DataObject) -> None:
    body = encode_signed(b"z" * 9000, 8192, [("x-amz-checksum-crc32", "AAAAAA==")])
    end = data.draw(st.integers(0, len(body) - 5))  # the CRLFs after the trailer signature may be missing
    error = refused(body[:end], STREAMING_SIGNED_TRAILER, cuts=data.draw(CUTS))
    assert error.code in ("IncompleteBody", "SignatureDoesNotMatch", "InvalidRequest")


def test_lenient_endings() -> None:
    body = encode_signed(b"abc", 8192)
    assert decode(body[:-2]) == (b"abc", {})
    trailed = encode_signed(b"abc", 8192, [("x-amz-checksum-crc32", "NSRBwg==")])
    for cut in (2, 4):
        assert decode(trailed[:-cut], STREAMING_SIGNED_TRAILER)[1] == {"x-amz-checksum-crc32": "NSRBwg=="}
    assert decode(body + b"\r\n", STREAMING_SIGNED) == (b"abc", {})  # stray CRLF after the end


@pytest.mark.parametrize(
    "body",
    [
        b"zz;chunk-signature=" + b"0" * 64 + b"\r\n",
        b"0x10;chunk-signature=" + b"0" * 64 + b"\r\n",
        b"1_0;chunk-signature=" + b"0" * 64 + b"\r\n",
        b"10\r\n",  # no chunk signature in a signed mode
        b"10;chunk-signatur=" + b"0" * 64 + b"\r\n",
        b"1" * 5000,  # a header line that never ends
    ],
)
def test_malformed_framing_refused(body: bytes) -> None:
    assert refused(body).code == "InvalidRequest"


def test_bad_signature_format_refused() -> None:
    assert refused(b"10;chunk-signature=XYZ\r\n").code == "SignatureDoesNotMatch"


def test_missing_crlf_after_data_refused() -> None:
    body = encode_signed(b"q" * 9000, 8192)
    first_data_end = body.index(b"\r\n") + 2 + 8192
    broken = body[:first_data_end] + b"XX" + body[first_data_end + 2 :]
    assert refused(broken).code == "InvalidRequest"


def test_data_after_the_end_refused() -> None:
    assert refused(encode_signed(b"abc", 8192) + b"more").code == "InvalidRequest"


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        AwsChunkedDecoder("UNSIGNED-PAYLOAD")
    with pytest.raises(ValueError):
        AwsChunkedDecoder(STREAMING_SIGNED)  # no key


# ---------------------------------------------------------------------------------- unsigned + trailer


@SETTINGS
@given(payload=st.binary(max_size=30_000), chunk_size=st.integers(1, 20_000), cuts=CUTS)
def test_botocore_unsigned_trailer(payload: bytes, chunk_size: int, cuts: list[int]) -> None:
    body = encode_unsigned(payload, chunk_size)
    out, trailers = decode(body, STREAMING_UNSIGNED_TRAILER, cuts)
    checksum = Checksum("CRC32")
    checksum.update(payload)
    assert out == payload
    assert trailers == {"x-amz-checksum-crc32": checksum.b64digest()}


@pytest.mark.parametrize(
    ("checksum_cls", "name", "algorithm"),
    [
        (CrtCrc32cChecksum, "x-amz-checksum-crc32c", "CRC32C"),
        (Sha256Checksum, "x-amz-checksum-sha256", "SHA256"),
    ],
)
def test_botocore_unsigned_trailer_algorithms(checksum_cls: Any, name: str, algorithm: str) -> None:
    payload = bytes(range(256)) * 1000
    out, trailers = decode(encode_unsigned(payload, 65536, checksum_cls, name), STREAMING_UNSIGNED_TRAILER)
    checksum = Checksum(algorithm)
    checksum.update(payload)
    assert out == payload and trailers == {name: checksum.b64digest()}


def test_unsigned_trailer_variants() -> None:
    assert decode(b"3\r\nabc\r\n0\r\n\r\n", STREAMING_UNSIGNED_TRAILER) == (b"abc", {})
    assert decode(b"3\r\nabc\r\n0\r\n", STREAMING_UNSIGNED_TRAILER) == (b"abc", {})
    assert decode(b"3;ext=1\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==", STREAMING_UNSIGNED_TRAILER) == (
        b"abc",
        {"x-amz-checksum-crc32": "NSRBwg=="},
    )
    assert decode(b"3\nabc\r\n0\n\n", STREAMING_UNSIGNED_TRAILER) == (b"abc", {})  # bare LFs


@SETTINGS
@given(data=st.data())
def test_truncated_unsigned_body_refused(data: st.DataObject) -> None:
    body = encode_unsigned(b"u" * 5000, 1000)
    end = data.draw(st.integers(0, body.index(b"0\r\nx-amz") + 1))  # before the final chunk is complete
    assert refused(body[:end], STREAMING_UNSIGNED_TRAILER, data.draw(CUTS)).code == "IncompleteBody"


def test_unsigned_bad_trailer_line_refused() -> None:
    assert refused(b"0\r\nno-colon\r\n\r\n", STREAMING_UNSIGNED_TRAILER).code == "InvalidRequest"


def test_boto3_upload_over_https_uses_unsigned_trailer() -> None:
    """A real boto3 PutObject of a stream over HTTPS: aws-chunked with a trailing CRC32, header-signed."""
    sent: list[Any] = []

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b""

    def capture(request: Any, **_: Any) -> AWSResponse:
        sent.append((request, request.body.read()))
        return AWSResponse(request.url, 200, {}, Raw())

    client = boto3.client(
        "s3",
        endpoint_url="https://127.0.0.1:9000",
        region_name="us-east-1",
        aws_access_key_id="AKID",
        aws_secret_access_key=DOC_SECRET,
        config=Config(s3={"addressing_style": "path"}),
    )
    client.meta.events.register("before-send.s3", capture)
    payload = bytes(range(256)) * 5000
    client.put_object(Bucket="bucket", Key="big key", Body=io.BytesIO(payload))
    ((request, body),) = sent
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    headers["host"] = _host_from_url(request.url)
    assert headers["x-amz-content-sha256"] == STREAMING_UNSIGNED_TRAILER
    assert headers["content-encoding"] == "aws-chunked"
    url = urlsplit(request.url)
    signed = parse_auth(headers, parse_qsl(url.query))
    assert signed is not None
    verify(signed, DOC_SECRET, "PUT", url.path, url.query, headers, now=time.time())
    out, trailers = decode(body, STREAMING_UNSIGNED_TRAILER, cuts=range(0, len(body), 65536))
    assert out == payload and len(out) == int(headers["x-amz-decoded-content-length"])
    checksum = Checksum("CRC32")
    checksum.update(payload)
    assert trailers == {headers["x-amz-trailer"]: checksum.b64digest()}


# ---------------------------------------------------------------------------------------- performance


def test_large_chunk_streams_without_buffering() -> None:
    """One 64 MiB signed chunk fed in 64 KiB pieces: each piece comes back as is (no copy, no buffering)."""
    size, piece = 64 * 1024 * 1024, 64 * 1024
    data = bytes(range(256)) * (piece // 256)
    signature = _sign(
        f"AWS4-HMAC-SHA256-PAYLOAD\n{DOC_DATE}\n{DOC_SCOPE}\n{DOC_SEED}\n{EMPTY_SHA256}\n"
        + _repeated_sha256(data, size // piece)
    )
    final = _sign(
        f"AWS4-HMAC-SHA256-PAYLOAD\n{DOC_DATE}\n{DOC_SCOPE}\n{signature}\n{EMPTY_SHA256}\n{EMPTY_SHA256}"
    )
    chunked = decoder()
    started = time.perf_counter()
    assert chunked.feed(f"{size:x};chunk-signature={signature}\r\n".encode()) == b""
    for _ in range(size // piece):
        assert chunked.feed(data) is data
    assert chunked.feed(f"\r\n0;chunk-signature={final}\r\n\r\n".encode()) == b""
    assert chunked.finish() == {}
    assert chunked.decoded_length == size
    assert time.perf_counter() - started < 10


def _repeated_sha256(data: bytes, times: int) -> str:
    digest = hashlib.sha256()
    for _ in range(times):
        digest.update(data)
    return digest.hexdigest()


def test_many_chunks_fed_in_misaligned_pieces() -> None:
    payload = bytes(range(256)) * (16 * 1024 * 4)  # 16 MiB in 64 KiB chunks
    body = encode_signed(payload, 65536)
    chunked = decoder()
    started = time.perf_counter()
    out = [chunked.feed(body[i : i + 65536]) for i in range(0, len(body), 65536)]
    chunked.finish()
    assert b"".join(out) == payload
    assert time.perf_counter() - started < 10


@settings(max_examples=300, deadline=None)
@given(
    mode=st.sampled_from([STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER]),
    pieces=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [
                    b"\r\n",
                    b"0",
                    b"a",
                    b";chunk-signature=",
                    b"0" * 64,
                    b":",
                    b"x-amz-trailer-signature:",
                    b"x-amz-checksum-crc32:AAAAAA==",
                    b"\n",
                    b"10000",
                ]
            ),
        ),
        max_size=20,
    ),
)
def test_fuzz_decoder_only_aws_errors(mode: str, pieces: list[bytes]) -> None:
    chunked = decoder(mode)
    try:
        for piece in pieces:
            chunked.feed(piece)
        chunked.finish()
    except AwsError:
        pass
