"""Request details S3 checks and Storeroom once let through: integrity headers that could go unchecked, parts a
Complete must name fully, headers whose values S3 validates or re-encodes, and the checksums a part-wise
download and a multipart copy need.  Each case names AWS's answer and where it is recorded."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.e2e.helpers import assert_s3_error, parse_error, sign_headers, signed_request

MiB = 1024 * 1024


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# -- x-amz-checksum-* on PutObject and UploadPart ------------------------------------------------------------

def test_two_checksum_headers_are_refused_and_nothing_is_stored(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """"Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed." (S3's answer as
    https://github.com/versity/versitygw/issues/1186 records it): else the second value went unchecked."""
    url = f"{endpoint}/{bucket}/two"
    r = signed_request("PUT", url, {"x-amz-checksum-crc32": _crc32(b"hi"),
                                    "x-amz-checksum-sha256": _sha256(b"WRONG")}, b"hi")
    err = assert_s3_error(r, 400, "InvalidRequest")
    assert err["Message"] == "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="two")


def test_two_checksum_headers_on_a_part_are_refused(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    r = signed_request("PUT", f"{endpoint}/{bucket}/mp?partNumber=1&uploadId={upload}",
                       {"x-amz-checksum-crc32": _crc32(b"part"), "x-amz-checksum-sha256": _sha256(b"x")}, b"part")
    assert_s3_error(r, 400, "InvalidRequest")
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload).get("Parts", []) == []


@pytest.mark.parametrize("value", ["i9aeUgg=", "zz", "", _sha256(b"a CRC32 is 4 bytes, this is 32")])
def test_a_malformed_checksum_value_is_invalid_not_a_mismatch(endpoint, bucket, value) -> None:  # type: ignore[no-untyped-def]
    """A value that cannot be a CRC32 is "Value for x-amz-checksum-crc32 header is invalid." (the AWS SDK for
    Java's integration test against S3, HttpChecksumIntegrationTest, sends exactly ``i9aeUgg=``); a well-formed
    other value stays BadDigest."""
    r = signed_request("PUT", f"{endpoint}/{bucket}/hw", {"x-amz-checksum-crc32": value}, b"Hello world")
    err = assert_s3_error(r, 400, "InvalidRequest")
    assert err["Message"] == "Value for x-amz-checksum-crc32 header is invalid."
    r = signed_request("PUT", f"{endpoint}/{bucket}/hw", {"x-amz-checksum-crc32": _crc32(b"other")}, b"Hello world")
    assert_s3_error(r, 400, "BadDigest")


def test_sdk_checksum_algorithm_must_come_with_its_checksum(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """S3 refuses x-amz-sdk-checksum-algorithm without a checksum header or trailer, and one naming another
    algorithm than the checksum sent (https://github.com/versity/versitygw/issues/1593, #1598)."""
    url = f"{endpoint}/{bucket}/ck"
    err = assert_s3_error(signed_request("PUT", url, {"x-amz-sdk-checksum-algorithm": "CRC32"}, b"hi"),
                          400, "InvalidRequest")
    assert err["Message"] == ("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or "
                              "x-amz-trailer headers were found.")
    err = assert_s3_error(signed_request("PUT", url, {"x-amz-sdk-checksum-algorithm": "SHA256",
                                                      "x-amz-checksum-crc32": _crc32(b"hi")}, b"hi"),
                          400, "InvalidRequest")
    assert err["Message"] == "Value for x-amz-sdk-checksum-algorithm header is invalid."
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="ck")
    r = signed_request("PUT", url, {"x-amz-sdk-checksum-algorithm": "crc32", "x-amz-checksum-crc32": _crc32(b"hi")},
                       b"hi")
    assert r.status_code == 200, r.text
    assert s3.put_object(Bucket=bucket, Key="sdk", Body=b"data", ChecksumAlgorithm="SHA256")["ChecksumSHA256"] == (
        _sha256(b"data"))


@pytest.mark.parametrize("algorithm", ["sha512", "md5", "xxhash64", "xxhash3", "xxhash128"])
def test_checksum_algorithms_not_computed_here_are_refused(endpoint, s3, bucket, algorithm) -> None:  # type: ignore[no-untyped-def]
    """S3's model has these since 2025; Storeroom does not compute them, so it refuses them (as it does in a
    trailer and at CreateMultipartUpload) instead of storing a value it never checked."""
    r = signed_request("PUT", f"{endpoint}/{bucket}/new", {f"x-amz-checksum-{algorithm}": "AAAAAAAAAAA="}, b"x")
    assert_s3_error(r, 400, "InvalidRequest")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="new")


