"""The AWS Query protocol (IAM, STS), driven by botocore's service models.

Requests are ``Action=CreateUser&UserName=alice&Tags.member.1.Key=team…`` forms; :func:`parse_params` turns one
into the operation's input structure (lists, structures, ints, bools) and checks it against the model's
constraints (required members, lengths, patterns, enums, ranges), answering ``ValidationError`` in AWS's words.
Responses are ``<CreateUserResponse><CreateUserResult>…</CreateUserResult><ResponseMetadata>…`` documents;
:func:`render_result` serializes a handler's plain ``dict`` through the output shape, so member order, list
wrappers and timestamp formats are the model's.
"""

from __future__ import annotations

import base64
import datetime
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Response

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel, Shape


@cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of ``service``, read by its loader (what ``Session.get_service_model`` does, without
    importing the session and what it brings: ~0.1 s of every process's start).  botocore itself is imported
    here, at the first IAM, STS or CloudTrail request: another ~0.1 s that a process serving only S3 never pays."""
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    return ServiceModel(Loader().load_service_model(service, "service-2"), service_name=service)


def namespace(service: str) -> str:
    return str(service_model(service).metadata["xmlNamespace"])


def operation(service: str, params: dict[str, str]) -> OperationModel:
    """The operation named by ``Action``, or InvalidAction as AWS answers it."""
    action = params.get("Action", "")
    model = service_model(service)
    version = params.get("Version")
    if version != model.api_version:  # AWS resolves the operation by (Action, Version): another version has none
        raise AwsError("InvalidAction", f"Could not find operation {action} for version "
                       f"{'NO_VERSION_SPECIFIED' if version is None else version}", 400)
    if action not in model.operation_names:
        raise AwsError("InvalidAction", f"Could not find operation {action} for version "
                       f"{model.api_version}", 400)
    return model.operation_model(action)


MAX_FORM_BODY = 1 << 20  # Query-protocol requests are small forms


async def request_params(ctx: Context) -> dict[str, str]:
    """The parameters of a Query-protocol request: its form body and query string (AWS IAM also takes GET)."""
    return form_params(await signed_body(ctx), ctx.request.args)


async def signed_body(ctx: Context) -> bytes:
    """The request body: the edge has read it and verified the signature over its SHA-256 (http/app.py)."""
    try:
        return await ctx.request.read_body(MAX_FORM_BODY)
    except ValueError:
        raise AwsError("RequestEntityTooLarge", "Request body too large", 413) from None


def form_params(body: bytes, query: dict[str, str]) -> dict[str, str]:
    """Form body and query string together (botocore sends the body; a name in both: the query string's).  A
    name given twice in the form takes its first value, as AWS's Query services do."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise AwsError("MalformedQueryString", "The query string contains invalid UTF-8.", 400) from None
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params | query


# -- input ---------------------------------------------------------------------------------------------------

# IAM answers a name or path that breaks its pattern in its own words, not in the model's regular expression
# ("The specified value for userName is invalid. It must contain only …"), as AWS's CLI users have quoted it.
_NAME_PATTERN = r"[\w+=,.@-]+"
_PATH_PATTERNS = (r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", r"\u002F[\u0021-\u007F]*",
                  r"((/[A-Za-z0-9\.,\+@=_-]+)*)/")


def _iam_words(pattern: str, where: str) -> str | None:
    if pattern == _NAME_PATTERN:
        return "It must contain only alphanumeric characters and/or the following: +=,.@_-"
    if pattern not in _PATH_PATTERNS:
        return None
    if where.endswith("pathPrefix"):
        return "It must begin with the / character and contain only alphanumeric characters and/or / characters."
    return "It must begin and end with / and contain only alphanumeric characters and/or / characters."


_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


@dataclass(slots=True)
class _Node:
    """The flat ``Tags.member.1.Key`` names as a tree: one node per dotted part, walked along the shapes."""

    value: str | None = None
    children: dict[str, _Node] = field(default_factory=dict)


@dataclass(slots=True)
class _Errors:
    """Constraint violations in AWS's words (``Value 'x' at 'tags.1.member.key' failed to satisfy …``), and
    the first IAM-worded pattern failure, reported only when nothing else is wrong."""

    iam_words: bool
    found: list[str] = field(default_factory=list)
    worded: str | None = None

    def show(self, value: Any) -> str:
        """The value as the message quotes it: IAM names none (LocalStack's AWS recordings: "Value at 'tags'
        failed to satisfy constraint ..."), STS quotes it ("Value 'Session1:2' at 'roleSessionName' ...")."""
        if self.iam_words:
            return ""
        if isinstance(value, list):
            return " '[" + ", ".join(v if isinstance(v, str) else "..." for v in value) + "]'"
        return f" '{value}'"


def _tree(flat: dict[str, str]) -> _Node:
    root = _Node()
    for key, value in flat.items():
        node = root
        for part in key.split("."):
            node = node.children.setdefault(part, _Node())
        node.value = value
    return root


def parse_params(op: OperationModel, flat: dict[str, str]) -> dict[str, Any]:
    """The operation's input from the flat form, or ValidationError naming every violated constraint."""
    if op.input_shape is None:
        return {}
    errors = _Errors(iam_words=op.service_model.service_name == "iam")
    value = _parse_structure(op.input_shape, _tree(flat), "", errors)
    if errors.found:
        count = len(errors.found)
        raise AwsError("ValidationError", f"{count} validation error{'s' if count > 1 else ''} detected: "
                       + "; ".join(errors.found), 400)
    if errors.worded is not None:
        raise AwsError("ValidationError", errors.worded, 400)
    return value


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _parse_structure(shape: Shape, node: _Node, path: str, errors: _Errors) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        where = path + _camel(name)
        value = _parse_value(member, node.children.get(name), where, errors)
        if value is None:
            if name in shape.required_members:
                errors.found.append(f"Value null at '{where}' failed to satisfy constraint: Member must not be null")
            continue
        out[name] = value
    return out


def _parse_value(shape: Shape, node: _Node | None, where: str, errors: _Errors) -> Any:
    if node is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        return _parse_structure(shape, node, where + ".", errors) if node.children else None
    if kind == "list":
        return _parse_list(shape, node, where, errors)
    raw = node.value
    if raw is None:
        return None
    if kind in ("integer", "long"):
        return _parse_integer(shape, raw, where, errors)
    if kind == "boolean":
        return raw.lower() == "true"
    if kind == "timestamp":
        return raw
    _check_string(shape, raw, where, errors)
    return raw


def _parse_list(shape: Shape, node: _Node, where: str, errors: _Errors) -> list[Any] | None:
    """``Name.member.N…`` in the order of N (1, 2, …; other parts are not members); ``Name=`` is the empty list."""
    members = node.children.get("member")
    indexes = sorted(int(k) for k in members.children if _is_index(k)) if members else []
    if not indexes:
        return [] if node.value == "" else None
    assert members is not None
    items = [_parse_value(shape.member, members.children[str(i)], f"{where}.{n}.member", errors)
             for n, i in enumerate(indexes, 1)]
    _check_length(shape, items, where, errors)
    return [i for i in items if i is not None]


def _is_index(part: str) -> bool:
    """A list index as the Query protocol writes it: 1, 2, … (ASCII digits, no sign, no leading zero)."""
    return part.isascii() and part.isdigit() and part[0] != "0" and len(part) <= 9


def _parse_integer(shape: Shape, raw: str, where: str, errors: _Errors) -> int | None:
    if not _INTEGER.fullmatch(raw):
        errors.found.append(f"Value '{raw}' at '{where}' failed to satisfy constraint: Member must be a number")
        return None
    number = int(raw)
    _check_range(shape, number, where, errors)
    return number


def _check_length(shape: Shape, value: Any, where: str, errors: _Errors) -> None:
    meta = shape.metadata
    if "min" in meta and len(value) < meta["min"]:
        errors.found.append(f"Value{errors.show(value)} at '{where}' failed to satisfy constraint: Member must have "
                            f"length greater than or equal to {meta['min']}")
    if "max" in meta and len(value) > meta["max"]:
        errors.found.append(f"Value{errors.show(value)} at '{where}' failed to satisfy constraint: Member must have "
                            f"length less than or equal to {meta['max']}")


def _check_range(shape: Shape, value: int, where: str, errors: _Errors) -> None:
    meta = shape.metadata
    if "min" in meta and value < meta["min"]:
        errors.found.append(f"Value{errors.show(value)} at '{where}' failed to satisfy constraint: Member must have "
                            f"value greater than or equal to {meta['min']}")
    if "max" in meta and value > meta["max"]:
        errors.found.append(f"Value{errors.show(value)} at '{where}' failed to satisfy constraint: Member must have "
                            f"value less than or equal to {meta['max']}")


def _check_string(shape: Shape, value: str, where: str, errors: _Errors) -> None:
    _check_length(shape, value, where, errors)
    pattern = shape.metadata.get("pattern")
    if pattern and value and not _matcher(pattern)(value):
        words = _iam_words(pattern, where) if errors.iam_words else None
        if words is None:
            errors.found.append(f"Value{errors.show(value)} at '{where}' failed to satisfy constraint: Member must "
                                f"satisfy regular expression pattern: {pattern}")
        elif errors.worded is None:
            errors.worded = f"The specified value for {where} is invalid. {words}"
    enum = shape.enum
    if enum and value not in enum:
        errors.found.append(f"Value{errors.show(value)} at '{where}' failed to satisfy constraint: Member must "
                            f"satisfy enum value set: [{', '.join(enum)}]")


_UNICODE_CLASS = re.compile(r"\\p\{(\w)\}")


@cache
def _matcher(pattern: str) -> Callable[[str], bool]:
    """The model's patterns are Java regular expressions: ``\\w`` and ``\\d`` are ASCII, and the tag patterns'
    ``[\\p{L}\\p{Z}\\p{N}…]+`` name Unicode categories, which Python's ``re`` lacks: those are checked per
    character.  A pattern Python cannot read checks nothing."""
    categories = tuple(_UNICODE_CLASS.findall(pattern))
    try:
        if not categories:
            compiled = re.compile(pattern, re.DOTALL | re.ASCII)
            return lambda value: compiled.fullmatch(value) is not None
        others = re.compile(_UNICODE_CLASS.sub("", pattern).rstrip("*+"), re.DOTALL | re.ASCII)
    except re.error:
        return lambda value: True
    return lambda value: all(unicodedata.category(c)[0] in categories or others.fullmatch(c) for c in value)


# -- output --------------------------------------------------------------------------------------------------


def timestamp(epoch: float) -> str:
    """ISO 8601 as IAM writes it: ``2026-11-28T20:50:00Z``."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# What XML 1.0 cannot carry at all, not even as a character reference (control characters, lone surrogates)
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """``value`` escaped for an XML element; characters XML cannot carry become U+FFFD (a value echoed in an
    error message, a description stored with a control character must not make the whole answer unreadable)."""
    return escape(_NOT_XML.sub("\ufffd", value))


def render_result(service: str, op: OperationModel, result: dict[str, Any] | None, request_id: str) -> Response:
    name = op.name
    body = [f'<{name}Response xmlns="{namespace(service)}">']
    if op.output_shape is not None:
        wrapper = op.output_shape.serialization.get("resultWrapper", f"{name}Result")
        body.append(f"<{wrapper}>")
        _serialize_members(op.output_shape, result or {}, body)
        body.append(f"</{wrapper}>")
    body.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
    return Response(200, [("content-type", "text/xml")], "".join(body).encode())


def _serialize_members(shape: Shape, value: dict[str, Any], out: list[str]) -> None:
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None:
            continue
        tag = member.serialization.get("name", name)
        out.append(f"<{tag}>")
        _serialize(member, item, out)
        out.append(f"</{tag}>")


def _serialize(shape: Shape, value: Any, out: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _serialize_members(shape, value, out)
    elif kind == "list":
        for item in value:
            out.append("<member>")
            _serialize(shape.member, item, out)
            out.append("</member>")
    elif kind == "map":
        for k, v in value.items():
            out.append("<entry><key>")
            _serialize(shape.key, k, out)
            out.append("</key><value>")
            _serialize(shape.value, v, out)
            out.append("</value></entry>")
    elif kind == "boolean":
        out.append("true" if value else "false")
    elif kind == "timestamp":
        out.append(timestamp(value) if isinstance(value, int | float) else xml_text(str(value)))
    elif kind == "blob":  # the Query protocol carries blobs in base64 (credential report, MFA seed and QR code)
        out.append(base64.b64encode(value).decode() if isinstance(value, bytes) else xml_text(str(value)))
    else:
        out.append(xml_text(str(value)))


def render_error(service: str, err: AwsError, request_id: str) -> Response:
    kind = "Receiver" if err.status >= 500 else "Sender"
    # Some errors come without a message (GetCredentialReport's ReportNotPresent: "Unknown" in the AWS CLI)
    message = f"<Message>{xml_text(err.message)}</Message>" if err.message else ""
    body = (
        f'<ErrorResponse xmlns="{namespace(service)}"><Error><Type>{kind}</Type>'
        f"<Code>{xml_text(err.code)}</Code>{message}</Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    response = Response(err.status, [("content-type", "text/xml")], body, error_code=err.code)
    response.error_message = err.message  # the audit event's errorMessage: what the client was told
    return response
