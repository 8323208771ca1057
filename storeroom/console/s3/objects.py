"""A bucket's page: the Objects browser (folders as common prefixes of delimiter ``/``, breadcrumbs, pages by
continuation token; "Show versions" lists every version and delete marker), "Create folder", "Delete" (typed
confirmation; selected versions are deleted for good), an object's details (of one version too), "Download"
(streamed) and "Share" (a presigned URL, storeroom/share.py)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

from starlette.responses import Response, StreamingResponse

from storeroom.console.filters import chosen_version
from storeroom.console.s3.buckets import (
    EMPTY_CONFIRMATION,
    bucket_policy,
    bucket_properties,
    delete_keys,
    keys_under,
    next_version_markers,
    versioning,
)
from storeroom.console.s3.common import (
    breadcrumbs,
    bucket_url,
    object_path,
    s3_xml,
    shown_time,
    size,
    sub_url,
    text,
)
from storeroom.console.services import ServiceError
from storeroom.console.web import Page, Routes
from storeroom.numbers import parse_int
from storeroom.share import MAX_EXPIRES, MIN_EXPIRES, Grant
from storeroom.tls import TlsFiles

routes = Routes()
PAGE_SIZE = 100
TABS = {"objects": "Objects", "properties": "Properties", "permissions": "Permissions"}
FIRST_PAGE = "-"          # the history entry of the first page (it has no continuation token)


@dataclass(frozen=True, slots=True)
class Row:
    name: str              # what the list shows: the last part of the key ("photos/" for a folder)
    key: str               # the whole key, or the folder's prefix
    folder: bool
    size: int = 0
    modified: str = ""
    etag: str = ""
    storage_class: str = ""
    version_id: str = ""   # "Show versions": the version's id ("null" for the null version)
    latest: bool = False
    delete_marker: bool = False


# -- the Objects tab ---------------------------------------------------------------------------------------------


def _folders(root: ET.Element, prefix: str) -> list[Row]:
    """A listing's common prefixes (URL-encoded) as the folders of the level ``prefix``."""
    folders = (unquote_plus(text(c, "Prefix")) for c in root.iter("CommonPrefixes"))
    return [Row(p[len(prefix):], p, True) for p in folders]


async def list_level(page: Page, bucket: str, prefix: str, token: str) -> tuple[list[Row], str]:
    """One page of one folder level: its folders, then its objects (S3's order); and the next page's token."""
    params = {"list-type": "2", "delimiter": "/", "prefix": prefix, "max-keys": str(PAGE_SIZE),
              "encoding-type": "url"}  # (a key may hold what XML cannot carry)
    if token:
        params["continuation-token"] = token
    root = await s3_xml(page.caller, "GET", object_path(bucket), urlencode(params))
    rows = _folders(root, prefix)
    for item in root.iter("Contents"):
        key = unquote_plus(text(item, "Key"))
        if key == prefix:          # the folder's own placeholder ("Create folder" made it): not listed
            continue
        rows.append(Row(key[len(prefix):], key, False, int(text(item, "Size", "0")),
                        shown_time(text(item, "LastModified")), text(item, "ETag"), text(item, "StorageClass")))
    return rows, text(root, "NextContinuationToken")


async def list_versions_level(page: Page, bucket: str, prefix: str, token: str) -> tuple[list[Row], str]:
    """"Show versions": one page of one folder level's folders, versions and delete markers (ListObjectVersions,
    newest first within a key); the next page's markers as one token (``key-marker=…&version-id-marker=…``)."""
    markers = {k: v for k, v in parse_qsl(token) if k in ("key-marker", "version-id-marker")}  # nothing else
    params = {"versions": "", "delimiter": "/", "prefix": prefix, "max-keys": str(PAGE_SIZE),
              "encoding-type": "url", **markers}
    root = await s3_xml(page.caller, "GET", object_path(bucket), urlencode(params))
    rows = _folders(root, prefix)
    for item in root:
        if item.tag not in ("Version", "DeleteMarker"):
            continue
        key = unquote_plus(text(item, "Key"))
        if key == prefix:          # the folder's own placeholder, as in the list without versions
            continue
        marker = item.tag == "DeleteMarker"
        rows.append(Row(key[len(prefix):], key, False, int(text(item, "Size", "0")),
                        shown_time(text(item, "LastModified")), text(item, "ETag"),
                        "" if marker else text(item, "StorageClass"), text(item, "VersionId"),
                        text(item, "IsLatest") == "true", marker))
    following = next_version_markers(root)
    return rows, urlencode(following) if following else ""


