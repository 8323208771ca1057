"""S3 buckets: the list, "Create bucket", a bucket's Properties and Permissions (the bucket policy editor),
"Empty bucket" and "Delete bucket" (typed confirmations, as AWS's console)."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import unquote_plus, urlencode
from xml.sax.saxutils import escape

from starlette.responses import Response

from storeroom.console.editor import Problem, locate_problem
from storeroom.console.s3.common import (
    body_of,
    bucket_url,
    check_bucket_name,
    object_path,
    s3_xml,
    shown_time,
    sub_url,
    text,
)
from storeroom.console.services import Caller, ServiceError, allowed
from storeroom.console.web import Page, Routes
from storeroom.s3.bucket_policy import check_policy
from storeroom.s3.buckets import REGIONS

routes = Routes()
EMPTY_CONFIRMATION = "permanently delete"     # the words AWS's "Empty bucket" asks to type
POLICY_TEMPLATE = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Statement1",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::%s:root"},
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::%s/*"
    }
  ]
}"""


def region_choices() -> list[tuple[str, str]]:
    """(code, label) of each region a bucket may be made in, labelled as AWS's console does: "US East (N.
    Virginia) us-east-1" (the names from botocore's endpoint data)."""
    names = _region_names()
    return [(r, f"{names[r]} {r}" if r in names else r) for r in sorted(REGIONS) if r != "EU"]


@functools.cache  # read at the first Create bucket page: botocore's loader is not imported by a start
def _region_names() -> dict[str, str]:
    from botocore.loaders import Loader

    return {region: str(about["description"]) for partition in Loader().load_data("endpoints")["partitions"]
            for region, about in partition["regions"].items() if about.get("description")}


# -- the list ------------------------------------------------------------------------------------------------


async def list_buckets(caller: Caller, prefix: str = "") -> list[dict[str, str]]:
    """Every bucket the caller may list (ListBuckets, page by page)."""
    found: list[dict[str, str]] = []
    token = ""
    while True:
        params = {"max-buckets": "1000", **({"continuation-token": token} if token else {}),
                  **({"prefix": prefix} if prefix else {})}
        root = await s3_xml(caller, "GET", "/", urlencode(params))
        for bucket in root.iter("Bucket"):
            found.append({"name": text(bucket, "Name"), "region": text(bucket, "BucketRegion"),
                          "created": shown_time(text(bucket, "CreationDate"))})
        token = text(root, "ContinuationToken")
        if not token:
            return found


@routes.get("/s3")
async def s3_home(page: Page) -> Response:
    return page.redirect("/s3/buckets")


@routes.get("/s3/buckets")
async def buckets(page: Page) -> Response:
    """A principal without s3:ListAllMyBuckets gets the page with the denial explained where the list would be."""
    try:
        found = await list_buckets(page.caller)
    except ServiceError as err:
        return page.render("s3/buckets.html", status=403 if err.denial else err.status, buckets=[], error=err)
    return page.render("s3/buckets.html", buckets=found, error=None)


# -- Create bucket -------------------------------------------------------------------------------------------


@routes.get("/s3/bucket/create")
async def create_form(page: Page) -> Response:
    return page.render("s3/create_bucket.html", name="", region=page.services.settings.region,
                       regions=region_choices(), error=None)


@routes.post("/s3/bucket/create")
async def create(page: Page) -> Response:
    """CreateBucket as the AWS console sends it: to the chosen region, with its LocationConstraint (none for
    us-east-1).  S3's refusals (InvalidBucketName, BucketAlreadyOwnedByYou, …) are shown as the API answers."""
    name = page.field("bucket_name")
    region = page.field("region") or page.services.settings.region
    body = b""
    if region != "us-east-1":
        body = ('<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>'
                f"{escape(region)}</LocationConstraint></CreateBucketConfiguration>").encode()
    try:
        check_bucket_name(name)
        await page.caller.s3("PUT", object_path(name), body=body, region=region)
    except ServiceError as err:
        return page.render("s3/create_bucket.html", status=403 if err.denial else 400, name=name, region=region,
                           regions=region_choices(), error=err)
    return page.redirect(bucket_url(name), flash=f"Successfully created bucket “{name}”.")


# -- a bucket's Properties and Permissions tabs ----------------------------------------------------------------


async def bucket_properties(caller: Caller, bucket: str) -> dict[str, Any]:
    found = [b for b in await list_buckets(caller, bucket) if b["name"] == bucket]
    if not found:
        raise ServiceError("NoSuchBucket", "The specified bucket does not exist", 404)
    return {**found[0], "arn": f"arn:aws:s3:::{bucket}"}


async def bucket_policy(caller: Caller, bucket: str) -> str | None:
    try:
        response = await caller.s3("GET", object_path(bucket), "policy")
    except ServiceError as err:
        if err.code == "NoSuchBucketPolicy":
            return None
        raise
    return pretty(await body_of(response))


def pretty(data: bytes | str) -> str:
    try:
        return json.dumps(json.loads(data), indent=2)
    except ValueError:
        return data.decode() if isinstance(data, bytes) else data


