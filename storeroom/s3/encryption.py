"""Server-side encryption as S3 answers it: SSE-S3 (``AES256``) for every object, on by default.

Storeroom encrypts object data at rest itself (storeroom/store/encrypted_blobs.py, unless ``--encryption off``);
what this module does is the S3 side of it:

- Put/Get/DeleteBucketEncryption.  "All Amazon S3 buckets have encryption configured by default, and all new
  objects that are uploaded to an S3 bucket are automatically encrypted at rest. Server-side encryption with
  Amazon S3 managed keys (SSE-S3) is the default encryption configuration for every bucket in Amazon S3."
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html): GetBucketEncryption of a
  bucket never configured answers AES256, and DeleteBucketEncryption returns a bucket to it.  "Starting April
  2026, Amazon S3 automatically disables server-side encryption with customer-provided keys (SSE-C) for all
  new general purpose buckets" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/blocking-unblocking-s3-c-
  encryption-gpb.html): the default names SSE-C among the BlockedEncryptionTypes.
- SSE-KMS: Storeroom has no KMS, so every KMS key is one that does not exist, and S3 answers a request naming
  one ``400 KMS.NotFoundException`` "Invalid keyId <key>" (the AWS managed key ``aws/s3`` when none is named).
- SSE-C: "When SSE-C is blocked for a bucket, any PutObject, CopyObject, PostObject, Multipart Upload, or
  replication request that specifies SSE-C encryption will be rejected with an HTTP 403 AccessDenied error"
  (same page): every Storeroom bucket blocks it; a read with SSE-C headers of an object not encrypted with
  them is S3's ``400 InvalidRequest`` "The encryption parameters are not applicable to this object."
- ``x-amz-server-side-encryption: AES256`` on the answers of PUT, POST, Copy, CreateMultipartUpload, UploadPart,
  UploadPartCopy, CompleteMultipartUpload (when new data is encrypted), and of GET and HEAD when the object's
  data is stored encrypted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.s3 import xml
from storeroom.s3.document import read_body
from storeroom.store.encrypted_blobs import EncryptedBlobs

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call
    from storeroom.store.meta import ObjectRecord

HEADER = "x-amz-server-side-encryption"
AES256 = "AES256"
MAX_BODY = 64 * 1024
XML_HEADERS = [("content-type", "application/xml")]

# operations that write object data, and whose answer names the encryption of what they stored
WRITES = frozenset({"PutObject", "PostObject", "CopyObject", "CreateMultipartUpload", "UploadPart",
                    "UploadPartCopy", "CompleteMultipartUpload"})
# where a request may ask for an encryption
REQUESTS_ALGORITHM = frozenset({"PutObject", "PostObject", "CopyObject", "CreateMultipartUpload"})
# where S3 refuses x-amz-server-side-encryption ("…header is not supported for this operation": botocore's
# GetObject/HeadObject documentation; ClickHouse/ClickHouse#64570's CompleteMultipartUpload; UploadPart alike)
REFUSES_ALGORITHM = frozenset({"GetObject", "HeadObject", "UploadPart", "CompleteMultipartUpload"})
# reads: SSE-C parameters are refused as "not applicable to this object" once the object is found (a missing key
# stays 404: sync tools HEAD with their key to learn whether an object exists)
READS = frozenset({"GetObject", "HeadObject", "GetObjectAttributes"})
KMS_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
# any one of them asks for SSE-C (the key without its algorithm too: S3 never ignores it)
_SSE_C = ("x-amz-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-key",
          "x-amz-server-side-encryption-customer-key-md5")
_COPY_SSE_C = tuple(h.replace("x-amz-", "x-amz-copy-source-", 1) for h in _SSE_C)


def _kms_not_found(key_id: str | None) -> AwsError:
    return AwsError("KMS.NotFoundException", f"Invalid keyId {key_id or 'aws/s3'}", 400)


def check_request(operation: str, headers: Mapping[str, str]) -> None:
    """Refuse what S3 would refuse of an object request's encryption headers, before any byte is stored."""
    get = headers.get
    sse_c, copy_sse_c = _any(headers, _SSE_C), _any(headers, _COPY_SSE_C)
    if sse_c or copy_sse_c:
        if operation in WRITES and sse_c:
            raise AwsError("AccessDenied", "Requests specifying Server Side Encryption with Customer provided "
                           "keys are blocked for this bucket.", 403)
        if operation in READS and not copy_sse_c:
            return  # refuse_customer_key, once the object is found
        raise _not_applicable()
    algorithm = get(HEADER)
    if operation not in REQUESTS_ALGORITHM:
        if algorithm is not None and operation in REFUSES_ALGORITHM:
            raise AwsError("InvalidArgument", f"{HEADER} header is not supported for this operation.")
        return
    if algorithm is None:
        key_id = get(KMS_KEY_ID)
        if key_id is not None:  # a KMS key asked for, without SSE-KMS: never SSE-S3 silently
            raise AwsError("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP "
                           "header x-amz-server-side-encryption : aws:kms", ArgumentName=KMS_KEY_ID,
                           ArgumentValue=key_id)
        return
    if algorithm in ("aws:kms", "aws:kms:dsse"):
        raise _kms_not_found(get(KMS_KEY_ID))
    if algorithm != AES256:
        raise AwsError("InvalidArgument", "The encryption method specified is not supported",
                       ArgumentName=HEADER, ArgumentValue=algorithm)
    if get(KMS_KEY_ID) is not None:
        raise AwsError("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header "
                       "x-amz-server-side-encryption : aws:kms", ArgumentName=HEADER, ArgumentValue=algorithm)


