"""The S3 operation table: how each operation is recognised, which IAM action it needs, which handler runs it.

One row per operation of botocore's S3 model (``botocore/data/s3/2006-03-01/service-2.json``): the method, the
level (service ``/``, bucket ``/{Bucket}``, object ``/{Bucket}/{Key+}``), the sub-resource query parameter
or header that selects it, the IAM action AWS documents for it
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html), and the handler.
A row without handler answers ``NotImplemented`` (501): never a fake success.

``action`` is checked by the service before the handler runs, on the object ARN for object-level rows and the
bucket ARN for bucket-level ones; an empty action means the handler authorizes itself (DeleteObjects judges
each key, CopyObject also needs s3:GetObject on the source).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.s3 import (
    access,
    access_log,
    acl,
    attributes,
    bucket_policy,
    buckets,
    complete,
    cors,
    encryption,
    lifecycle,
    listing,
    multipart,
    object_lock,
    objects,
    post_object,
    restore,
    tagging,
    unconfigured,
    versioning,
)

if TYPE_CHECKING:
    from storeroom.http.types import Response
    from storeroom.s3.service import S3Call

Handler = Callable[["S3Call"], Awaitable["Response"]]

SERVICE, BUCKET, OBJECT = "service", "bucket", "object"


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    method: str
    level: str
    subresource: str | None      # query parameter that selects the operation
    action: str                  # IAM action checked before the handler ("" = the handler checks)
    handler: Handler | None = None
    header: str | None = None    # a request header that selects the operation (x-amz-copy-source)
    value: str | None = None     # required value of the sub-resource parameter (list-type=2)
    version_action: str | None = None  # the IAM action instead of ``action`` when the request names a versionId
    absent: str | None = None    # a query parameter the request must not have (a List beside its Get: ``id``)


def _row(name: str, method: str, level: str, sub: str | None, action: str, handler: Handler | None = None,
         header: str | None = None, value: str | None = None, version: str | None = None,
         absent: str | None = None) -> Operation:
    return Operation(name, method, level, sub, action, handler, header, value, version, absent)


def _no_configurations(sub: str, kind: str, action: str) -> tuple[Operation, Operation]:
    """The List of a kind of bucket configuration (no ``id`` in the query) and the Get of one (an ``id``): one IAM
    action for both, as AWS documents."""
    return (_row(f"ListBucket{kind}Configurations", "GET", BUCKET, sub, action, unconfigured.list_configurations(kind),
                 absent="id"),
            _row(f"GetBucket{kind}Configuration", "GET", BUCKET, sub, action, unconfigured.no_configuration))


OPERATIONS: tuple[Operation, ...] = (
    # service
    _row("ListBuckets", "GET", SERVICE, None, "s3:ListAllMyBuckets", buckets.list_buckets),
    # buckets
    # (s3:CreateBucket, and s3:TagResource for tags, judged by the handler with the tags' condition keys)
    _row("CreateBucket", "PUT", BUCKET, None, "", buckets.create_bucket),
    _row("HeadBucket", "HEAD", BUCKET, None, "s3:ListBucket", buckets.head_bucket),
    _row("DeleteBucket", "DELETE", BUCKET, None, "s3:DeleteBucket", buckets.delete_bucket),
    _row("GetBucketLocation", "GET", BUCKET, "location", "s3:GetBucketLocation", buckets.get_bucket_location),
    _row("GetBucketVersioning", "GET", BUCKET, "versioning", "s3:GetBucketVersioning",
         versioning.get_bucket_versioning),
    _row("PutBucketVersioning", "PUT", BUCKET, "versioning", "s3:PutBucketVersioning",
         versioning.put_bucket_versioning),
    _row("ListObjectVersions", "GET", BUCKET, "versions", "s3:ListBucketVersions", versioning.list_object_versions),
    _row("GetBucketAcl", "GET", BUCKET, "acl", "s3:GetBucketAcl", acl.get_bucket_acl),
    _row("GetObjectAcl", "GET", OBJECT, "acl", "s3:GetObjectAcl", acl.get_object_acl,
         version="s3:GetObjectVersionAcl"),
    _row("ListObjectsV2", "GET", BUCKET, "list-type", "s3:ListBucket", listing.list_objects_v2, value="2"),
    _row("ListMultipartUploads", "GET", BUCKET, "uploads", "s3:ListBucketMultipartUploads",
         multipart.list_multipart_uploads),
    _row("ListObjects", "GET", BUCKET, None, "s3:ListBucket", listing.list_objects_v1),
    _row("DeleteObjects", "POST", BUCKET, "delete", "", objects.delete_objects),
    # An HTML form's upload (no botocore operation: SDKs make the form, browsers send it); the handler judges
    # the form and authorizes s3:PutObject on the key it names.
    _row("PostObject", "POST", BUCKET, None, "", post_object.post_object),
    _row("GetBucketPolicy", "GET", BUCKET, "policy", "s3:GetBucketPolicy", bucket_policy.get_bucket_policy),
    _row("PutBucketPolicy", "PUT", BUCKET, "policy", "s3:PutBucketPolicy", bucket_policy.put_bucket_policy),
    _row("DeleteBucketPolicy", "DELETE", BUCKET, "policy", "s3:DeleteBucketPolicy",
         bucket_policy.delete_bucket_policy),
    _row("GetBucketPolicyStatus", "GET", BUCKET, "policyStatus", "s3:GetBucketPolicyStatus",
         bucket_policy.get_bucket_policy_status),
    _row("PutBucketAcl", "PUT", BUCKET, "acl", "s3:PutBucketAcl", acl.put_bucket_acl),
    _row("GetBucketTagging", "GET", BUCKET, "tagging", "s3:GetBucketTagging", tagging.get_bucket_tagging),
    _row("PutBucketTagging", "PUT", BUCKET, "tagging", "s3:PutBucketTagging", tagging.put_bucket_tagging),
    _row("DeleteBucketTagging", "DELETE", BUCKET, "tagging", "s3:PutBucketTagging", tagging.delete_bucket_tagging),
    _row("GetBucketCors", "GET", BUCKET, "cors", "s3:GetBucketCORS", cors.get_bucket_cors),
    _row("PutBucketCors", "PUT", BUCKET, "cors", "s3:PutBucketCORS", cors.put_bucket_cors),
    # "To use this operation, you must have permission to perform the s3:PutBucketCORS action."
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketCors.html)
    _row("DeleteBucketCors", "DELETE", BUCKET, "cors", "s3:PutBucketCORS", cors.delete_bucket_cors),
    _row("GetBucketLifecycleConfiguration", "GET", BUCKET, "lifecycle", "s3:GetLifecycleConfiguration",
         lifecycle.get_bucket_lifecycle),
    _row("PutBucketLifecycleConfiguration", "PUT", BUCKET, "lifecycle", "s3:PutLifecycleConfiguration",
         lifecycle.put_bucket_lifecycle),
    _row("DeleteBucketLifecycle", "DELETE", BUCKET, "lifecycle", "s3:PutLifecycleConfiguration",
         lifecycle.delete_bucket_lifecycle),
    _row("GetBucketOwnershipControls", "GET", BUCKET, "ownershipControls", "s3:GetBucketOwnershipControls",
         acl.get_bucket_ownership_controls),
    _row("PutBucketOwnershipControls", "PUT", BUCKET, "ownershipControls", "s3:PutBucketOwnershipControls",
         acl.put_bucket_ownership_controls),
    _row("DeleteBucketOwnershipControls", "DELETE", BUCKET, "ownershipControls", "s3:PutBucketOwnershipControls",
         acl.delete_bucket_ownership_controls),
    _row("GetPublicAccessBlock", "GET", BUCKET, "publicAccessBlock", "s3:GetBucketPublicAccessBlock",
         access.get_public_access_block),
    _row("PutPublicAccessBlock", "PUT", BUCKET, "publicAccessBlock", "s3:PutBucketPublicAccessBlock",
         access.put_public_access_block),
    _row("DeletePublicAccessBlock", "DELETE", BUCKET, "publicAccessBlock", "s3:PutBucketPublicAccessBlock",
         access.delete_public_access_block),
    # Settings no Storeroom bucket has: read as S3 answers them for a bucket without them (unconfigured.py).
    _row("GetBucketEncryption", "GET", BUCKET, "encryption", "s3:GetEncryptionConfiguration",
         encryption.get_bucket_encryption),
    _row("PutBucketEncryption", "PUT", BUCKET, "encryption", "s3:PutEncryptionConfiguration",
         encryption.put_bucket_encryption),
    # "DeleteBucketEncryption ... requires s3:PutEncryptionConfiguration"
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketEncryption.html)
    _row("DeleteBucketEncryption", "DELETE", BUCKET, "encryption", "s3:PutEncryptionConfiguration",
         encryption.delete_bucket_encryption),
    _row("GetBucketWebsite", "GET", BUCKET, "website", "s3:GetBucketWebsite", unconfigured.get_bucket_website),
    _row("GetBucketLogging", "GET", BUCKET, "logging", "s3:GetBucketLogging", access_log.get_bucket_logging),
    _row("PutBucketLogging", "PUT", BUCKET, "logging", "s3:PutBucketLogging", access_log.put_bucket_logging),
    _row("GetBucketNotificationConfiguration", "GET", BUCKET, "notification", "s3:GetBucketNotification",
         unconfigured.get_bucket_notification),
    _row("GetBucketReplication", "GET", BUCKET, "replication", "s3:GetReplicationConfiguration",
         unconfigured.get_bucket_replication),
    _row("GetBucketRequestPayment", "GET", BUCKET, "requestPayment", "s3:GetBucketRequestPayment",
         unconfigured.get_bucket_request_payment),
    _row("GetBucketAccelerateConfiguration", "GET", BUCKET, "accelerate", "s3:GetAccelerateConfiguration",
         unconfigured.get_bucket_accelerate),
    # Writes that leave a bucket as every Storeroom bucket is (unconfigured.py); others answer 501 there.
    _row("PutBucketRequestPayment", "PUT", BUCKET, "requestPayment", "s3:PutBucketRequestPayment",
         unconfigured.put_bucket_request_payment),
    _row("PutBucketNotificationConfiguration", "PUT", BUCKET, "notification", "s3:PutBucketNotification",
         unconfigured.put_bucket_notification),
    _row("DeleteBucketWebsite", "DELETE", BUCKET, "website", "s3:DeleteBucketWebsite",
         unconfigured.delete_bucket_website),
    # "DeleteBucketReplication ... requires s3:PutReplicationConfiguration"
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketReplication.html)
    _row("DeleteBucketReplication", "DELETE", BUCKET, "replication", "s3:PutReplicationConfiguration",
         unconfigured.delete_bucket_replication),
    # Analytics, inventory, metrics and Intelligent-Tiering configurations: none on any bucket (unconfigured.py).
    *_no_configurations("analytics", "Analytics", "s3:GetAnalyticsConfiguration"),
    *_no_configurations("inventory", "Inventory", "s3:GetInventoryConfiguration"),
    *_no_configurations("metrics", "Metrics", "s3:GetMetricsConfiguration"),
    *_no_configurations("intelligent-tiering", "IntelligentTiering", "s3:GetIntelligentTieringConfiguration"),
    _row("GetObjectLockConfiguration", "GET", BUCKET, "object-lock", "s3:GetBucketObjectLockConfiguration",
         object_lock.get_object_lock_configuration),
    _row("PutObjectLockConfiguration", "PUT", BUCKET, "object-lock", "s3:PutBucketObjectLockConfiguration",
         object_lock.put_object_lock_configuration),
    # objects
    _row("CreateMultipartUpload", "POST", OBJECT, "uploads", "s3:PutObject", multipart.create_multipart_upload),
    _row("CompleteMultipartUpload", "POST", OBJECT, "uploadId", "s3:PutObject",
         complete.complete_multipart_upload),
    _row("UploadPartCopy", "PUT", OBJECT, "uploadId", "s3:PutObject", multipart.upload_part_copy,
         header="x-amz-copy-source"),
    _row("UploadPart", "PUT", OBJECT, "uploadId", "s3:PutObject", multipart.upload_part),
    _row("CopyObject", "PUT", OBJECT, None, "s3:PutObject", objects.copy_object, header="x-amz-copy-source"),
    _row("PutObject", "PUT", OBJECT, None, "s3:PutObject", objects.put_object),
    _row("ListParts", "GET", OBJECT, "uploadId", "s3:ListMultipartUploadParts", multipart.list_parts),
    _row("GetObject", "GET", OBJECT, None, "s3:GetObject", objects.get_object, version="s3:GetObjectVersion"),
    _row("HeadObject", "HEAD", OBJECT, None, "s3:GetObject", objects.head_object, version="s3:GetObjectVersion"),
    _row("AbortMultipartUpload", "DELETE", OBJECT, "uploadId", "s3:AbortMultipartUpload",
         multipart.abort_multipart_upload),
    _row("DeleteObject", "DELETE", OBJECT, None, "s3:DeleteObject", objects.delete_object,
         version="s3:DeleteObjectVersion"),
    _row("PutObjectAcl", "PUT", OBJECT, "acl", "s3:PutObjectAcl", acl.put_object_acl, version="s3:PutObjectVersionAcl"),
    _row("GetObjectTagging", "GET", OBJECT, "tagging", "s3:GetObjectTagging", tagging.get_object_tagging,
         version="s3:GetObjectVersionTagging"),
    # authorized by the handler once the body is read: the new tags are condition keys (s3:RequestObjectTag)
    _row("PutObjectTagging", "PUT", OBJECT, "tagging", "", tagging.put_object_tagging),
    _row("DeleteObjectTagging", "DELETE", OBJECT, "tagging", "s3:DeleteObjectTagging", tagging.delete_object_tagging,
         version="s3:DeleteObjectVersionTagging"),
    # "you need the s3:GetObject and s3:GetObjectAttributes permissions": the handler asks for s3:GetObject too
    # (s3:GetObjectVersion and s3:GetObjectVersionAttributes for a version)
    _row("GetObjectAttributes", "GET", OBJECT, "attributes", "s3:GetObjectAttributes",
         attributes.get_object_attributes, version="s3:GetObjectVersionAttributes"),
    # Object Lock (s3/object_lock.py); the writes are authorized by their handlers once the body is read (the
    # retention or hold asked for gives the condition keys s3:object-lock-*)
    _row("GetObjectRetention", "GET", OBJECT, "retention", "s3:GetObjectRetention", object_lock.get_object_retention),
    _row("PutObjectRetention", "PUT", OBJECT, "retention", "", object_lock.put_object_retention),
    _row("GetObjectLegalHold", "GET", OBJECT, "legal-hold", "s3:GetObjectLegalHold",
         object_lock.get_object_legal_hold),
    _row("PutObjectLegalHold", "PUT", OBJECT, "legal-hold", "", object_lock.put_object_legal_hold),
    _row("RestoreObject", "POST", OBJECT, "restore", "s3:RestoreObject", restore.restore_object),
    # Recognised, not implemented yet: 501 NotImplemented naming the operation.
    *(
        _row(name, method, level, sub, "")
        for name, method, level, sub in (
            ("UpdateObjectEncryption", "PUT", OBJECT, "encryption"),
            ("PutBucketWebsite", "PUT", BUCKET, "website"),
            ("PutBucketReplication", "PUT", BUCKET, "replication"),
            ("PutBucketAccelerateConfiguration", "PUT", BUCKET, "accelerate"),
            ("PutBucketAnalyticsConfiguration", "PUT", BUCKET, "analytics"),
            ("DeleteBucketAnalyticsConfiguration", "DELETE", BUCKET, "analytics"),
            ("PutBucketInventoryConfiguration", "PUT", BUCKET, "inventory"),
            ("DeleteBucketInventoryConfiguration", "DELETE", BUCKET, "inventory"),
            ("PutBucketMetricsConfiguration", "PUT", BUCKET, "metrics"),
            ("DeleteBucketMetricsConfiguration", "DELETE", BUCKET, "metrics"),
            ("PutBucketIntelligentTieringConfiguration", "PUT", BUCKET, "intelligent-tiering"),
            ("DeleteBucketIntelligentTieringConfiguration", "DELETE", BUCKET, "intelligent-tiering"),
            ("GetBucketMetadataTableConfiguration", "GET", BUCKET, "metadataTable"),
            ("CreateBucketMetadataTableConfiguration", "POST", BUCKET, "metadataTable"),
            ("DeleteBucketMetadataTableConfiguration", "DELETE", BUCKET, "metadataTable"),
            ("GetBucketMetadataConfiguration", "GET", BUCKET, "metadataConfiguration"),
            ("CreateBucketMetadataConfiguration", "POST", BUCKET, "metadataConfiguration"),
            ("DeleteBucketMetadataConfiguration", "DELETE", BUCKET, "metadataConfiguration"),
            ("UpdateBucketMetadataInventoryTableConfiguration", "PUT", BUCKET, "metadataInventoryTable"),
            ("UpdateBucketMetadataJournalTableConfiguration", "PUT", BUCKET, "metadataJournalTable"),
            ("GetBucketAbac", "GET", BUCKET, "abac"), ("PutBucketAbac", "PUT", BUCKET, "abac"),
            ("CreateSession", "GET", BUCKET, "session"),
            ("SelectObjectContent", "POST", OBJECT, "select"),
            ("GetObjectTorrent", "GET", OBJECT, "torrent"),
            ("RenameObject", "PUT", OBJECT, "renameObject"),
        )
    ),
)

# S3 Control's account-level Block Public Access (s3/access.py), recognised by its path and x-amz-account-id:
# the handler picks the operation and the action (s3:GetAccountPublicAccessBlock, s3:PutAccountPublicAccessBlock).
CONTROL_ROW = Operation("PublicAccessBlock", "*", SERVICE, None, "")

# Query parameters that select a sub-resource; a request naming one that no row of its method and level
# handles is refused with NotImplemented rather than silently treated as the plain operation.
# (``list-type`` is a listing's parameter, not a sub-resource: S3 answers any value but 2 as ListObjects v1.)
SUBRESOURCES = (frozenset(op.subresource for op in OPERATIONS if op.subresource) | {"select-type"}) - {"list-type"}

_BY_METHOD_LEVEL: dict[tuple[str, str], list[Operation]] = {}
for _op in OPERATIONS:
    _BY_METHOD_LEVEL.setdefault((_op.method, _op.level), []).append(_op)
_SUBRESOURCES_OF = {where: frozenset(op.subresource for op in rows if op.subresource)
                    for where, rows in _BY_METHOD_LEVEL.items()}
# Most specific first: rows with a sub-resource, then those selected by a header, then the plain one.
for _rows in _BY_METHOD_LEVEL.values():
    _rows.sort(key=lambda op: (op.subresource is None, op.header is None))


def match_operation(method: str, bucket: str | None, key: str | None, args: dict[str, str],
                    headers: dict[str, str]) -> Operation:
    level = SERVICE if bucket is None else (BUCKET if key is None else OBJECT)
    rows = _BY_METHOD_LEVEL.get((method, level))
    if not rows:
        raise AwsError("MethodNotAllowed", Method=method, ResourceType=level.upper())
    for op in rows:
        if op.subresource is not None and (
            op.subresource not in args or (op.value is not None and args[op.subresource] != op.value)
        ):
            continue
        if op.header is not None and op.header not in headers:
            continue
        if op.absent is not None and op.absent in args:
            continue
        if op.subresource is None and not SUBRESOURCES.isdisjoint(args):
            break  # a sub-resource we do not know for this method/level
        return op
    # A sub-resource S3 has for this method and level, asked in a form Storeroom does not implement: 501; none of
    # them at all (a form posted to an object's URL, a misspelt name) is no operation of S3's: 405, as S3 answers.
    unknown = sorted(_SUBRESOURCES_OF[(method, level)].intersection(args))
    if not unknown:
        raise AwsError("MethodNotAllowed", Method=method, ResourceType=level.upper())
    raise AwsError("NotImplemented", f"The sub-resource {', '.join(unknown)} is not implemented for "
                   f"{method} requests by Storeroom.")