# -- CompleteMultipartUpload's parts -------------------------------------------------------------------------

def _complete(endpoint: str, bucket: str, key: str, upload: str, parts: str):  # type: ignore[no-untyped-def]
    body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
    return signed_request("POST", f"{endpoint}/{bucket}/{key}?uploadId={upload}", {}, body)


def test_complete_needs_each_parts_etag(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """A <Part> without <ETag> is MalformedXML, as without <PartNumber>
    (https://github.com/versity/versitygw/issues/2111, checked against AWS): the ETag is what makes sure the part
    assembled is the one the client confirmed."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="noetag")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="noetag", UploadId=upload, PartNumber=1, Body=b"one")["ETag"]
    r = _complete(endpoint, bucket, "noetag", upload, "<Part><PartNumber>1</PartNumber></Part>")
    assert_s3_error(r, 400, "MalformedXML")
    r = _complete(endpoint, bucket, "noetag", upload, f"<Part><PartNumber>0</PartNumber><ETag>{etag}</ETag></Part>")
    err = assert_s3_error(r, 400, "InvalidArgument")
    assert err["Message"] == "PartNumber must be >= 1"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="noetag")
    r = _complete(endpoint, bucket, "noetag", upload, f"<Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>")
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="noetag")["Body"].read() == b"one"


# -- the checksums of parts ----------------------------------------------------------------------------------

def test_upload_part_copy_answers_the_parts_checksum(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """CopyPartResult carries the part's checksum when the upload named an algorithm (API_CopyPartResult);
    s3transfer sends it back at completion, which an upload with an algorithm requires."""
    data = b"z" * (6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst", ChecksumAlgorithm="CRC32")["UploadId"]
    result = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=0-99")
    assert result["CopyPartResult"]["ChecksumCRC32"] == _crc32(data[:100])
    s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload)
    s3.copy({"Bucket": bucket, "Key": "src"}, bucket, "managed", ExtraArgs={"ChecksumAlgorithm": "CRC32"},
            Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    assert s3.get_object(Bucket=bucket, Key="managed")["Body"].read() == data


def test_upload_part_copy_of_a_range_past_the_source_is_invalid_argument(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """A copy-source range ending past the source is S3's 400 InvalidArgument "Range specified is not valid for
    source object of size: N" (a real S3 answer, versity/versitygw#610), not GET's 416 InvalidRange."""
    s3.put_object(Bucket=bucket, Key="five", Body=b"12345")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    for bad in ("bytes=0-5", "bytes=4-6"):
        with pytest.raises(ClientError) as caught:
            s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "five"}, CopySourceRange=bad)
        error = caught.value.response["Error"]
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, bad
        assert (error["Code"], error["Message"]) == (
            "InvalidArgument", "Range specified is not valid for source object of size: 5"), bad
    with pytest.raises(ClientError) as caught:  # starting past the source: another answer (AWS-recorded, LocalStack)
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "five"}, CopySourceRange="bytes=100-200")
    assert (caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]) == (
        "InvalidRequest", "The specified copy range is invalid for the source object size")
    s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1,
                        CopySource={"Bucket": bucket, "Key": "five"}, CopySourceRange="bytes=4-4")
    s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload)


