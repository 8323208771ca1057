"""Decoding of ``aws-chunked`` request bodies, checking chunk and trailer signatures as they stream.

Signed chunks: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
  ``hex(chunk-size) + ";chunk-signature=" + signature + \\r\\n + chunk-data + \\r\\n``, ending with a
  chunk of size 0; each signature is over ``"AWS4-HMAC-SHA256-PAYLOAD" \\n timestamp \\n scope \\n
  previous-signature \\n Hex(SHA256("")) \\n Hex(SHA256(chunk-data))``, the first previous signature
  being the seed (the Authorization header's).
Trailers: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
  after the 0-size chunk come ``name:value\\r\\n`` lines, then (signed)
  ``x-amz-trailer-signature:<sig>\\r\\n`` over ``"AWS4-HMAC-SHA256-TRAILER" \\n timestamp \\n scope \\n
  previous-signature \\n Hex(SHA256(<each trailer as "name:value\\n">))``, then ``\\r\\n``.
  Unsigned (botocore's ``AwsChunkedWrapper``): ``hex(size)\\r\\n data \\r\\n ... 0\\r\\n name:value\\r\\n
  \\r\\n``.

Memory is constant whatever the chunk size: data is hashed incrementally and handed back as it arrives, so
bytes of a chunk are returned *before* its signature is checked (at the chunk's end); the caller commits
the object only after :meth:`AwsChunkedDecoder.finish`.

Leniency (clients differ): the final ``\\r\\n`` after the last chunk or trailer may be missing, as may the
CRLF ending the last trailer line; chunk extensions other than the signature are ignored in unsigned mode;
a bare LF ends a header line.  The caller must still check that the trailer named in ``x-amz-trailer``
arrived and matches the data, and that the decoded length equals ``x-amz-decoded-content-length``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

from storeroom.errors import AwsError
from storeroom.sigv4.auth import hmac_sha256_hex

STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
MODES = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)

# "Only the last chunk is allowed to have a size less than 8192 bytes" (S3's InvalidChunkSizeError), for
# signed chunks: "chunk size ... must be at least 8 KB" except the last.
MIN_CHUNK_SIZE = 8192
TRAILER_SIGNATURE = "x-amz-trailer-signature"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_MAX_LINE = 4096  # a chunk header is ~90 bytes
_MAX_TRAILER = 16384
_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIGNATURE = re.compile(rb"[0-9a-f]{64}")
_SIGNATURE_EXT = b"chunk-signature="

_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


def _malformed(detail: str) -> AwsError:
    return AwsError("InvalidRequest", f"Invalid aws-chunked encoding: {detail}")


def _incomplete() -> AwsError:
    return AwsError("IncompleteBody", "The request body terminated unexpectedly")


class AwsChunkedDecoder:
    """Sans-IO decoder: :meth:`feed` the body as it arrives, then :meth:`finish` at its end."""

    def __init__(
        self,
        mode: str,
        *,
        signing_key: bytes | None = None,
        seed_signature: str | None = None,
        amz_date: str = "",
        scope: str = "",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"not an aws-chunked mode: {mode!r}")
        self._signed = mode != STREAMING_UNSIGNED_TRAILER
        self._trailers_allowed = mode != STREAMING_SIGNED
        if self._signed and (signing_key is None or seed_signature is None):
            raise ValueError(f"{mode} needs signing_key and seed_signature")
        self._key = signing_key or b""
        self._previous = seed_signature or ""
        self._chunk_prefix = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n"
        self._trailer_prefix = f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n"
        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0
        self._crlf = 0
        self._hash = hashlib.sha256()
        self._signature = ""
        self._chunks = 0
        self._short_chunk: tuple[int, int] | None = None  # (number, size) of a chunk below MIN_CHUNK_SIZE
        self._trailers: dict[str, str] = {}
        self._canonical_trailers: list[str] = []
        self._trailer_signature: str | None = None
        self._trailer_bytes = 0
        self.decoded_length = 0
        """Payload bytes returned so far."""

    # ----------------------------------------------------------------------------------------- feeding

    def feed(self, data: bytes) -> bytes:
        """Consume the next piece of the body; return the payload bytes it completes (possibly ``b""``)."""
        out: list[bytes] = []
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                pos = self._feed_data(data, pos, out)
            elif state == _HEADER:
                pos = self._feed_line(data, pos, self._chunk_header)
            elif state == _DATA_END:
                pos = self._feed_crlf(data, pos)
            elif state == _TRAILER:
                pos = self._feed_line(data, pos, self._trailer_line)
            else:
                self._feed_after_end(data[pos:])
                break
        if len(out) == 1:
            return out[0]
        return b"".join(out)

    def finish(self) -> dict[str, str]:
        """The body has ended: check it ended after the final chunk; return the trailers (lowercase names,
        without ``x-amz-trailer-signature``)."""
        if self._state == _TRAILER:
            if self._line:  # the last trailer line without its CRLF
                line, self._line = bytes(self._line), bytearray()
                self._trailer_line(line)
            if self._state == _TRAILER:
                self._end_of_trailers()
        if self._state != _DONE:
            raise _incomplete()
        return dict(self._trailers)

    def _feed_data(self, data: bytes, pos: int, out: list[bytes]) -> int:
        n = min(self._remaining, len(data) - pos)
        piece = data if n == len(data) else data[pos:pos + n]
        if self._signed:
            self._hash.update(piece)
        out.append(piece)
        self._remaining -= n
        self.decoded_length += n
        if not self._remaining:
            self._state = _DATA_END
            self._verify_chunk()
        return pos + n

    def _feed_crlf(self, data: bytes, pos: int) -> int:
        """The CRLF after a chunk's data (possibly split across pieces)."""
        end = len(data)
        while pos < end and self._crlf < 2:
            if data[pos] != b"\r\n"[self._crlf]:
                raise _malformed("chunk data is not followed by CRLF")
            self._crlf += 1
            pos += 1
        if self._crlf == 2:
            self._crlf = 0
            self._state = _HEADER
        return pos

    def _feed_line(self, data: bytes, pos: int, handle: Callable[[bytes], None]) -> int:
        newline = data.find(b"\n", pos)
        if newline < 0:
            self._line += data[pos:]
            if len(self._line) > _MAX_LINE:
                raise _malformed("line too long")
            return len(data)
        if self._line:
            self._line += data[pos:newline]
            line, self._line = bytes(self._line), bytearray()
        else:
            line = data[pos:newline]
        if len(line) > _MAX_LINE:
            raise _malformed("line too long")
        handle(line[:-1] if line.endswith(b"\r") else line)
        return newline + 1

    def _feed_after_end(self, rest: bytes) -> None:
        if rest.strip(b"\r\n"):
            raise _malformed("data after the final chunk")

    # ------------------------------------------------------------------------------------------ chunks

    def _chunk_header(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        size_text = size_text.strip(b" \t")
        if not _HEX_SIZE.fullmatch(size_text):
            raise _malformed("bad chunk size")
        size = int(size_text, 16)
        if self._signed:
            self._signature = self._chunk_signature(extension)
        self._check_chunk_size(size)
        if size:
            self._remaining = size
            self._state = _DATA
        else:
            self._verify_chunk()
            self._state = _TRAILER

    def _chunk_signature(self, extension: bytes) -> str:
        extension = extension.strip(b" \t")
        if not extension.startswith(_SIGNATURE_EXT):
            raise _malformed("chunk-signature missing")
        signature = extension[len(_SIGNATURE_EXT):]
        if not _SIGNATURE.fullmatch(signature):
            raise AwsError("SignatureDoesNotMatch")
        return signature.decode("ascii")

    def _check_chunk_size(self, size: int) -> None:
        self._chunks += 1
        if not self._signed:
            return
        if self._short_chunk is not None and size:
            number, short = self._short_chunk
            raise AwsError("InvalidChunkSizeError", Chunk=str(number), BadChunkSize=str(short))
        if 0 < size < MIN_CHUNK_SIZE:
            self._short_chunk = (self._chunks, size)

    def _verify_chunk(self) -> None:
        """The chunk's data is complete: check its signature (signed modes)."""
        if not self._signed:
            return
        data_hash = self._hash.hexdigest()
        self._hash = hashlib.sha256()
        self._check_signature(
            self._chunk_prefix + f"{self._previous}\n{EMPTY_SHA256}\n{data_hash}", self._signature
        )

    def _check_signature(self, string_to_sign: str, provided: str) -> None:
        expected = hmac_sha256_hex(self._key, string_to_sign.encode("utf-8"))
        if not (provided.isascii() and hmac.compare_digest(expected, provided)):
            raise AwsError("SignatureDoesNotMatch")
        self._previous = provided

    # ---------------------------------------------------------------------------------------- trailers

    def _trailer_line(self, line: bytes) -> None:
        if not line.strip(b" \t"):
            self._end_of_trailers()
            return
        self._trailer_bytes += len(line)
        if not self._trailers_allowed or self._trailer_bytes > _MAX_TRAILER:
            raise _malformed("unexpected trailer")
        name_bytes, sep, value_bytes = line.partition(b":")
        if not sep:
            raise _malformed("bad trailer line")
        name = name_bytes.strip(b" \t").decode("latin-1").lower()
        value = value_bytes.strip(b" \t").decode("latin-1")
        if name == TRAILER_SIGNATURE:
            self._trailer_signature = value
        elif self._trailer_signature is not None:
            raise _malformed("trailer after x-amz-trailer-signature")
        else:
            self._trailers[name] = value
            self._canonical_trailers.append(f"{name}:{value}\n")

    def _end_of_trailers(self) -> None:
        if self._signed and self._trailers_allowed and (self._trailers or self._trailer_signature):
            if self._trailer_signature is None:
                raise _incomplete()
            digest = hashlib.sha256("".join(self._canonical_trailers).encode("latin-1")).hexdigest()
            self._check_signature(
                self._trailer_prefix + f"{self._previous}\n{digest}", self._trailer_signature
            )
        self._state = _DONE

