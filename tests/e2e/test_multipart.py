"""Multipart uploads: create/upload/complete, part rules, abort, listings, UploadPartCopy, the transfer
manager, ranged and part-number reads of multipart objects."""

from __future__ import annotations

import hashlib

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.e2e.helpers import MiB, assert_s3_error, client_error, md5_hex, random_bytes, signed_request

PART = 5 * MiB


def multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def upload(s3, bucket: str, key: str, parts: list[bytes], **create_kw) -> tuple[str, list[dict]]:
    """Create an upload and upload ``parts`` (numbered from 1); returns (upload id, completed-parts list)."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create_kw)["UploadId"]
    done = []
    for n, body in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
        done.append({"PartNumber": n, "ETag": etag})
    return upload_id, done


def complete(s3, bucket: str, key: str, upload_id: str, parts: list[dict]) -> dict:
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})


@pytest.fixture
def two_part_object(s3, bucket) -> tuple[str, list[bytes]]:
    parts = [random_bytes(PART), random_bytes(MiB + 3)]
    upload_id, done = upload(s3, bucket, "mp", parts)
    complete(s3, bucket, "mp", upload_id, done)
    return bucket, parts


def test_complete_multipart(s3, bucket):
    parts = [random_bytes(PART), random_bytes(MiB + 3)]
    upload_id, done = upload(s3, bucket, "mp", parts, ContentType="video/mp4", Metadata={"src": "camera"})
    assert [p["ETag"] for p in done] == [f'"{md5_hex(p)}"' for p in parts]
    resp = complete(s3, bucket, "mp", upload_id, done)
    assert resp["ETag"] == multipart_etag(parts)
    assert resp["Key"] == "mp"
    assert resp["Bucket"] == bucket
    obj = s3.get_object(Bucket=bucket, Key="mp")
    assert obj["ETag"] == multipart_etag(parts)
    assert obj["ContentLength"] == sum(map(len, parts))
    assert obj["ContentType"] == "video/mp4"
    assert obj["Metadata"] == {"src": "camera"}
    assert obj["Body"].read() == b"".join(parts)


def test_single_small_part_is_allowed(s3, bucket):
    upload_id, done = upload(s3, bucket, "one", [b"tiny"])
    assert complete(s3, bucket, "one", upload_id, done)["ETag"] == multipart_etag([b"tiny"])
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"tiny"


def test_completed_upload_disappears(s3, bucket):
    upload_id, done = upload(s3, bucket, "gone", [b"x"])
    complete(s3, bucket, "gone", upload_id, done)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="gone", UploadId=upload_id)
    assert client_error(exc) == (404, "NoSuchUpload")


def test_reuploaded_part_replaces_previous(s3, bucket):
    upload_id, _ = upload(s3, bucket, "re", [b"first version"])
    etag = s3.upload_part(Bucket=bucket, Key="re", UploadId=upload_id, PartNumber=1, Body=b"second")["ETag"]
    complete(s3, bucket, "re", upload_id, [{"PartNumber": 1, "ETag": etag}])
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"second"


def test_unused_parts_are_dropped(s3, bucket):
    """Only the listed parts make the object; non-consecutive part numbers are fine."""
    parts = [random_bytes(PART), b"unused part", b"last"]
    upload_id, done = upload(s3, bucket, "sparse", parts)
    complete(s3, bucket, "sparse", upload_id, [done[0], done[2]])
    obj = s3.get_object(Bucket=bucket, Key="sparse")
    assert obj["Body"].read() == parts[0] + parts[2]
    assert obj["ETag"] == multipart_etag([parts[0], parts[2]])


def test_entity_too_small(s3, bucket):
    upload_id, done = upload(s3, bucket, "small", [b"a" * 1024, b"b" * 1024])
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "small", upload_id, done)
    assert client_error(exc) == (400, "EntityTooSmall")
    # AWS's wording (LocalStack's AWS recording: test_multipart_complete_multipart_too_small)
    assert exc.value.response["Error"]["Message"] == "Your proposed upload is smaller than the minimum allowed size"


def test_invalid_part_wrong_etag(s3, bucket):
    upload_id, done = upload(s3, bucket, "k", [b"x"])
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, [{"PartNumber": 1, "ETag": f'"{md5_hex(b"y")}"'}])
    assert client_error(exc) == (400, "InvalidPart")


def test_invalid_part_missing_number(s3, bucket):
    upload_id, done = upload(s3, bucket, "k", [b"x"])
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, [{"PartNumber": 2, "ETag": done[0]["ETag"]}])
    assert client_error(exc) == (400, "InvalidPart")


def test_invalid_part_order(s3, bucket):
    # both parts >= 5 MiB, so the order is the only thing wrong
    upload_id, done = upload(s3, bucket, "k", [random_bytes(PART), random_bytes(PART)])
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, [done[1], done[0]])
    assert client_error(exc) == (400, "InvalidPartOrder")
    assert exc.value.response["Error"]["UploadId"] == upload_id  # as AWS names it (LocalStack's recording)


def test_complete_with_no_parts_is_malformed(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "k", upload_id, [])
    assert client_error(exc) == (400, "MalformedXML")
    # no body at all is S3's InvalidRequest (LocalStack's AWS recording: test_multipart_complete_multipart_too_small)
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert (*client_error(exc), exc.value.response["Error"]["Message"]) == (
        400, "InvalidRequest", "You must specify at least one part")


@pytest.mark.parametrize("spelled", ["1_0", "\u0661", "x", ""])
def test_complete_with_a_part_number_that_is_no_number_is_malformed(endpoint, s3, bucket, spelled):
    """Python's int() reads "1_0" as 10 and Arabic-Indic digits as digits; S3 reads ASCII digits only."""
    from tests.e2e.helpers import signed_request

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=10, Body=b"x")["ETag"]
    body = (f"<CompleteMultipartUpload><Part><PartNumber>{spelled}</PartNumber><ETag>{etag}</ETag></Part>"
            "</CompleteMultipartUpload>").encode()
    r = signed_request("POST", f"{endpoint}/{bucket}/k?uploadId={upload_id}", body=body)
    assert r.status_code == 400 and b"<Code>MalformedXML</Code>" in r.content, r.content