@routes.get("/s3/buckets/{bucket}/policy")
async def policy_form(page: Page) -> Response:
    bucket = page.param("bucket")
    current = await bucket_policy(page.caller, bucket)
    document = current or POLICY_TEMPLATE % (page.services.account_id, bucket)
    return page.render("s3/edit_policy.html", bucket=bucket, document=document, problem=None, error=None)


@routes.post("/s3/buckets/{bucket}/policy")
async def save_policy(page: Page) -> Response:
    """PutBucketPolicy; S3's MalformedPolicy message placed at the statement S3's validator refuses."""
    bucket, document = page.param("bucket"), page.field("policy_document")
    try:
        await page.caller.s3("PUT", object_path(bucket), "policy", body=document.encode("utf-8", "surrogatepass"),
                             headers={"content-type": "application/json"})
    except ServiceError as err:
        if err.denial is not None:
            return page.render("s3/edit_policy.html", status=403, bucket=bucket, document=document, problem=None,
                               error=err)
        problem: Problem = locate_problem(err, document, "MalformedPolicy", lambda one: check_policy(one, bucket))
        return page.render("s3/edit_policy.html", status=400, bucket=bucket, document=document, problem=problem,
                           error=None)
    return page.redirect(bucket_url(bucket, tab="permissions"), flash="Successfully edited bucket policy.")


@routes.post("/s3/buckets/{bucket}/policy/delete")
async def delete_policy(page: Page) -> Response:
    bucket = page.param("bucket")
    if page.field("confirm").strip() != "delete":
        return page.redirect(bucket_url(bucket, tab="permissions"),
                             flash="To delete the bucket policy, type delete to confirm.")
    await page.caller.s3("DELETE", object_path(bucket), "policy")
    return page.redirect(bucket_url(bucket, tab="permissions"), flash="Successfully deleted bucket policy.")


# -- Bucket Versioning (Properties) ----------------------------------------------------------------------------


@routes.get("/s3/buckets/{bucket}/versioning")
async def versioning_form(page: Page) -> Response:
    bucket = page.param("bucket")
    status = await versioning(page.caller, bucket)  # None: not readable by this caller, then nothing is chosen
    return page.render("s3/edit_versioning.html", bucket=bucket,
                       chosen="Suspended" if status == "" else status or "", error=None)


@routes.post("/s3/buckets/{bucket}/versioning")
async def save_versioning(page: Page) -> Response:
    """PutBucketVersioning with the chosen status (Enabled or Suspended, as AWS's console offers them)."""
    bucket, status = page.param("bucket"), page.field("status")
    if status not in ("Enabled", "Suspended"):  # nothing chosen (the current status unknown to this caller)
        return page.render("s3/edit_versioning.html", status=400, bucket=bucket, chosen="",
                           error="Choose Enable or Suspend.")
    body = (f'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>{status}</Status>'
            "</VersioningConfiguration>").encode()
    try:
        await page.caller.s3("PUT", object_path(bucket), "versioning", body=body,
                             headers={"content-type": "application/xml"})
    except ServiceError as err:
        if err.denial is not None:
            raise
        return page.render("s3/edit_versioning.html", status=400, bucket=bucket, chosen=status, error=err)
    return page.redirect(bucket_url(bucket, tab="properties"), flash="Successfully edited Bucket Versioning.")


# -- Empty bucket, Delete bucket -------------------------------------------------------------------------------


async def is_empty(caller: Caller, bucket: str) -> bool:
    root = await s3_xml(caller, "GET", object_path(bucket), "list-type=2&max-keys=1&encoding-type=url")
    return root.find("Contents") is None


# What XML 1.0 cannot carry, even as a character reference: a key holding one is deleted on its own, not in a
# DeleteObjects document.
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


async def delete_keys(caller: Caller, bucket: str, keys: list[tuple[str, str | None]]
                      ) -> list[tuple[str, str, str]]:
    """DeleteObjects of (key, version id or None), 1,000 a request (S3's limit); the (key, code, message) of
    each key S3 refused."""
    failed: list[tuple[str, str, str]] = []
    odd = [entry for entry in keys if _NOT_IN_XML.search(entry[0])]
    keys = [entry for entry in keys if not _NOT_IN_XML.search(entry[0])]
    for start in range(0, len(keys), 1000):
        body = ("<Delete><Quiet>true</Quiet>" + "".join(
            f"<Object><Key>{_xml_text(k)}</Key>{'' if v is None else f'<VersionId>{escape(v)}</VersionId>'}</Object>"
            for k, v in keys[start:start + 1000]) + "</Delete>").encode()
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()   # S3 requires it on DeleteObjects
        root = await s3_xml(caller, "POST", object_path(bucket), "delete", body=body,
                            headers={"content-md5": md5, "content-type": "application/xml"})
        failed += [(text(e, "Key"), text(e, "Code"), text(e, "Message")) for e in root.iter("Error")]
    for key, version in odd:
        try:
            await caller.s3("DELETE", object_path(bucket, key), "" if version is None else urlencode(
                {"versionId": version}))
        except ServiceError as err:
            failed.append((key, err.code, err.message))
    return failed


