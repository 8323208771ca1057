"""The owner of every bucket and object: the account, under S3's canonical user id."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from storeroom.s3 import xml

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call


def canonical_user_id(account_id: str) -> str:
    """S3's canonical user id: 64 hex characters, stable for the account."""
    return hashlib.sha256(f"storeroom-canonical-user:{account_id}".encode()).hexdigest()


def listed_owner_xml(call: S3Call) -> str:
    """A listing entry's ``<Owner>``: none for an anonymous caller, who is not shown the account's canonical id
    (LocalStack's AWS recording: test_s3.py TestS3::test_bucket_name_with_dots, an unsigned ListObjects)."""
    return "" if call.ctx.principal.is_anonymous else owner_xml(call)


def owner_xml(call: S3Call) -> str:
    """``<Owner>`` with its canonical ID only: "Beginning November 21, 2025, Amazon S3 will stop returning
    DisplayName" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Owner.html)."""
    return "<Owner>" + xml.tag("ID", canonical_user_id(call.s3.account_id)) + "</Owner>"