@routes.get("/s3/buckets/{bucket}")
async def bucket_page(page: Page) -> Response:
    bucket = page.param("bucket")
    tab = page.field("tab") if page.field("tab") in TABS else "objects"
    context: dict[str, Any] = {"bucket": bucket, "tab": tab, "tabs": TABS, "url": bucket_url, "sub_url": sub_url,
                               "size": size}
    if tab == "objects":
        prefix, token = page.field("prefix"), page.field("token")
        shown = "1" if page.field("versions") == "1" else ""
        history = page.field("history").split()
        rows, next_token = await (list_versions_level if shown else list_level)(page, bucket, prefix, token)
        here = history + [token or FIRST_PAGE]
        context.update(prefix=prefix, rows=rows, crumbs=breadcrumbs(bucket, prefix), page_number=len(history) + 1,
                       versions=shown,
                       next_url=bucket_url(bucket, prefix=prefix, versions=shown, token=next_token,
                                           history=" ".join(here)) if next_token else None,
                       previous_url=_previous(bucket, prefix, history, shown))
    elif tab == "properties":
        context["properties"] = await bucket_properties(page.caller, bucket)
        context["versioning"] = await versioning(page.caller, bucket)
    else:
        context["policy"] = await bucket_policy(page.caller, bucket)
    return page.render("s3/bucket.html", **context)


def _previous(bucket: str, prefix: str, history: list[str], versions: str) -> str | None:
    if not history:
        return None
    token = history[-1]
    return bucket_url(bucket, prefix=prefix, versions=versions, token="" if token == FIRST_PAGE else token,
                      history=" ".join(history[:-1]))


# -- Create folder -----------------------------------------------------------------------------------------------


@routes.get("/s3/buckets/{bucket}/create-folder")
async def folder_form(page: Page) -> Response:
    bucket, prefix = page.param("bucket"), page.field("prefix")
    return page.render("s3/create_folder.html", bucket=bucket, prefix=prefix, name="", error=None,
                       crumbs=breadcrumbs(bucket, prefix))


@routes.post("/s3/buckets/{bucket}/create-folder")
async def create_folder(page: Page) -> Response:
    """As AWS's console: a zero-byte object whose key is the folder's path and ends in ``/``."""
    bucket, prefix, name = page.param("bucket"), page.encoded_field("prefix"), page.field("folder_name").strip()
    problem = ("Enter a folder name." if not name else
               "Folder names can't contain “/”." if "/" in name else None)
    if problem is not None:
        return page.render("s3/create_folder.html", status=400, bucket=bucket, prefix=prefix, name=name,
                           error=ServiceError("InvalidFolderName", problem, 400), crumbs=breadcrumbs(bucket, prefix))
    try:
        await page.caller.s3("PUT", object_path(bucket, f"{prefix}{name}/"), body=b"")
    except ServiceError as err:
        return page.render("s3/create_folder.html", status=403 if err.denial else err.status, bucket=bucket,
                           prefix=prefix, name=name, error=err, crumbs=breadcrumbs(bucket, prefix))
    return page.redirect(bucket_url(bucket, prefix=prefix), flash=f"Successfully created folder “{name}”.")


# -- Delete objects --------------------------------------------------------------------------------------------


def _selected_versions(page: Page) -> list[tuple[str, str]]:
    """The (key, version id) pairs checked in "Show versions" (values the ``version_choice`` filter wrote)."""
    return [pair for pair in map(chosen_version, page.fields("selected_version")) if pair is not None]