def refuse_customer_key(headers: Mapping[str, str]) -> None:
    """A read of an object found: SSE-C parameters name a key no object here was written with (SSE-C writes are
    blocked), so they do not apply to it."""
    if _any(headers, _SSE_C):
        raise _not_applicable()


def _any(headers: Mapping[str, str], names: tuple[str, ...]) -> bool:
    return any(headers.get(name) is not None for name in names)


def _not_applicable() -> AwsError:
    return AwsError("InvalidRequest", "The encryption parameters are not applicable to this object.")


def answer(call: S3Call, response: Response) -> Response:
    """The encryption header on a write's answer, when new data is stored encrypted."""
    if response.status in (200, 201, 204) and call.operation.name in WRITES and isinstance(
            call.blobs, EncryptedBlobs) and call.blobs.encrypt:
        response.headers.append((HEADER, AES256))
    return response


async def stored_encrypted(call: S3Call, record: ObjectRecord) -> bool:
    """Whether ``record``'s data is stored encrypted (written with encryption on; GET and HEAD say so)."""
    blobs = call.blobs
    if not isinstance(blobs, EncryptedBlobs):
        return False
    if not record.blobs:
        return blobs.encrypt
    first = record.blobs[0][0]
    known = blobs.known_key(first)
    if known is False:
        return (await blobs.keys_of((first,)))[first] is not None
    return known is not None


async def stored_in_clear_but_should_not_be(call: S3Call, record: ObjectRecord) -> bool:
    """``record``'s data is in clear (written with encryption off) while new data is encrypted: a copy of it onto
    itself must rewrite it, as copying an object onto itself is how S3 users encrypt existing objects."""
    blobs = call.blobs
    return isinstance(blobs, EncryptedBlobs) and blobs.encrypt and not await stored_encrypted(call, record)


# -- the bucket's default encryption -----------------------------------------------------------------------

async def put_bucket_encryption(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    body = await read_body(call, MAX_BODY, required=True)
    config = parse_configuration(body)
    await store(call, json.dumps(config))
    return Response(200)


def parse_configuration(body: bytes) -> dict[str, bool]:
    root = xml.parse(body)
    rules = xml.children(root, "Rule")
    if xml.local(root) != "ServerSideEncryptionConfiguration" or len(rules) != 1:
        raise AwsError("MalformedXML")
    rule = rules[0]
    defaults = xml.children(rule, "ApplyServerSideEncryptionByDefault")
    if len(defaults) != 1:
        raise AwsError("MalformedXML")
    algorithm = xml.child_text(defaults[0], "SSEAlgorithm")
    key_id = xml.child_text(defaults[0], "KMSMasterKeyID")
    if algorithm in ("aws:kms", "aws:kms:dsse"):
        raise _kms_not_found(key_id)
    if algorithm != AES256:
        raise AwsError("MalformedXML")
    if key_id is not None:
        raise AwsError("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                       "aws:kms or aws:kms:dsse", ArgumentName="ApplyServerSideEncryptionByDefault")
    bucket_key = (xml.child_text(rule, "BucketKeyEnabled") or "false").strip().lower()
    if bucket_key not in ("true", "false"):
        raise AwsError("MalformedXML")
    for blocked in xml.children(rule, "BlockedEncryptionTypes"):
        types = [(t.text or "").strip() for t in xml.children(blocked, "EncryptionType")]
        if any(t not in ("SSE-C", "NONE") for t in types):
            raise AwsError("MalformedXML")
        if "NONE" in types:
            raise AwsError("NotImplemented", "Server-side encryption with customer-provided keys (SSE-C) is not "
                           "implemented by Storeroom: it stays blocked.", 501)
    return {"bucket_key": bucket_key == "true"}


async def store(call: S3Call, config: str | None) -> None:
    """The setting in ``bucket_config`` ('encryption'); a bucket deleted meanwhile is NoSuchBucket."""
    assert call.bucket is not None
    if not await call.meta.put_bucket_config(call.bucket, "encryption", config):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)


async def configured(call: S3Call) -> bool:
    """Whether PutBucketEncryption set the bucket's default encryption (rather than S3's implicit SSE-S3)."""
    assert call.bucket is not None
    return await call.meta.get_bucket_config(call.bucket, "encryption") is not None


async def get_bucket_encryption(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    stored = await call.meta.get_bucket_config(call.bucket, "encryption")
    bucket_key = bool(json.loads(stored).get("bucket_key")) if stored is not None else False
    rule = (f"<Rule><ApplyServerSideEncryptionByDefault>{xml.tag('SSEAlgorithm', AES256)}"
            f"</ApplyServerSideEncryptionByDefault>{xml.tag('BucketKeyEnabled', bucket_key)}"
            f"<BlockedEncryptionTypes>{xml.tag('EncryptionType', 'SSE-C')}</BlockedEncryptionTypes></Rule>")
    return Response(200, list(XML_HEADERS), xml.document("ServerSideEncryptionConfiguration", rule))


async def delete_bucket_encryption(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    await store(call, None)
    return Response(204)
