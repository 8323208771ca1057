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

_JSON_SERVICES = {"cloudtrail"}


async def unsupported_service(context: Context) -> Response:
    request = context.request
    if context.service in _JSON_SERVICES:
        target = request.headers.get("x-amz-target", "")
        raise AwsError("UnknownOperationException", f"{target.rpartition('.')[2] or 'Operation'} is not "
                       f"supported by this Storeroom version", 400, protocol="json")
    body = await request.read_body(1 << 20) if request.method == "POST" else b""
    params = dict(parse_qsl(body.decode("utf-8", "replace"))) | request.args
    action = params.get("Action", "")
    raise AwsError("InvalidAction", f"The action {action or '(none)'} is not valid for this web service.",
                   400)


def render_query_error(err: AwsError, request: Request) -> Response:
    if err.extra.get("protocol") == "json":
        body = json.dumps({"__type": err.code, "message": err.message}).encode()
        return Response(err.status, [("content-type", "application/x-amz-json-1.1")], body,
                        error_code=err.code)
    kind = "Receiver" if err.status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{kind}</Type>'
        f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message></Error>"
        f"<RequestId>{request.request_id}</RequestId></ErrorResponse>"
    ).encode()
    return Response(err.status, [("content-type", "text/xml")], body, error_code=err.code)