def _xml_text(key: str) -> str:
    """A key as XML text that reads back as itself: a CR as a character reference (an XML parser turns a raw
    CR LF into LF, so ``c\r\nd`` would name ``c\nd``)."""
    return escape(key).replace("\r", "&#13;")


async def keys_under(caller: Caller, bucket: str, prefix: str) -> list[tuple[str, None]]:
    """Every key that starts with ``prefix`` (a folder and all it holds), listed page by page (URL-encoded:
    a key may hold what XML cannot)."""
    keys: list[tuple[str, None]] = []
    token = ""
    while True:
        params = {"list-type": "2", "prefix": prefix, "encoding-type": "url",
                  **({"continuation-token": token} if token else {})}
        root = await s3_xml(caller, "GET", object_path(bucket), urlencode(params))
        keys += [(unquote_plus(text(c, "Key")), None) for c in root.iter("Contents")]
        token = text(root, "NextContinuationToken")
        if not token:
            return keys


async def versions_under(caller: Caller, bucket: str, prefix: str) -> list[tuple[str, str | None]]:
    """Every version and delete marker of the keys under ``prefix``: what emptying a versioned bucket deletes
    ("all versions of all the objects in the bucket are deleted")."""
    found: list[tuple[str, str | None]] = []
    markers: dict[str, str] = {}
    while True:
        params = {"versions": "", "prefix": prefix, "encoding-type": "url", **markers}
        root = await s3_xml(caller, "GET", object_path(bucket), urlencode(params))
        found += [(unquote_plus(text(v, "Key")), text(v, "VersionId"))
                  for v in root if v.tag in ("Version", "DeleteMarker")]
        markers = next_version_markers(root)
        if not markers:
            return found


def next_version_markers(root: ET.Element) -> dict[str, str]:
    """The parameters of the next page of a ListObjectVersions answer (URL-encoded keys), {} on its last page.
    (NextVersionIdMarker is absent when the page ended on a common prefix.)"""
    if text(root, "IsTruncated") != "true":
        return {}
    markers = {"key-marker": unquote_plus(text(root, "NextKeyMarker"))}
    if text(root, "NextVersionIdMarker"):
        markers["version-id-marker"] = text(root, "NextVersionIdMarker")
    return markers


async def versioning(caller: Caller, bucket: str) -> str | None:
    """The bucket's versioning: "Enabled", "Suspended", "" (never enabled), or None when the caller may not read
    it (AWS's console policies for object work do not grant s3:GetBucketVersioning: deleting must still work)."""
    found = await allowed(s3_xml(caller, "GET", object_path(bucket), "versioning"))
    return None if found is None else text(found, "Status")


async def every_version(caller: Caller, bucket: str) -> list[tuple[str, str | None]]:
    """Everything Empty deletes: each version and delete marker where the bucket has (or may have) them, else
    each key."""
    if await versioning(caller, bucket) != "":
        versions = await allowed(versions_under(caller, bucket, ""))
        if versions is not None:
            return versions
    return list(await keys_under(caller, bucket, ""))  # (no s3:ListBucketVersions: as far as the caller may go)


@routes.get("/s3/buckets/{bucket}/empty")
async def empty_form(page: Page) -> Response:
    return page.render("s3/empty_bucket.html", bucket=page.param("bucket"), words=EMPTY_CONFIRMATION,
                       failed=[])


@routes.post("/s3/buckets/{bucket}/empty")
async def empty(page: Page) -> Response:
    bucket = page.param("bucket")
    if page.field("confirm").strip() != EMPTY_CONFIRMATION:
        return page.redirect(sub_url(bucket, "empty"), flash=f"To empty the bucket, type {EMPTY_CONFIRMATION}.")
    caller = page.caller
    failed = await delete_keys(caller, bucket, await every_version(caller, bucket))
    if failed:
        return page.render("s3/empty_bucket.html", status=403, bucket=bucket, words=EMPTY_CONFIRMATION,
                           failed=failed)
    return page.redirect("/s3/buckets", flash=f"Successfully emptied bucket “{bucket}”.")


@routes.get("/s3/buckets/{bucket}/delete")
async def delete_form(page: Page) -> Response:
    bucket = page.param("bucket")
    empty_now = True
    try:
        empty_now = await is_empty(page.caller, bucket)
    except ServiceError as err:
        if err.code == "NoSuchBucket":
            raise
    return page.render("s3/delete_bucket.html", bucket=bucket, empty=empty_now, error=None)


@routes.post("/s3/buckets/{bucket}/delete")
async def delete(page: Page) -> Response:
    bucket = page.param("bucket")
    if page.field("confirm").strip() != bucket:
        return page.redirect(sub_url(bucket, "delete"), flash="To delete the bucket, type its name to confirm.")
    try:
        await page.caller.s3("DELETE", object_path(bucket))
    except ServiceError as err:
        return page.render("s3/delete_bucket.html", status=403 if err.denial else err.status, bucket=bucket,
                           empty=err.code != "BucketNotEmpty", error=err)
    return page.redirect("/s3/buckets", flash=f"Successfully deleted bucket “{bucket}”.")