@pytest.mark.parametrize("number", [0, 10001])
def test_part_number_out_of_range(s3, bucket, number):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"x")
    assert client_error(exc) == (400, "InvalidArgument")


def test_abort_then_no_such_upload(s3, bucket):
    upload_id, done = upload(s3, bucket, "k", [b"x"])
    resp = s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in (
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"y"),
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id),
        lambda: complete(s3, bucket, "k", upload_id, done),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert client_error(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_unknown_upload_id(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="no-such-upload-id", PartNumber=1, Body=b"x")
    assert client_error(exc) == (404, "NoSuchUpload")


def test_upload_id_is_bound_to_its_key(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="right")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="wrong", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert client_error(exc) == (404, "NoSuchUpload")


def test_list_parts_paging(endpoint, s3, bucket):
    parts = [b"one", b"two!", b"three"]
    upload_id, done = upload(s3, bucket, "lp", parts)
    first = s3.list_parts(Bucket=bucket, Key="lp", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert [p["Size"] for p in first["Parts"]] == [3, 4]
    assert [p["ETag"] for p in first["Parts"]] == [d["ETag"] for d in done[:2]]
    assert first["IsTruncated"] is True
    assert first["NextPartNumberMarker"] == 2
    assert first["MaxParts"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="lp", UploadId=upload_id, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert rest["IsTruncated"] is False
    paged = s3.get_paginator("list_parts").paginate(Bucket=bucket, Key="lp", UploadId=upload_id,
                                                      PaginationConfig={"PageSize": 1})
    assert [p["PartNumber"] for page in paged for p in page["Parts"]] == [1, 2, 3]
    # past the last part: NextPartNumberMarker 0; empty marker or max-parts: the defaults (AWS-recorded answers)
    past = s3.list_parts(Bucket=bucket, Key="lp", UploadId=upload_id, PartNumberMarker=10)
    assert ("Parts" not in past, past["NextPartNumberMarker"]) == (True, 0)
    for name in ("part-number-marker", "max-parts"):
        r = signed_request("GET", f"{endpoint}/{bucket}/lp?uploadId={upload_id}&{name}=")
        assert r.status_code == 200 and r.text.count("<Part>") == 3, r.text


def test_list_multipart_uploads_prefix(s3, bucket):
    ids = {k: s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]
           for k in ("logs/a", "logs/b", "img/c")}
    listed = s3.list_multipart_uploads(Bucket=bucket, Prefix="logs/")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [(k, ids[k]) for k in ("logs/a", "logs/b")]
    everything = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted(u["Key"] for u in everything) == ["img/c", "logs/a", "logs/b"]
    delimited = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in delimited.get("CommonPrefixes", [])] == ["img/", "logs/"]


def test_list_multipart_uploads_pages_match_a_plain_model(s3, bucket):
    """Uploads of random keys (some keys twice) listed by every prefix, delimiter and page size of a set through
    boto3's paginator (KeyMarker / UploadIdMarker): the pages together are the model's entries, in order, each
    page full but the last. A page ending in a common prefix names it as NextKeyMarker, and the next page goes on
    past it (before, such a page had no NextKeyMarker and the listing stopped there)."""
    import random
    rng = random.Random(14)
    keys = ["".join(rng.choice("ab/é") for _ in range(rng.randint(1, 5))) for _ in range(40)]
    keys += keys[:6]  # a second upload of some keys
    made = [(k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in keys]
    made.sort(key=lambda u: (u[0].encode(), u[1]))
    for prefix in ("", "a", "a/", "é", "zz"):
        for delimiter in ("", "/", "b"):
            expected: list[tuple[str, str]] = []
            for key, upload_id in made:
                if not key.startswith(prefix):
                    continue
                cut = key.find(delimiter, len(prefix)) if delimiter else -1
                entry = (key[: cut + len(delimiter)], "") if cut >= 0 else (key, upload_id)
                if entry[1] or not expected or expected[-1] != entry:
                    expected.append(entry)
            for size in (1, 3, 1000):
                pages = list(s3.get_paginator("list_multipart_uploads").paginate(
                    Bucket=bucket, Prefix=prefix, Delimiter=delimiter, PaginationConfig={"PageSize": size}))
                got = [sorted([(u["Key"], u["UploadId"]) for u in p.get("Uploads", [])]
                              + [(c["Prefix"], "") for c in p.get("CommonPrefixes", [])],
                              key=lambda e: (e[0].encode(), e[1])) for p in pages]
                case = (prefix, delimiter, size)
                assert [e for page in got for e in page] == expected, case
                assert all(len(page) == size for page in got[:-1]), case
                assert [p["IsTruncated"] for p in pages] == [True] * (len(pages) - 1) + [False], case
    for key, upload_id in made:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def test_list_multipart_uploads_key_marker_alone_skips_the_markers_key(s3, bucket):
    """"If upload-id-marker is not specified, only the keys lexicographically greater than the specified
    key-marker will be included in the list" (API_ListMultipartUploads): before, the marker key's own uploads
    came again, and a client paging by NextKeyMarker alone looped on a key with more uploads than a page."""
    ids = [s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"] for k in ("k", "k", "k", "m")]
    listed = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="k")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("m", ids[3])]
    with_id = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="k", UploadIdMarker=sorted(ids[:3])[0])["Uploads"]
    assert [u["Key"] for u in with_id] == ["k", "k", "m"]
    seen, marker = [], ""
    for _ in range(5):  # paging by key alone ends
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, KeyMarker=marker)
        seen += [u["Key"] for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        marker = page["NextKeyMarker"]
    assert seen == ["k", "k", "m"]
    # an upload id of another key is no position after the key marker (LocalStack's AWS-recorded answer)
    with pytest.raises(ClientError) as exc:
        s3.list_multipart_uploads(Bucket=bucket, KeyMarker="k", UploadIdMarker=ids[3])
    assert client_error(exc) == (400, "InvalidArgument")
    assert exc.value.response["Error"]["Message"] == "Invalid uploadId marker"
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=ids[3])  # one gone since still pages on
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket, KeyMarker="m",
                                                        UploadIdMarker=ids[3]).get("Uploads", [])] == []


