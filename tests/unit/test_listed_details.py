"""store/meta.py ``listed_storage_class``: the storage class a listing names, read from an object's document
without decoding it; text inside values (escaped) or in the tags (after the headers) is never taken for it."""

from __future__ import annotations

from storeroom.store.meta import ObjectRecord, listed_restore, listed_storage_class, object_doc


def _doc(headers: dict[str, str], tags: dict[str, str] | None = None, restored: float | None = None) -> str:
    return object_doc(ObjectRecord("b", "k", 1, "e", 0.0, [("blob", 1)], headers,
                                   {"algorithm": "CRC32", "value": "AAAAAA==", "type": "FULL_OBJECT"}, tags=tags,
                                   restored_until=restored))


def test_the_class_is_read_from_the_headers() -> None:
    assert listed_storage_class(_doc({"x-amz-storage-class": "GLACIER"})) == "GLACIER"
    assert listed_storage_class(_doc({"content-type": "a", "x-amz-storage-class": "STANDARD_IA"})) == "STANDARD_IA"
    assert listed_storage_class(_doc({})) == "STANDARD"


def test_lookalikes_in_values_and_tags_are_not_the_class() -> None:
    sneaky = '","x-amz-storage-class":"ONEZONE_IA'
    assert listed_storage_class(_doc({"x-amz-meta-n": sneaky}, tags={"x-amz-storage-class": "GLACIER"})) == (
        "STANDARD")


def test_a_restored_copys_expiry_is_the_last_member() -> None:
    assert listed_restore(_doc({"x-amz-storage-class": "GLACIER"}, restored=1_800_000_000.0)) == 1_800_000_000.0
    assert listed_restore(_doc({}, tags={"x": "1"})) is None
