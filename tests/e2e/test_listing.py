"""ListObjectsV2 and ListObjects (v1): prefixes, delimiters, paging, ordering, url encoding."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import S3_NS, assert_s3_error, client_error, signed_request, unique_name


def put_keys(s3, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))


def keys_of(resp: dict) -> list[str]:
    return [o["Key"] for o in resp.get("Contents", [])]


def prefixes_of(resp: dict) -> list[str]:
    return [p["Prefix"] for p in resp.get("CommonPrefixes", [])]


TREE = ["a.txt", "dir/b.txt", "dir/c.txt", "dir/sub/d.txt", "other/e.txt", "z.txt"]


@pytest.fixture
def tree(s3, bucket) -> str:
    put_keys(s3, bucket, TREE)
    return bucket


# --- ListObjectsV2 -------------------------------------------------------------------------------

def test_list_all(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree)
    assert keys_of(resp) == TREE
    assert resp["KeyCount"] == len(TREE)
    assert resp["IsTruncated"] is False
    assert resp["Name"] == tree
    obj = resp["Contents"][0]
    assert obj["Size"] == 1
    assert obj["ETag"] == '"9dd4e461268c8034f5c8564e155c67a6"'
    assert obj["LastModified"] is not None
    assert obj["StorageClass"] == "STANDARD"


def test_list_prefix(s3, tree):
    assert keys_of(s3.list_objects_v2(Bucket=tree, Prefix="dir/")) == ["dir/b.txt", "dir/c.txt",
                                                                       "dir/sub/d.txt"]
    assert keys_of(s3.list_objects_v2(Bucket=tree, Prefix="nothing")) == []


def test_list_delimiter(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert keys_of(resp) == ["a.txt", "z.txt"]
    assert prefixes_of(resp) == ["dir/", "other/"]
    assert resp["KeyCount"] == 4
    assert resp["Delimiter"] == "/"


def test_list_prefix_and_delimiter(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, Prefix="dir/", Delimiter="/")
    assert keys_of(resp) == ["dir/b.txt", "dir/c.txt"]
    assert prefixes_of(resp) == ["dir/sub/"]
    assert resp["Prefix"] == "dir/"


def test_list_non_slash_delimiter(s3, bucket):
    put_keys(s3, bucket, ["a-1", "a-2", "b-1", "c"])
    resp = s3.list_objects_v2(Bucket=bucket, Delimiter="-")
    assert keys_of(resp) == ["c"]
    assert prefixes_of(resp) == ["a-", "b-"]


def test_list_start_after(s3, tree):
    assert keys_of(s3.list_objects_v2(Bucket=tree, StartAfter="dir/c.txt")) == ["dir/sub/d.txt",
                                                                                "other/e.txt", "z.txt"]
    assert keys_of(s3.list_objects_v2(Bucket=tree, StartAfter="dir/bz")) == ["dir/c.txt", "dir/sub/d.txt",
                                                                             "other/e.txt", "z.txt"]


def test_list_fetch_owner(s3, tree):
    without = s3.list_objects_v2(Bucket=tree)
    assert "Owner" not in without["Contents"][0]
    owner = s3.list_objects_v2(Bucket=tree, FetchOwner=True)["Contents"][0]["Owner"]
    assert owner["ID"] == s3.list_buckets()["Owner"]["ID"]


def test_list_max_keys_and_continuation(s3, tree):
    first = s3.list_objects_v2(Bucket=tree, MaxKeys=2)
    assert keys_of(first) == TREE[:2]
    assert first["IsTruncated"] is True
    assert first["KeyCount"] == 2
    assert first["MaxKeys"] == 2
    token = first["NextContinuationToken"]
    second = s3.list_objects_v2(Bucket=tree, MaxKeys=2, ContinuationToken=token)
    assert second["ContinuationToken"] == token
    assert keys_of(second) == TREE[2:4]


def test_list_paging_with_delimiter_counts_prefixes(s3, tree):
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=tree, Delimiter="/",
                                                               PaginationConfig={"PageSize": 1}))
    entries = [e for p in pages for e in keys_of(p) + prefixes_of(p)]
    assert entries == ["a.txt", "dir/", "other/", "z.txt"]
    assert all(p["KeyCount"] <= 1 for p in pages)


def listing_model(keys: list[str], prefix: str, delimiter: str) -> list[str]:
    """What a full listing holds, keys and common prefixes in one UTF-8 order, computed the plain way."""
    entries: list[str] = []
    for key in sorted(keys, key=lambda k: k.encode()):
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key[: cut + len(delimiter)] if cut >= 0 else key
        if not entries or entries[-1] != entry:
            entries.append(entry)
    return entries


def test_pages_match_a_plain_model(s3, bucket):
    """Random keys over a small alphabet, listed by every prefix, delimiter and page size of a small set (v2 with
    continuation tokens, v1 with markers): the pages together are the model's entries, each page full but the last."""
    import random
    rng = random.Random(14)
    keys = sorted({"".join(rng.choice("ab/é") for _ in range(rng.randint(1, 6))) for _ in range(90)})
    put_keys(s3, bucket, keys)
    for prefix in ("", "a", "a/", "b/é", "é", "zz"):
        for delimiter in ("", "/", "b", "é/"):
            expected = listing_model(keys, prefix, delimiter)
            for size in (1, 3, 7, 1000):
                pages = list(s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix, Delimiter=delimiter, PaginationConfig={"PageSize": size}))
                got = [sorted(keys_of(p) + prefixes_of(p), key=lambda e: e.encode()) for p in pages]
                case = (prefix, delimiter, size)
                assert [e for page in got for e in page] == expected, case
                assert all(len(page) == size for page in got[:-1]) and len(got[-1]) <= size, case
                assert [p["IsTruncated"] for p in pages] == [True] * (len(pages) - 1) + [False], case
            pages = list(s3.get_paginator("list_objects").paginate(
                Bucket=bucket, Prefix=prefix, Delimiter=delimiter, PaginationConfig={"PageSize": 3}))
            got_v1 = sorted((e for p in pages for e in keys_of(p) + prefixes_of(p)), key=lambda e: e.encode())
            assert got_v1 == expected, (prefix, delimiter, "v1")


