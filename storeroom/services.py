"""Services that share the endpoint but are not built yet: an AWS-shaped error, never a 500.

IAM and STS speak the AWS Query protocol (``Action=…`` form bodies, XML ``<ErrorResponse>``); CloudTrail speaks
JSON 1.1 (``X-Amz-Target``).  Until their handlers exist they answer as AWS answers an unknown action.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

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


# The same failures, in the words of the Query and JSON services (IAM, STS, CloudTrail).
_QUERY_EQUIVALENTS = {
    "InvalidAccessKeyId": ("InvalidClientTokenId", "The security token included in the request is invalid."),
    "SignatureDoesNotMatch": (
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details.",
    ),
}


def in_service_words(err: AwsError) -> AwsError:
    if err.code in _QUERY_EQUIVALENTS:
        code, message = _QUERY_EQUIVALENTS[err.code]
        return AwsError(code, message, err.status)
    return err


def render_query_error(err: AwsError, request: Request) -> Response:
    err = in_service_words(err)
    kind = "Receiver" if err.status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{kind}</Type>'
        f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message></Error>"
        f"<RequestId>{request.request_id}</RequestId></ErrorResponse>"
    ).encode()
    return Response(err.status, [("content-type", "text/xml")], body, error_code=err.code)


def render_json_error(err: AwsError, request: Request) -> Response:
    """JSON 1.1 protocol errors (CloudTrail): ``{"__type": code, "message": …}``."""
    err = in_service_words(err)
    body = json.dumps({"__type": err.code, "message": err.message}).encode()
    return Response(err.status, [("content-type", "application/x-amz-json-1.1")], body, error_code=err.code)
