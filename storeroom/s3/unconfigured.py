"""Reads of bucket and object settings Storeroom does not have yet, answered as S3 answers them for a bucket
or object on which the setting is not configured -- which is what is true of every Storeroom bucket.

Tools read all of these when they manage a bucket (Terraform's aws_s3_bucket refresh, Ansible's s3_bucket and
s3_object), and stop or warn on a 501.  Each answer states the truth: no website, no replication, the bucket
owner pays, no transfer acceleration, no event notifications.  The writes of these settings still answer 501
NotImplemented (operations.py).  (Default encryption is built: storeroom/s3/encryption.py; Object Lock:
storeroom/s3/object_lock.py.)

The bucket (and the key) must exist: NoSuchBucket / NoSuchKey come before the not-configured answer.  Error
codes and messages: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html and S3's answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.s3 import xml

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

XML_HEADERS = [("content-type", "application/xml")]
Handler = Callable[["S3Call"], Awaitable[Response]]


def _not_configured(code: str, message: str) -> Handler:
    """A read whose answer, for a bucket without the setting, is a 404 with ``code``."""
    async def handler(call: S3Call) -> Response:
        await call.existing_bucket()
        raise AwsError(code, message, 404, BucketName=call.bucket or "")
    return handler


def _document(root: str, inner: str = "", namespace: str = xml.S3_NS) -> Handler:
    """A read whose answer, for a bucket without the setting, is the document ``<root>inner</root>``."""
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{namespace}">{inner}</{root}>'.encode()

    async def handler(call: S3Call) -> Response:
        await call.existing_bucket()
        return Response(200, list(XML_HEADERS), body)
    return handler


get_bucket_website = _not_configured("NoSuchWebsiteConfiguration",
                                     "The specified bucket does not have a website configuration")
get_bucket_replication = _not_configured("ReplicationConfigurationNotFoundError",
                                         "The replication configuration was not found")
get_bucket_request_payment = _document("RequestPaymentConfiguration", "<Payer>BucketOwner</Payer>")
get_bucket_accelerate = _document("AccelerateConfiguration")  # never configured: no Status
get_bucket_notification = _document("NotificationConfiguration")
