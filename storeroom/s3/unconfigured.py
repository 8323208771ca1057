"""Reads of bucket and object settings Storeroom does not have yet, answered as S3 answers them for a bucket
or object on which the setting is not configured -- which is what is true of every Storeroom bucket.

Tools read all of these when they manage a bucket (Terraform's aws_s3_bucket refresh, Ansible's s3_bucket and
s3_object), and stop or warn on a 501.  Each answer states the truth: no website, no replication, the bucket
owner pays, no transfer acceleration, no event notifications, no analytics, inventory, metrics or
Intelligent-Tiering configurations.  A write that leaves the bucket so is accepted
(Terraform's aws_s3_bucket_request_payment_configuration with ``payer = "BucketOwner"``, a notification
configuration without destinations, the deletes of a website or replication configuration); a write asking for
the setting itself answers 501 NotImplemented (here, or operations.py's rows without handler).  (Default
encryption is built: storeroom/s3/encryption.py; Object Lock: storeroom/s3/object_lock.py.)

The bucket (and the key) must exist: NoSuchBucket / NoSuchKey come before the not-configured answer.  Error
codes and messages: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html and S3's answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.s3 import xml
from storeroom.s3.document import only_child_text, read_document

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

# The List of each kind of analytics, inventory, metrics and Intelligent-Tiering configuration: empty, by the root
# element S3 answers (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBucketInventoryConfigurations.html
# and its siblings); the Get of one by its ``id``: 404 NoSuchConfiguration.
_LIST_ROOTS = {"Analytics": "ListBucketAnalyticsConfigurationResult", "Inventory": "ListInventoryConfigurationsResult",
               "Metrics": "ListMetricsConfigurationsResult",
               "IntelligentTiering": "ListBucketIntelligentTieringConfigurationsOutput"}


def list_configurations(kind: str) -> Handler:
    return _document(_LIST_ROOTS[kind], "<IsTruncated>false</IsTruncated>")


async def no_configuration(call: S3Call) -> Response:
    await call.existing_bucket()
    raise AwsError("NoSuchConfiguration", "The specified configuration does not exist.", 404)


# -- writes that leave the bucket as it is ------------------------------------------------------------------


def _not_implemented(what: str) -> AwsError:
    return AwsError("NotImplemented", f"{what} are not implemented by Storeroom.", 501)


async def put_bucket_request_payment(call: S3Call) -> Response:
    """``Payer`` is ``BucketOwner`` or ``Requester``; the bucket owner is who pays here."""
    await call.existing_bucket()
    payer = only_child_text(await read_document(call, "RequestPaymentConfiguration"), "Payer")
    if payer not in ("BucketOwner", "Requester"):
        raise AwsError("MalformedXML")
    if payer == "Requester":
        raise _not_implemented("Requester Pays buckets")
    return Response(200, [])


async def put_bucket_notification(call: S3Call) -> Response:
    """An empty ``NotificationConfiguration`` (how S3's API turns notifications off) is what every bucket has."""
    await call.existing_bucket()
    if len(await read_document(call, "NotificationConfiguration")):
        raise _not_implemented("Event notifications")
    return Response(200, [])


async def _deleted(call: S3Call) -> Response:
    """Deleting a configuration the bucket does not have: S3 answers 204 all the same."""
    await call.existing_bucket()
    return Response(204, [])


delete_bucket_website = delete_bucket_replication = _deleted