def test_paginator_over_hundreds_of_keys(s3, bucket):
    keys = [f"many/{i:04d}" for i in range(250)]
    put_keys(s3, bucket, keys)
    paginator = s3.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 100}))
    assert [len(keys_of(p)) for p in pages] == [100, 100, 50]
    assert [k for p in pages for k in keys_of(p)] == keys
    assert [p["IsTruncated"] for p in pages] == [True, True, False]


def test_default_max_keys_is_1000(s3, bucket):
    put_keys(s3, bucket, [f"k{i:04d}" for i in range(1005)])
    resp = s3.list_objects_v2(Bucket=bucket)
    assert resp["MaxKeys"] == 1000
    assert resp["KeyCount"] == 1000
    assert resp["IsTruncated"] is True
    rest = s3.list_objects_v2(Bucket=bucket, ContinuationToken=resp["NextContinuationToken"])
    assert keys_of(rest) == [f"k{i:04d}" for i in range(1000, 1005)]


def test_max_keys_zero(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, MaxKeys=0)
    assert keys_of(resp) == []
    assert resp["KeyCount"] == 0
    assert resp["IsTruncated"] is False


@pytest.mark.parametrize("value", ["abc", "-1", "1_0", "%201", "%D9%A1", "2147483648", "9" * 5000])
def test_invalid_max_keys(endpoint, bucket, value):
    """Java's parseInt is S3's reader: "1_0", " 1" and other scripts' digits are no numbers (Python's int() read
    them as 10 and 1), nor is anything beyond a 32-bit integer (it was read as 1000)."""
    r = signed_request("GET", f"{endpoint}/{bucket}?list-type=2&max-keys={value}")
    assert_s3_error(r, 400, "InvalidArgument")


# the second and third: lone surrogates; the last: empty, which S3 refuses too (AWS-recorded, LocalStack)
@pytest.mark.parametrize("token", ["not-a-real-token", "Ye2ggA%3D%3D", "7b-_", ""])
def test_invalid_continuation_token(endpoint, bucket, token):
    r = signed_request("GET", f"{endpoint}/{bucket}?list-type=2&continuation-token={token}")
    assert_s3_error(r, 400, "InvalidArgument")


def test_start_after_is_not_echoed_beside_a_token(s3, tree):
    """The token wins, and the answer names no StartAfter (LocalStack's AWS-recorded
    list-objects-start-after-token)."""
    bucket = tree
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    rest = s3.list_objects_v2(Bucket=bucket, MaxKeys=1, StartAfter="zzz",
                              ContinuationToken=first["NextContinuationToken"])
    assert "StartAfter" not in rest and rest["KeyCount"] == 1
    assert s3.list_objects_v2(Bucket=bucket, MaxKeys=1, StartAfter="a")["StartAfter"] == "a"


