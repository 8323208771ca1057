"""Services that share the endpoint but are not built yet (CloudTrail, and any other service a client signs
for): an AWS-shaped error, never a 500.  Also the error words the Query and JSON services use for failures
found at the edge (an unknown key is ``InvalidClientTokenId`` there, ``InvalidAccessKeyId`` in S3).

CloudTrail speaks JSON 1.1 (``X-Amz-Target``); other services are answered in the Query protocol's shape.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Request, Response

JSON_SERVICES = {"cloudtrail"}


async def unsupported_service(context: Context) -> Response:
    request = context.request
    if context.service in JSON_SERVICES:
        target = request.headers.get("x-amz-target", "")
        raise AwsError("UnknownOperationException", f"{target.rpartition('.')[2] or 'Operation'} is not "
                       f"supported by this Storeroom version", 400)
    body = await request.read_body(1 << 20)
    params = dict(parse_qsl(body.decode("utf-8", "replace"))) | request.args
    action = params.get("Action", "")
    raise AwsError("InvalidAction", f"The action {action or '(none)'} is not valid for this web service.",
                   400)


async def s3express_service(context: Context) -> Response:
    """Requests signed for ``s3express`` (ListDirectoryBuckets, directory buckets' sessions): S3's own answer
    for what is not built, in S3's shape — not an IAM-shaped "action (none) is not valid"."""
    raise AwsError("NotImplemented", "S3 Express One Zone (directory buckets) is not implemented by Storeroom.",
                   501)


# The same failures, in the words of the Query and JSON services (IAM, STS, CloudTrail).
_QUERY_EQUIVALENTS = {
    "InvalidAccessKeyId": ("InvalidClientTokenId", "The security token included in the request is invalid."),
    "InvalidToken": ("InvalidClientTokenId", "The security token included in the request is invalid."),
    "ExpiredToken": ("ExpiredToken", "The security token included in the request is expired"),
    "SignatureDoesNotMatch": (
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details.",
    ),
}


def in_service_words(err: AwsError) -> AwsError:
    if err.code in _QUERY_EQUIVALENTS:
        code, message = _QUERY_EQUIVALENTS[err.code]
        return AwsError(code, message, 403 if code in ("InvalidClientTokenId", "ExpiredToken") else err.status)
    return err


# The JSON services' own codes for the same failures (prowler-cloud/prowler#1808, cloud-custodian#9216 quote
# "UnrecognizedClientException ... DescribeTrails" and "ExpiredTokenException" beside STS's "ExpiredToken").
_JSON_EQUIVALENTS = {
    "InvalidClientTokenId": "UnrecognizedClientException",
    "ExpiredToken": "ExpiredTokenException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "IncompleteSignature": "IncompleteSignatureException",
    "MissingAuthenticationToken": "MissingAuthenticationTokenException",
}


def render_json_error(err: AwsError, request: Request) -> Response:
    """JSON 1.1 protocol errors (CloudTrail): ``{"__type": code, "message": …}``."""
    err = in_service_words(err)
    if err.code in _JSON_EQUIVALENTS:
        err = AwsError(_JSON_EQUIVALENTS[err.code], err.message, err.status)
    body = json.dumps({"__type": err.code, "message": err.message}).encode()
    response = Response(err.status, [("content-type", "application/x-amz-json-1.1")], body, error_code=err.code)
    response.error_message = err.message  # the audit event's errorMessage: what the client was told
    return response