@routes.post("/s3/buckets/{bucket}/delete-objects")
async def delete_objects_form(page: Page) -> Response:
    """The confirmation step: what was selected (folders with everything in them, or versions), and the words to
    type."""
    bucket, prefix, selected = page.param("bucket"), page.encoded_field("prefix"), page.encoded_fields("selected")
    versions = _selected_versions(page)
    if not selected and not versions:
        return page.redirect(bucket_url(bucket, prefix=prefix, versions="1" if page.field("versions") else ""),
                             flash="Select the objects to delete first.")
    keeps = not versions and await versioning(page.caller, bucket) == "Enabled"
    return page.render("s3/delete_objects.html", bucket=bucket, prefix=prefix, selected=selected,
                       versions=versions, versioned=keeps, words=_words(keeps), failed=[],
                       crumbs=breadcrumbs(bucket, prefix), problem=None)


def _words(keeps_versions: bool) -> str:
    """What AWS's console asks to type: *delete* where deleting adds delete markers (versioning Enabled: the
    versions kept), *permanently delete* where it cannot be undone — versioning Suspended too (a delete marker
    replaces the null version, whose content is lost: DeletingObjectsfromVersioningSuspendedBuckets.html),
    unknown to the caller, or specific versions selected in "Show versions"."""
    return "delete" if keeps_versions else EMPTY_CONFIRMATION


@routes.post("/s3/buckets/{bucket}/delete-objects/confirm")
async def delete_objects(page: Page) -> Response:
    bucket, prefix, selected = page.param("bucket"), page.encoded_field("prefix"), page.encoded_fields("selected")
    versions = _selected_versions(page)
    keeps = not versions and await versioning(page.caller, bucket) == "Enabled"
    words = _words(keeps)
    context = {"bucket": bucket, "prefix": prefix, "selected": selected, "versions": versions, "versioned": keeps,
               "words": words, "crumbs": breadcrumbs(bucket, prefix)}
    if page.field("confirm").strip() != words:
        return page.render("s3/delete_objects.html", status=400, failed=[],
                           problem=f"To confirm deletion, type {words}.", **context)
    keys: list[tuple[str, str | None]] = list(versions)
    for item in selected:
        keys += await keys_under(page.caller, bucket, item) if item.endswith("/") else [(item, None)]
    unique = sorted(set(keys), key=lambda entry: (entry[0], entry[1] or ""))
    failed = await delete_keys(page.caller, bucket, unique)
    if failed:
        return page.render("s3/delete_objects.html", status=403, failed=failed, problem=None, **context)
    count = len(unique)  # a folder's objects counted each, as AWS's console counts them
    what = "object version" if versions else "object"
    return page.redirect(bucket_url(bucket, prefix=prefix, versions="1" if versions else ""),
                         flash=f"Successfully deleted {count} {what}{'s' if count != 1 else ''}.")


# -- an object: details, download, share -------------------------------------------------------------------------


def _version_query(version_id: str) -> str:
    return urlencode({"versionId": version_id}) if version_id else ""


async def head(page: Page, bucket: str, key: str, version_id: str = "") -> dict[str, Any]:
    """HeadObject with ``x-amz-checksum-mode: ENABLED``: the object's (or one version's) properties, metadata and
    checksums."""
    response = await page.caller.s3("HEAD", object_path(bucket, key), _version_query(version_id),
                                    headers={"x-amz-checksum-mode": "ENABLED"})
    headers = {k.lower(): v for k, v in response.headers}
    return {
        "version_id": headers.get("x-amz-version-id", ""),
        "size": int(headers.get("content-length", "0")), "etag": headers.get("etag", ""),
        "modified": shown_time(headers.get("last-modified", "")), "type": headers.get("content-type", ""),
        "storage_class": headers.get("x-amz-storage-class", "STANDARD"),
        "metadata": sorted((k[len("x-amz-meta-"):], v) for k, v in headers.items() if k.startswith("x-amz-meta-")),
        "system": sorted((k, v) for k, v in headers.items() if k in (
            "cache-control", "content-disposition", "content-encoding", "content-language", "expires")),
        "checksums": sorted((k[len("x-amz-checksum-"):].upper(), v) for k, v in headers.items()
                            if k.startswith("x-amz-checksum-") and k != "x-amz-checksum-type"),
        "checksum_type": headers.get("x-amz-checksum-type", ""),
    }