def test_list_multipart_uploads_names_the_next_markers_always_and_the_prefix_when_asked(endpoint, s3, bucket):
    """As S3 answers (LocalStack's AWS-recorded list-multiparts-empty, list-multiparts-all): NextKeyMarker and
    NextUploadIdMarker on every page (the last upload, or empty), Prefix only when the request named one."""
    import xml.etree.ElementTree as ET

    def fields(query: str) -> dict[str, str | None]:
        r = signed_request("GET", f"{endpoint}/{bucket}?uploads{query}")
        assert r.status_code == 200, r.text
        return {child.tag.split("}")[1]: child.text for child in ET.fromstring(r.content)}

    empty = fields("")
    assert (empty.get("NextKeyMarker"), empty.get("NextUploadIdMarker"), "Prefix" in empty) == (None, None, False)
    assert "NextKeyMarker" in empty and "NextUploadIdMarker" in empty
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    listed = fields("&prefix=")
    assert (listed["NextKeyMarker"], listed["NextUploadIdMarker"], "Prefix" in listed) == ("k", upload, True)
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)


def test_list_multipart_uploads_url_encoding(endpoint, s3, bucket):
    """encoding-type=url encodes Delimiter, KeyMarker, Prefix, NextKeyMarker and Key (API_ListMultipartUploads)
    and answers EncodingType; another value is refused as by the object listings.  A key with a character XML
    1.0 cannot carry is readable only that way."""
    s3.create_multipart_upload(Bucket=bucket, Key="sp ace+é")
    # (its InitiateMultipartUploadResult names the key as &#x1;, which no XML 1.0 parser reads, S3's as ours)
    assert signed_request("POST", f"{endpoint}/{bucket}/q%01?uploads").status_code == 200
    r = signed_request("GET", f"{endpoint}/{bucket}?uploads&encoding-type=url&prefix=s")
    assert r.status_code == 200, r.text
    assert "<Key>sp%20ace%2B%C3%A9</Key>" in r.text and "<EncodingType>url</EncodingType>" in r.text
    listed = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url")  # (botocore does not decode these)
    assert sorted(u["Key"] for u in listed["Uploads"]) == ["q%01", "sp%20ace%2B%C3%A9"]
    assert_s3_error(signed_request("GET", f"{endpoint}/{bucket}?uploads&encoding-type=foo"), 400, "InvalidArgument")