def test_listings_name_the_buckets_region(s3, tree):
    """x-amz-bucket-region on ListObjects(V2) as on HeadBucket (LocalStack's AWS-validated
    test_region_header_exists)."""
    region = s3.head_bucket(Bucket=tree)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"]
    for listing in (s3.list_objects_v2(Bucket=tree), s3.list_objects(Bucket=tree)):
        assert listing["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == region


def test_list_missing_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=unique_name("nobucket"))
    assert client_error(exc) == (404, "NoSuchBucket")


def test_utf8_binary_order(s3, bucket):
    keys = ["a", "a/b", "a0", "B", "é", "😀", "Z", "a-", "~", "ａ", "\u00ff", "\ue000"]
    put_keys(s3, bucket, keys)
    listed = keys_of(s3.list_objects_v2(Bucket=bucket))
    assert listed == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_utf8_order_across_pages(s3, bucket):
    keys = ["😀", "\uffff", "\ue000", "é", "z"]
    put_keys(s3, bucket, keys)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    assert [k for p in pages for k in keys_of(p)] == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_prefix_bound_at_the_edges_of_unicode(s3, bucket):
    """A prefix's listing ends at the first key past every key it starts (the bound the query uses): right after
    a prefix whose last character is the largest of its plane, a non-BMP one, or the one before a surrogate."""
    cases = {"p\U0010ffff": ["p\U0010ffff", "p\U0010ffffz"], "p😀": ["p😀", "p😀/x"],
             "p\ud7ff": ["p\ud7ff", "p\ud7ffa"], "p/": ["p/a", "p/b/c"]}
    outside = ["p", "p0", "p😁", "p\ue000", "q", "p\ud7fe"]
    put_keys(s3, bucket, [k for keys in cases.values() for k in keys] + outside)
    for prefix, keys in cases.items():
        assert keys_of(s3.list_objects_v2(Bucket=bucket, Prefix=prefix)) == keys, prefix
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 1})
        assert [k for p in pages for k in keys_of(p)] == keys, prefix
        assert keys_of(s3.list_objects(Bucket=bucket, Prefix=prefix, MaxKeys=1)) == keys[:1], prefix


ODD = ["sp ace", "plus+", "pct%41", "amp&", "lt<", "ctrl\x01char", "tab\t", "é/ü", "q?x#y"]


def test_encoding_type_url_boto3_round_trip(s3, bucket):
    """botocore asks for EncodingType=url and decodes the answer: keys must come back exactly."""
    put_keys(s3, bucket, ODD)
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == sorted(ODD, key=lambda k: k.encode())
    assert keys_of(s3.list_objects(Bucket=bucket)) == sorted(ODD, key=lambda k: k.encode())


def test_encoding_type_url_raw(endpoint, s3, bucket):
    put_keys(s3, bucket, ODD)
    r = signed_request("GET", f"{endpoint}/{bucket}?list-type=2&encoding-type=url&prefix=")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    assert root.findtext(f"{S3_NS}EncodingType") == "url"
    raw_keys = [e.text for e in root.iter(f"{S3_NS}Key")]
    assert all("\x01" not in k and " " not in k for k in raw_keys), raw_keys
    assert [unquote_plus(k) for k in raw_keys] == sorted(ODD, key=lambda k: k.encode())


def test_encoding_type_url_common_prefixes(s3, bucket):
    put_keys(s3, bucket, ["dir one/a", "dir+two/b", "x y"])
    resp = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert prefixes_of(resp) == ["dir one/", "dir+two/"]
    assert keys_of(resp) == ["x y"]


def test_invalid_encoding_type(endpoint, bucket):
    r = signed_request("GET", f"{endpoint}/{bucket}?list-type=2&encoding-type=base64")
    assert_s3_error(r, 400, "InvalidArgument")


# --- ListObjects v1 ------------------------------------------------------------------------------

def test_v1_list_all(s3, tree):
    resp = s3.list_objects(Bucket=tree)
    assert keys_of(resp) == TREE
    assert resp["IsTruncated"] is False
    assert resp["Contents"][0]["Owner"]["ID"]


def test_v1_marker(s3, tree):
    resp = s3.list_objects(Bucket=tree, Marker="dir/c.txt")
    assert keys_of(resp) == ["dir/sub/d.txt", "other/e.txt", "z.txt"]
    assert resp["Marker"] == "dir/c.txt"