@routes.get("/s3/buckets/{bucket}/object")
async def object_page(page: Page) -> Response:
    bucket, key, version_id = page.param("bucket"), _key(page.field("key")), page.field("versionId")
    details = await head(page, bucket, key, version_id)
    return _object_page(page, bucket, key, details, version_id)


def _key(key: str) -> str:
    """An object page's key: an empty one names no object (S3 would answer the bucket's listing for it)."""
    if not key:
        raise ServiceError("NoSuchKey", "The specified key does not exist.", 404)
    return key


def _object_page(page: Page, bucket: str, key: str, details: dict[str, Any], version_id: str = "",
                 status: int = 200, share_problem: str | None = None) -> Response:
    return page.render("s3/object.html", status=status, bucket=bucket, key=key, name=key.rpartition("/")[2] or key,
                       details=details, crumbs=breadcrumbs(bucket, key), size=size, sub_url=sub_url,
                       version_id=version_id, min_minutes=MIN_EXPIRES // 60, max_hours=MAX_EXPIRES // 3600,
                       share_problem=share_problem)


@routes.get("/s3/buckets/{bucket}/download")
async def download(page: Page) -> Response:
    """GetObject, streamed to the browser as it comes (constant memory, whatever the size).  Always an
    attachment of type application/octet-stream in a sandbox: an object is never rendered in the console's
    origin (an uploaded HTML page must not run as the console)."""
    bucket, key = page.param("bucket"), _key(page.field("key"))
    response = await page.caller.s3("GET", object_path(bucket, key), _version_query(page.field("versionId")))
    headers = {k.lower(): v for k, v in response.headers}
    name = key.rpartition("/")[2] or "download"
    out = {"content-disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
           "content-security-policy": "sandbox", "x-content-type-options": "nosniff"}
    if "content-length" in headers:
        out["content-length"] = headers["content-length"]
    if "etag" in headers:
        out["etag"] = headers["etag"]
    body = response.body if not isinstance(response.body, bytes) else _once(response.body)
    return StreamingResponse(body, media_type="application/octet-stream", headers=out)


async def _once(data: bytes) -> Any:
    yield data


def _endpoint(page: Page) -> str:
    """The S3 endpoint a share link names: the API's listen address, or, when it listens on every address,
    the host the browser reached the console by (the same machine)."""
    settings = page.services.settings
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = page.request.url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if TlsFiles.from_env() is not None else "http"  # the API listener's, not the console's
    return f"{scheme}://{host}:{settings.port}"


@routes.post("/s3/buckets/{bucket}/share")
async def share(page: Page) -> Response:
    """"Share with a presigned URL": checked first with HeadObject as the principal (the object exists and the
    principal may read it now), then signed with share credentials minted for this principal and this URL."""
    bucket, key = page.param("bucket"), _key(page.encoded_field("key"))
    unit = 3600 if page.field("unit") == "hours" else 60
    amount = page.field("amount")
    seconds = (parse_int(amount, signed=False) or 0) * unit  # "²" is a digit to isdigit() only (a 500)
    details = await head(page, bucket, key)
    if not MIN_EXPIRES <= seconds <= MAX_EXPIRES:
        return _object_page(page, bucket, key, details, status=400,
                            share_problem="The time interval must be between 1 minute and 12 hours.")
    assert page.session is not None and page.principal is not None
    session = page.session
    grant = Grant("root" if page.principal.is_root else "user", session.principal_id, session.auth_time,
                  session.mfa, 0)
    # signed for the bucket's own region: S3 refuses a presigned URL scoped to another (the HeadObject above
    # found the bucket, as the principal)
    found = await page.services.meta.get_bucket(bucket)
    region = found.region if found is not None else page.services.settings.region
    url = page.services.shares.presign_get(_endpoint(page), bucket, key, region, seconds, grant)
    return page.render("s3/shared.html", bucket=bucket, key=key, url=url, expires=time.time() + seconds,
                       seconds=seconds, crumbs=breadcrumbs(bucket, key), sub_url=sub_url)