def test_upload_listings_name_the_checksum_type_and_storage_class(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="CRC32",
                                        StorageClass="STANDARD_IA")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"][0]
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"], listed["StorageClass"]) == (
        "CRC32", "COMPOSITE", "STANDARD_IA")
    parts = s3.list_parts(Bucket=bucket, Key="c", UploadId=upload)
    assert (parts["ChecksumAlgorithm"], parts["ChecksumType"], parts["StorageClass"]) == (
        "CRC32", "COMPOSITE", "STANDARD_IA")


@pytest.mark.parametrize(("query", "name"), [("uploadId={upload}&max-parts=-1", "max-parts"),
                                             ("uploadId={upload}&part-number-marker=-1", "part-number-marker")])
def test_negative_list_parts_arguments(endpoint, s3, bucket, query, name):
    """AWS: "Argument max-parts must be an integer between 0 and 2147483647" for a negative value (moto's
    test_multipart_list_parts_invalid_argument records both messages); a non-integer keeps the other one."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="n")["UploadId"]
    r = signed_request("GET", f"{endpoint}/{bucket}/n?" + query.format(upload=upload))
    err = assert_s3_error(r, 400, "InvalidArgument")
    assert err["Message"] == f"Argument {name} must be an integer between 0 and 2147483647"
    r = signed_request("GET", f"{endpoint}/{bucket}/n?uploadId={upload}&{name}=x")
    assert assert_s3_error(r, 400, "InvalidArgument")["Message"] == (
        f"Provided {name} not an integer or within integer range")


def test_upload_part_copy_with_range(s3, bucket):
    source = random_bytes(PART + 1000)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    done = []
    for n, (start, end) in enumerate([(0, PART - 1), (PART, len(source) - 1)], start=1):
        resp = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=n,
                                   CopySource={"Bucket": bucket, "Key": "source"},
                                   CopySourceRange=f"bytes={start}-{end}")
        assert resp["CopyPartResult"]["ETag"] == f'"{md5_hex(source[start:end + 1])}"'
        done.append({"PartNumber": n, "ETag": resp["CopyPartResult"]["ETag"]})
    complete(s3, bucket, "assembled", upload_id, done)
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source


def test_upload_part_copy_whole_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="source", Body=b"whole source")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    resp = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                               CopySource={"Bucket": bucket, "Key": "source"})
    complete(s3, bucket, "dst", upload_id, [{"PartNumber": 1, "ETag": resp["CopyPartResult"]["ETag"]}])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"whole source"


def test_transfer_manager_upload_and_download(s3, bucket, tmp_path):
    data = random_bytes(12 * MiB)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "tm/big.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="tm/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "tm/big.bin", str(dst), Config=cfg)
    assert dst.read_bytes() == data


def test_range_across_part_boundary(s3, two_part_object):
    bucket, parts = two_part_object
    whole = b"".join(parts)
    start, end = PART - 100, PART + 99
    obj = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={start}-{end}")
    assert obj["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert obj["ContentRange"] == f"bytes {start}-{end}/{len(whole)}"
    assert obj["Body"].read() == whole[start:end + 1]
    tail = s3.get_object(Bucket=bucket, Key="mp", Range="bytes=-10")["Body"].read()
    assert tail == whole[-10:]


def test_get_by_part_number(s3, two_part_object):
    bucket, parts = two_part_object
    total = sum(map(len, parts))
    first = s3.get_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert first["PartsCount"] == 2
    assert first["ContentLength"] == len(parts[0])
    assert first["ContentRange"] == f"bytes 0-{len(parts[0]) - 1}/{total}"
    assert first["Body"].read() == parts[0]
    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert second["ContentRange"] == f"bytes {len(parts[0])}-{total - 1}/{total}"
    assert second["Body"].read() == parts[1]


def test_head_by_part_number(s3, two_part_object):
    bucket, parts = two_part_object
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["PartsCount"] == 2
    assert head["ContentLength"] == len(parts[1])


def test_part_number_1_of_simple_object(s3, bucket):
    """A non-multipart object is one part: partNumber=1 is the whole object, as a ranged answer."""
    s3.put_object(Bucket=bucket, Key="simple", Body=b"0123456789")
    obj = s3.get_object(Bucket=bucket, Key="simple", PartNumber=1)
    assert obj["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert obj["ContentRange"] == "bytes 0-9/10"
    assert obj["Body"].read() == b"0123456789"


def test_part_number_beyond_count(s3, two_part_object):
    bucket, _ = two_part_object
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)
    assert client_error(exc) == (416, "InvalidPartNumber")


def test_part_number_and_range_together(s3, two_part_object):
    bucket, _ = two_part_object
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=1, Range="bytes=0-9")
    assert client_error(exc) == (400, "InvalidRequest")
    assert exc.value.response["Error"]["Message"] == (
        "Cannot specify both Range header and partNumber query parameter")


def test_upload_part_over_5_gib_is_entity_too_large(server, s3, bucket):
    import http.client

    from tests.e2e.helpers import key_path, parse_error, sign_headers

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="huge")["UploadId"]
    path = key_path(bucket, "huge") + f"?partNumber=1&uploadId={upload_id}"
    hdrs = sign_headers("PUT", server.endpoint + path,
                        {"Content-Length": str(5 * 1024**3 + 1), "Expect": "100-continue"},
                        payload_hash="UNSIGNED-PAYLOAD")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 400
        assert parse_error(resp.read())["Code"] == "EntityTooLarge"
    finally:
        conn.close()


def test_complete_location_is_the_objects_url_with_the_key_form_encoded(s3, endpoint, bucket):
    """S3 answers Location with the key form-encoded ("/" as %2F, " " as "+"), as SDK issues about it show."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dir/a b.txt")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="dir/a b.txt", UploadId=upload_id, PartNumber=1, Body=b"x")["ETag"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="dir/a b.txt", UploadId=upload_id,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert done["Location"] == f"{endpoint}/{bucket}/dir%2Fa+b.txt"
