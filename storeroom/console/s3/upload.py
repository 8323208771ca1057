""""Upload": the page (files or drag and drop, a progress bar: static/s3.js) and the endpoints its script sends
the bytes to.

The browser never talks to the S3 API and never holds credentials: it sends each file (or each part of a large
file) to the console, same origin (CSP ``connect-src 'self'``), with the session cookie and the CSRF token in a
header, and the console streams the body on, as it arrives, to the S3 service as the signed-in principal
(PutObject; or CreateMultipartUpload, UploadPart per part, CompleteMultipartUpload), in constant memory.  Why not
presigned URLs the browser would use against the S3 endpoint directly: see docs/console.md, "Uploads".
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from storeroom.console.s3.common import body_of, breadcrumbs, object_path, parse, s3_xml, text
from storeroom.console.services import ServiceError
from storeroom.console.web import Page, Routes

routes = Routes()
MAX_COMPLETE_BODY = 1 << 20        # the list of parts: 10,000 × ~60 bytes at most


@routes.get("/s3/buckets/{bucket}/upload")
async def upload_page(page: Page) -> Response:
    bucket, prefix = page.param("bucket"), page.field("prefix")
    return page.render("s3/upload.html", bucket=bucket, prefix=prefix, crumbs=breadcrumbs(bucket, prefix))


def _refused(err: ServiceError) -> Response:
    """AWS's error for the script to show; an AccessDenied with its explanation."""
    denial: dict[str, Any] | None = None
    if err.denial is not None:
        d = err.denial
        denial = {"action": d.action, "resource": d.resource, "decision": d.decision, "reason": d.reason,
                  "statements": [s.text for s in d.statements]}
    status = 403 if err.denial is not None else err.status if 400 <= err.status < 600 else 400
    return JSONResponse({"code": err.code, "message": err.message, "denial": denial}, status_code=status)


def _bad(message: str, status: int = 400) -> Response:
    return JSONResponse({"code": "InvalidRequest", "message": message, "denial": None}, status_code=status)


def _length(page: Page) -> str | None:
    length = page.request.headers.get("content-length", "")
    return length if length.isdigit() else None


def _content_type(page: Page) -> str:
    return page.request.headers.get("x-file-type") or "application/octet-stream"


@routes.post("/s3/buckets/{bucket}/upload/put", stream=True)
async def put(page: Page) -> Response:
    """PutObject, the request's body streamed on as it arrives."""
    bucket, key, length = page.param("bucket"), page.request.query_params.get("key", ""), _length(page)
    if not key:
        return _bad("A key is required.")
    if length is None:
        return _bad("The upload needs a Content-Length.", 411)
    try:
        response = await page.caller.s3("PUT", object_path(bucket, key), body=page.request.stream(),
                                        headers={"content-length": length, "content-type": _content_type(page)})
    except ServiceError as err:
        return _refused(err)
    except ClientDisconnect:          # the browser went away mid-file: nothing was stored, nobody to answer
        return _bad("The upload was interrupted.")
    return JSONResponse({"etag": dict(response.headers).get("etag", "")})


@routes.post("/s3/buckets/{bucket}/upload/start", stream=True)
async def start(page: Page) -> Response:
    """CreateMultipartUpload, for a file the script sends in parts."""
    bucket, key = page.param("bucket"), page.request.query_params.get("key", "")
    if not key:
        return _bad("A key is required.")
    try:
        root = await s3_xml(page.caller, "POST", object_path(bucket, key), "uploads",
                            headers={"content-type": _content_type(page)})
    except ServiceError as err:
        return _refused(err)
    return JSONResponse({"uploadId": text(root, "UploadId")})


@routes.post("/s3/buckets/{bucket}/upload/part", stream=True)
async def part(page: Page) -> Response:
    """UploadPart: one part's bytes streamed on as they arrive."""
    params = page.request.query_params
    bucket, key, length = page.param("bucket"), params.get("key", ""), _length(page)
    upload_id, number = params.get("uploadId", ""), params.get("partNumber", "")
    if not key or not upload_id or not number.isdigit():
        return _bad("key, uploadId and partNumber are required.")
    if length is None:
        return _bad("The part needs a Content-Length.", 411)
    try:
        response = await page.caller.s3("PUT", object_path(bucket, key),
                                        urlencode({"partNumber": number, "uploadId": upload_id}),
                                        body=page.request.stream(), headers={"content-length": length})
    except ServiceError as err:
        return _refused(err)
    except ClientDisconnect:
        return _bad("The upload was interrupted.")
    return JSONResponse({"etag": dict(response.headers).get("etag", "")})


@routes.post("/s3/buckets/{bucket}/upload/complete", stream=True)
async def complete(page: Page) -> Response:
    """CompleteMultipartUpload with the parts the script sent: ``[{"PartNumber": 1, "ETag": "…"}, …]``."""
    params = page.request.query_params
    bucket, key, upload_id = page.param("bucket"), params.get("key", ""), params.get("uploadId", "")
    try:
        raw = b""
        async for chunk in page.request.stream():
            raw += chunk
            if len(raw) > MAX_COMPLETE_BODY:
                return _bad("Too many parts.", 413)
        parts = json.loads(raw)
        xml_parts = "".join(f"<Part><PartNumber>{int(p['PartNumber'])}</PartNumber><ETag>{escape(str(p['ETag']))}"
                            "</ETag></Part>" for p in parts)
        xml_parts.encode()  # an ETag of "\ud800" (JSON spells it) is no text
    # RecursionError: a list nested thousands deep; OverflowError: a part number of Infinity or 1e400 (500s before)
    except (ValueError, TypeError, KeyError, RecursionError, OverflowError, UnicodeEncodeError):
        return _bad("The list of parts could not be read.")
    try:
        response = await page.caller.s3(
            "POST", object_path(bucket, key), urlencode({"uploadId": upload_id}),
            body=f"<CompleteMultipartUpload>{xml_parts}</CompleteMultipartUpload>".encode(),
            headers={"content-type": "application/xml"})
        root = parse(await body_of(response))
    except ServiceError as err:
        return _refused(err)
    if root.tag == "Error":         # S3 may answer 200 and report the failure in the body
        return _refused(ServiceError(text(root, "Code"), text(root, "Message"), 400))
    return JSONResponse({"etag": text(root, "ETag")})


@routes.post("/s3/buckets/{bucket}/upload/abort", stream=True)
async def abort(page: Page) -> Response:
    params = page.request.query_params
    bucket, key, upload_id = page.param("bucket"), params.get("key", ""), params.get("uploadId", "")
    try:
        await page.caller.s3("DELETE", object_path(bucket, key), urlencode({"uploadId": upload_id}))
    except ServiceError as err:
        return _refused(err)
    return JSONResponse({})