def test_v1_next_marker_with_delimiter(s3, tree):
    resp = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=2)
    assert keys_of(resp) + prefixes_of(resp) == ["a.txt", "dir/"]
    assert resp["IsTruncated"] is True
    assert resp["NextMarker"] == "dir/"
    rest = s3.list_objects(Bucket=tree, Delimiter="/", Marker=resp["NextMarker"])
    assert keys_of(rest) == ["z.txt"]
    assert prefixes_of(rest) == ["other/"]


def test_v1_paginator(s3, bucket):
    keys = [f"p/{i:03d}" for i in range(120)]
    put_keys(s3, bucket, keys)
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 50}))
    assert [k for p in pages for k in keys_of(p)] == keys
    assert len(pages) == 3


def test_v1_max_keys_zero(s3, tree):
    resp = s3.list_objects(Bucket=tree, MaxKeys=0)
    assert keys_of(resp) == []
    assert resp["IsTruncated"] is False


@pytest.mark.parametrize("list_type", ["1", "0", "bogus", ""])
def test_a_list_type_other_than_2_is_answered_as_listobjects_v1(endpoint, tree, list_type):
    """S3 selects ListObjectsV2 by ``list-type=2`` alone; absent or any other value is ListObjects v1 (measured
    against real S3 in brekkylab/backlot#188). It answered 501 NotImplemented."""
    r = signed_request("GET", f"{endpoint}/{tree}?list-type={list_type}&max-keys=1")
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.find(f"{S3_NS}Marker") is not None and root.find(f"{S3_NS}KeyCount") is None
    assert [e.text for e in root.iter(f"{S3_NS}Key")] == TREE[:1]


def test_v1_invalid_max_keys(endpoint, bucket):
    assert_s3_error(signed_request("GET", f"{endpoint}/{bucket}?max-keys=ten"), 400, "InvalidArgument")


def test_listings_name_each_objects_storage_class_and_checksum(s3, bucket):  # type: ignore[no-untyped-def]
    """ListObjects(V2) entries name the object's StorageClass (they said STANDARD for every object, so the AWS
    CLI, which skips GLACIER objects it finds in a listing, tried to download them); ListObjectVersions names
    ChecksumType too.  (S3's ListObjects entries also carry ChecksumAlgorithm and ChecksumType, a raw body in
    versity/versitygw#1985; here they would cost a listing half its CPU: bench/RESULTS.md.)"""
    s3.put_object(Bucket=bucket, Key="a-default", Body=b"x")
    s3.put_object(Bucket=bucket, Key="b-sha", Body=b"x", ChecksumAlgorithm="SHA256", StorageClass="STANDARD_IA")
    s3.put_object(Bucket=bucket, Key="c-cold", Body=b"x", StorageClass="GLACIER",
                  Metadata={"note": '","x-amz-storage-class":"ONEZONE_IA'})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="d-parts", ChecksumAlgorithm="CRC32")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="d-parts", UploadId=upload, PartNumber=1, Body=b"p",
                          ChecksumAlgorithm="CRC32")
    s3.complete_multipart_upload(Bucket=bucket, Key="d-parts", UploadId=upload, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}]})
    expected = {"a-default": (["CRC32"], "FULL_OBJECT", "STANDARD"),  # (boto3 sends a CRC32 by default)
                "b-sha": (["SHA256"], "FULL_OBJECT", "STANDARD_IA"),
                "c-cold": (["CRC32"], "FULL_OBJECT", "GLACIER"),
                "d-parts": (["CRC32"], "COMPOSITE", "STANDARD")}
    for listed in (s3.list_objects_v2(Bucket=bucket)["Contents"], s3.list_objects(Bucket=bucket)["Contents"]):
        assert {o["Key"]: o["StorageClass"] for o in listed} == {k: e[2] for k, e in expected.items()}
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert {v["Key"]: (v["ChecksumAlgorithm"], v["ChecksumType"], v["StorageClass"]) for v in versions} == expected


def test_listed_times_are_heads_seconds(s3, bucket):  # type: ignore[no-untyped-def]
    """S3 lists LastModified in whole seconds (``.000Z``), the second HEAD's Last-Modified names; with
    milliseconds, ``aws s3 sync --exact-timestamps`` downloaded every file again (localstack#9637)."""
    for n in range(5):
        s3.put_object(Bucket=bucket, Key=f"t{n}", Body=b"x")
    for listed in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        assert listed["LastModified"].microsecond == 0
        assert listed["LastModified"] == s3.head_object(Bucket=bucket, Key=listed["Key"])["LastModified"]
