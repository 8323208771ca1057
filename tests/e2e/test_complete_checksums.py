"""CompleteMultipartUpload checks the checksums a client sends, as S3 does: the whole-object
``x-amz-checksum-*`` against the object's COMPOSITE or FULL_OBJECT checksum (BadDigest), the parts' checksums
(required when the upload has an algorithm, and equal to the parts'), the checksum type and algorithm."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from awscrt import checksums as crt  # type: ignore[import-untyped]
from botocore.exceptions import ClientError

from tests.e2e.helpers import MiB, client_error, random_bytes

PART = 5 * MiB
WIDTH = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8}


def digest(algorithm: str, data: bytes) -> bytes:
    if algorithm in ("SHA1", "SHA256"):
        return hashlib.new(algorithm.lower(), data).digest()
    crc = {"CRC32": zlib.crc32, "CRC32C": crt.crc32c, "CRC64NVME": crt.crc64nvme}[algorithm](data)
    return int(crc).to_bytes(WIDTH[algorithm], "big")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def object_checksum(algorithm: str, kind: str, parts: list[bytes]) -> str:
    """S3's checksum of a multipart object: of the whole data (FULL_OBJECT), or of the parts' digests, -N."""
    if kind == "FULL_OBJECT":
        return b64(digest(algorithm, b"".join(parts)))
    return b64(digest(algorithm, b"".join(digest(algorithm, p) for p in parts))) + f"-{len(parts)}"


def error(exc) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    status, code = client_error(exc)
    return status, code, exc.value.response["Error"]["Message"]


class Upload:
    """An upload created with a checksum algorithm (and type), its parts uploaded with that algorithm."""

    def __init__(self, s3, bucket: str, algorithm: str, kind: str | None, parts: list[bytes],  # type: ignore[no-untyped-def]
                 numbers: list[int] | None = None) -> None:
        self.s3, self.bucket, self.algorithm, self.parts = s3, bucket, algorithm, parts
        extra = {"ChecksumType": kind} if kind else {}
        self.upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm,
                                                    **extra)["UploadId"]
        self.listed = []
        for number, body in zip(numbers or range(1, len(parts) + 1), parts, strict=True):
            answer = s3.upload_part(Bucket=bucket, Key="k", UploadId=self.upload_id, PartNumber=number, Body=body,
                                    ChecksumAlgorithm=algorithm)
            assert answer[f"Checksum{algorithm}"] == b64(digest(algorithm, body))
            self.listed.append({"PartNumber": number, "ETag": answer["ETag"],
                                f"Checksum{algorithm}": answer[f"Checksum{algorithm}"]})

    def complete(self, parts: list[dict] | None = None, **kwargs: str) -> dict:
        return self.s3.complete_multipart_upload(Bucket=self.bucket, Key="k", UploadId=self.upload_id,
                                                 MultipartUpload={"Parts": parts or self.listed}, **kwargs)

    def refused(self, parts: list[dict] | None = None, **kwargs: str) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as exc:
            self.complete(parts, **kwargs)
        return error(exc)


CASES = [("SHA256", "COMPOSITE"), ("SHA1", "COMPOSITE"), ("CRC32", "COMPOSITE"), ("CRC32C", "COMPOSITE"),
         ("CRC32", "FULL_OBJECT"), ("CRC32C", "FULL_OBJECT"), ("CRC64NVME", "FULL_OBJECT")]


@pytest.mark.parametrize(("algorithm", "kind"), CASES)
def test_complete_checks_every_checksum_it_is_given(s3, bucket, algorithm: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    data = [random_bytes(PART), b"the tail"]
    upload = Upload(s3, bucket, algorithm, kind, data)
    field = f"Checksum{algorithm}"
    expected = object_checksum(algorithm, kind, data)

    # The whole-object checksum must be the object's.
    bad_digest = (400, "BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")
    assert upload.refused(**{field: "bad"}) == bad_digest
    assert upload.refused(**{field: b64(digest(algorithm, b"other data"))}) == bad_digest
    # Each part must come with its own checksum.
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in upload.listed]
    assert upload.refused(bare) == (
        400, "InvalidRequest", f"The upload was created using a {algorithm.lower()} checksum. The complete "
        "request must include the checksum for each part. It was missing for part 1 in the request.")
    swapped = [{**upload.listed[0], field: upload.listed[1][field]}, upload.listed[1]]
    assert upload.refused(swapped)[:2] == (400, "InvalidPart")
    other = "SHA1" if algorithm != "SHA1" else "SHA256"
    with_other = [{**upload.listed[0], f"Checksum{other}": b64(digest(other, data[0]))}, upload.listed[1]]
    assert upload.refused(with_other) == (
        400, "BadDigest", f"The {other.lower()} you specified for part 1 did not match what we received.")
    # The type and the algorithm are the upload's.
    other_kind = "FULL_OBJECT" if kind == "COMPOSITE" else "COMPOSITE"
    assert upload.refused(ChecksumType=other_kind) == (
        400, "InvalidRequest", f"The upload was created using the {kind} checksum mode. The complete request "
        "must use the same checksum mode.")
    assert upload.refused(**{f"Checksum{other}": b64(digest(other, b"".join(data)))}) == (
        400, "InvalidRequest", f"Checksum Type mismatch occurred, expected checksum Type: {algorithm.lower()}, "
        f"actual checksum Type: {other.lower()}")

    # Refused requests leave the upload as it was: the right checksum completes it.
    done = upload.complete(ChecksumType=kind, **{field: expected})
    assert (done[field], done["ChecksumType"]) == (expected, kind)
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head[field], head["ChecksumType"]) == (expected, kind)


def test_a_composite_checksum_may_be_sent_without_its_part_count(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    data = [random_bytes(PART), b"tail"]
    upload = Upload(s3, bucket, "SHA256", None, data)
    expected = object_checksum("SHA256", "COMPOSITE", data)
    assert upload.complete(ChecksumSHA256=expected.rsplit("-", 1)[0])["ChecksumSHA256"] == expected


def test_parts_of_an_upload_with_checksums_are_numbered_from_1_without_gaps(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload = Upload(s3, bucket, "SHA256", None, [random_bytes(PART), b"tail"], numbers=[1, 3])
    assert upload.refused()[:2] == (400, "InvalidPartOrder")
    assert upload.refused(upload.listed[1:])[:2] == (400, "InvalidPartOrder")


def test_a_part_checked_with_another_algorithm_is_refused(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    for extra in ({"ChecksumAlgorithm": "CRC32"}, {"ChecksumCRC32": b64(digest("CRC32", b"one"))}):
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"one", **extra)
        assert error(exc) == (400, "InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: "
                              "sha256, actual checksum Type: crc32")
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id).get("Parts", []) == []


def test_an_upload_without_algorithm_checks_the_default_crc64nvme(client_factory, bucket) -> None:  # type: ignore[no-untyped-def]
    # S3 gives an object uploaded without a checksum of its own a CRC64NVME full-object checksum.
    s3 = client_factory(request_checksum_calculation="when_required")  # parts sent without checksums
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"one")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts,
                                     ChecksumCRC64NVME=b64(digest("CRC64NVME", b"two")))
    assert client_error(exc) == (400, "BadDigest")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts,
                                     ChecksumType="COMPOSITE")
    assert error(exc) == (400, "InvalidRequest", "The upload was created using the null checksum mode. The "
                          "complete request must use the same checksum mode.")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts,
                                        ChecksumCRC64NVME=b64(digest("CRC64NVME", b"one")))
    assert done["ChecksumCRC64NVME"] == b64(digest("CRC64NVME", b"one"))


def test_an_upload_without_algorithm_gets_the_default_crc64nvme_when_parts_carry_another(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    # boto3 sends each part with a CRC32 by default; S3 still gives the object its FULL_OBJECT CRC64NVME
    # (LocalStack's AWS recordings: test_s3_preconditions.py TestS3ObjectWritePrecondition::test_multipart_if_match_etag
    # -> complete-multipart-if-match), and does not list the parts' CRC32s as the upload's.
    bodies = [random_bytes(PART), b"tail"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    listed = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=body,
                                ChecksumAlgorithm="CRC32")
        assert answer["ChecksumCRC32"] == b64(digest("CRC32", body))
        listed.append({"PartNumber": number, "ETag": answer["ETag"]})
    whole = b64(digest("CRC64NVME", b"".join(bodies)))
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": listed},
                                     ChecksumCRC64NVME=b64(digest("CRC64NVME", b"other")))
    assert client_error(exc) == (400, "BadDigest")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                        MultipartUpload={"Parts": listed})
    assert (done["ChecksumCRC64NVME"], done["ChecksumType"]) == (whole, "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC64NVME"], head["ChecksumType"]) == (whole, "FULL_OBJECT")
    assert s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["Body"].read() == b"".join(bodies)


def test_a_part_without_the_uploads_checksum_is_refused(client_factory, bucket) -> None:  # type: ignore[no-untyped-def]
    # LocalStack's AWS recording: test_multipart_parts_checksum_exceptions -> upload-part-no-checksum-exc
    s3 = client_factory(request_checksum_calculation="when_required")  # parts sent without checksums
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"one")
    assert error(exc) == (400, "InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: sha256, "
                          "actual checksum Type: null")


def test_without_an_algorithm_a_checksum_the_part_was_not_stored_with_names_no_part(client_factory, bucket) -> None:  # type: ignore[no-untyped-def]
    # LocalStack's AWS recording: test_multipart_parts_checksum_exceptions -> complete-part-with-checksum
    s3 = client_factory(request_checksum_calculation="when_required")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"")["ETag"]
    listed = {"PartNumber": 1, "ETag": etag, "ChecksumSHA256": b64(digest("SHA256", b"abc"))}
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": [listed]})
    assert client_error(exc) == (400, "InvalidPart")
    assert (exc.value.response["Error"]["PartNumber"], exc.value.response["Error"]["UploadId"]) == ("1", upload_id)
    # the part's own (default) CRC64NVME is one it was stored with
    listed = {"PartNumber": 1, "ETag": etag, "ChecksumCRC64NVME": b64(digest("CRC64NVME", b""))}
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": [listed]})
    assert done["ChecksumCRC64NVME"] == b64(digest("CRC64NVME", b""))
