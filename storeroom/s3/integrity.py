"""The integrity check S3 requires of some configuration bodies (PutBucketCors, ...): a Content-MD5 or an
``x-amz-checksum-*`` value (a header, or a trailer of an aws-chunked body) that the body must match.

"Content-MD5 ... is required for all Put Bucket CORS requests" (https://docs.aws.amazon.com/AmazonS3/latest/API/
API_PutBucketCors.html); since S3 took the additional checksums in its place, it asks for either
("Missing required header for this request: Content-MD5 OR x-amz-checksum-*"), which is what SDKs send:
botocore computes one for every operation its model marks ``httpChecksumRequired``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

from storeroom.checksums import ALGORITHMS, Checksum, header_name
from storeroom.errors import AwsError
from storeroom.s3.upload import content_md5


def check_integrity(headers: Mapping[str, str], trailers: Mapping[str, str], body: bytes, *,
                    required: bool) -> None:
    """BadDigest (or InvalidDigest) when the body does not match a Content-MD5 or ``x-amz-checksum-*`` given;
    ``required``: InvalidRequest when neither is given."""
    expected_md5 = content_md5(dict(headers))
    checked = expected_md5 is not None
    if expected_md5 is not None and hashlib.md5(body).digest() != expected_md5:
        raise AwsError("BadDigest", ExpectedDigest=headers["content-md5"],
                       CalculatedDigest=base64.b64encode(hashlib.md5(body).digest()).decode())
    for algorithm in ALGORITHMS:
        name = header_name(algorithm)
        sent = headers.get(name) or trailers.get(name)
        if sent is None:
            continue
        checked = True
        checksum = Checksum(algorithm)
        checksum.update(body)
        if checksum.b64digest() != sent.strip():
            raise AwsError("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")
    if required and not checked:
        raise AwsError("InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
