"""store/meta.py ``listed_details``: the storage class and checksum a listing names, read from an object's
document without decoding it; text inside values (escaped) or in the tags (after the headers) is never taken
for a field."""

from __future__ import annotations

from storeroom.store.meta import ObjectRecord, listed_details, object_doc


def _doc(headers: dict[str, str], checksum: dict[str, str] | None, tags: dict[str, str] | None = None) -> str:
    return object_doc(ObjectRecord("b", "k", 1, "e", 0.0, [("blob", 1)], headers, checksum, tags=tags))


def test_fields_are_read_from_the_headers_and_the_checksum() -> None:
    checksum = {"algorithm": "CRC32", "value": "AAAAAA==", "type": "COMPOSITE", "parts": "AAAAAA==,AAAAAA=="}
    assert listed_details(_doc({"x-amz-storage-class": "GLACIER"}, checksum)) == ("GLACIER", "CRC32", "COMPOSITE")
    assert listed_details(_doc({}, {"algorithm": "SHA1", "value": "x"})) == ("STANDARD", "SHA1", "FULL_OBJECT")
    assert listed_details(_doc({}, None)) == ("STANDARD", None, None)


def test_lookalikes_in_values_and_tags_are_not_fields() -> None:
    sneaky = '","x-amz-storage-class":"ONEZONE_IA'
    doc = _doc({"x-amz-meta-n": sneaky}, {"algorithm": "CRC64NVME", "value": "x", "type": "FULL_OBJECT"},
               tags={"x-amz-storage-class": "GLACIER", "c": '{"algorithm":"SHA256"'})
    assert listed_details(doc) == ("STANDARD", "CRC64NVME", "FULL_OBJECT")
    assert listed_details(_doc({}, None, tags={"x-amz-storage-class": "GLACIER"})) == ("STANDARD", None, None)