def test_a_part_read_with_checksum_mode_has_the_parts_checksum(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """GET/HEAD ?partNumber=N of a COMPOSITE multipart object answers part N's checksum, which an SDK's
    part-wise download checks; a single-part object's part 1 is the whole object."""
    first, second = b"a" * (5 * MiB), b"b" * 100
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for number, data in enumerate((first, second), 1):
        part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number, Body=data,
                              ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    for number, data in ((1, first), (2, second)):
        got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=number, ChecksumMode="ENABLED")
        assert got["ChecksumCRC32"] == _crc32(data)
        assert got["Body"].read() == data
    assert s3.head_object(Bucket=bucket, Key="mp", PartNumber=2, ChecksumMode="ENABLED")["ChecksumCRC32"] == (
        _crc32(second))
    s3.put_object(Bucket=bucket, Key="one", Body=b"single", ChecksumAlgorithm="SHA256")
    assert s3.head_object(Bucket=bucket, Key="one", PartNumber=1, ChecksumMode="ENABLED")["ChecksumSHA256"] == (
        _sha256(b"single"))


# -- headers S3 validates or re-encodes ----------------------------------------------------------------------

@pytest.mark.parametrize("location", ["foo", "", "ftp://host/x", "/" + "a" * 2048])
def test_website_redirect_location_is_validated(endpoint, s3, bucket, location) -> None:  # type: ignore[no-untyped-def]
    """"must be prefixed by /, http://, or https://. The length of the value is limited to 2 KB"
    (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html): 400 InvalidRedirectLocation."""
    r = signed_request("PUT", f"{endpoint}/{bucket}/r", {"x-amz-website-redirect-location": location}, b"x")
    assert_s3_error(r, 400, "InvalidRedirectLocation")
    for good in ("/other", "https://example.com/x"):
        s3.put_object(Bucket=bucket, Key="r", Body=b"x", WebsiteRedirectLocation=good)
        assert s3.head_object(Bucket=bucket, Key="r")["WebsiteRedirectLocation"] == good


def test_non_ascii_user_metadata_comes_back_rfc2047_encoded(endpoint, bucket) -> None:  # type: ignore[no-untyped-def]
    """Values beyond US-ASCII "are ... encoded as per RFC 2047 to make them mail-safe before returning"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html); raw UTF-8 came back raw, which
    clients read as ISO-8859-1 (héllo became hÃ©llo)."""
    url = f"{endpoint}/{bucket}/meta"
    hdrs: dict[str, str | bytes] = {**sign_headers("PUT", url, {"x-amz-meta-n": "héllo", "x-amz-meta-a": "plain"},
                                                   b"x")}
    hdrs["x-amz-meta-n"] = "héllo".encode()  # the raw UTF-8 bytes botocore signed (requests would send ISO-8859-1)
    r = requests.put(url, headers=hdrs, data=b"x", timeout=10)
    assert r.status_code == 200, r.text
    r = signed_request("HEAD", url)
    assert r.headers["x-amz-meta-n"] == "=?UTF-8?B?" + base64.b64encode("héllo".encode()).decode() + "?="
    assert r.headers["x-amz-meta-a"] == "plain"
    encoded = "=?UTF-8?B?aMOpbGxv?="
    signed_request("PUT", url, {"x-amz-meta-n": encoded}, b"x")
    assert signed_request("HEAD", url).headers["x-amz-meta-n"] == encoded


def test_http_chunked_upload_part_is_not_implemented(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """As PutObject: an HTTP-chunked body is 501 NotImplemented naming Transfer-Encoding."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="te")["UploadId"]
    url = f"{endpoint}/{bucket}/te?partNumber=1&uploadId={upload}"
    hdrs = sign_headers("PUT", url, payload_hash="UNSIGNED-PAYLOAD")
    hdrs.pop("Content-Length", None)
    r = requests.put(url, headers=hdrs, data=iter([b"abc"]), timeout=10)
    assert r.status_code == 501
    assert parse_error(r.content)["Header"] == "Transfer-Encoding"
