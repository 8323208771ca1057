"""The AWS Query protocol (IAM, STS), driven by botocore's service models.

Requests are ``Action=CreateUser&UserName=alice&Tags.member.1.Key=team…`` forms; :func:`parse_params` turns one
into the operation's input structure (lists, structures, ints, bools) and checks it against the model's
constraints (required members, lengths, patterns, enums, ranges), answering ``ValidationError`` in AWS's words.
Responses are ``<CreateUserResponse><CreateUserResult>…</CreateUserResult><ResponseMetadata>…`` documents;
:func:`render_result` serializes a handler's plain ``dict`` through the output shape, so member order, list
wrappers and timestamp formats are the model's.
"""

from __future__ import annotations

import datetime
import re
from functools import cache
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from storeroom.errors import AwsError
from storeroom.http.types import Response


@cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def namespace(service: str) -> str:
    return str(service_model(service).metadata["xmlNamespace"])


def operation(service: str, params: dict[str, str]) -> OperationModel:
    """The operation named by ``Action``, or InvalidAction as AWS answers it."""
    action = params.get("Action", "")
    model = service_model(service)
    if action not in model.operation_names:
        raise AwsError("InvalidAction", f"Could not find operation {action} for version "
                       f"{model.api_version}", 400)
    return model.operation_model(action)


def form_params(body: bytes, query: dict[str, str]) -> dict[str, str]:
    """The request's parameters: form body and query string (botocore sends them in the body)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise AwsError("MalformedQueryString", "The query string contains invalid UTF-8.", 400) from None
    return dict(pairs) | query


# -- input ---------------------------------------------------------------------------------------------------


def parse_params(op: OperationModel, flat: dict[str, str]) -> dict[str, Any]:
    if op.input_shape is None:
        return {}
    errors: list[str] = []
    value = _parse_structure(op.input_shape, flat, "", errors)
    if errors:
        raise AwsError("ValidationError", f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} "
                       f"detected: " + "; ".join(errors), 400)
    return value


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _parse_structure(shape: Shape, flat: dict[str, str], prefix: str, errors: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = prefix + name
        value = _parse_value(member, flat, key, errors)
        if value is None:
            if name in shape.required_members:
                errors.append(f"Value null at '{_camel(name)}' failed to satisfy constraint: Member must not "
                              f"be null")
            continue
        out[name] = value
    return out


def _parse_value(shape: Shape, flat: dict[str, str], key: str, errors: list[str]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not any(k.startswith(key + ".") for k in flat):
            return None
        return _parse_structure(shape, flat, key + ".", errors)
    if kind == "list":
        member_prefix = f"{key}.member."
        indexes = sorted({int(m.group(1)) for k in flat if k.startswith(member_prefix)
                          and (m := re.match(r"(\d+)", k[len(member_prefix):]))})
        if not indexes:
            return [] if flat.get(key) == "" else None
        items = [_parse_value(shape.member, flat, f"{member_prefix}{i}", errors) for i in indexes]
        _check_length(shape, items, key, errors)
        return [i for i in items if i is not None]
    raw = flat.get(key)
    if raw is None:
        return None
    name = _camel(key.rpartition(".")[2]) if not key.rpartition(".")[2].isdigit() else _camel(key)
    if kind in ("integer", "long"):
        try:
            number = int(raw)
        except ValueError:
            errors.append(f"Value '{raw}' at '{name}' failed to satisfy constraint: Member must be a number")
            return None
        _check_range(shape, number, name, errors)
        return number
    if kind == "boolean":
        return raw.lower() == "true"
    if kind == "timestamp":
        return raw
    _check_string(shape, raw, name, errors)
    return raw


def _check_length(shape: Shape, value: Any, name: str, errors: list[str]) -> None:
    meta = shape.metadata
    if "min" in meta and len(value) < meta["min"]:
        errors.append(f"Value '{_show(value)}' at '{_camel(name)}' failed to satisfy constraint: Member must have "
                      f"length greater than or equal to {meta['min']}")
    if "max" in meta and len(value) > meta["max"]:
        errors.append(f"Value '{_show(value)}' at '{_camel(name)}' failed to satisfy constraint: Member must have "
                      f"length less than or equal to {meta['max']}")


def _check_range(shape: Shape, value: int, name: str, errors: list[str]) -> None:
    meta = shape.metadata
    if "min" in meta and value < meta["min"]:
        errors.append(f"Value '{value}' at '{name}' failed to satisfy constraint: Member must have value greater "
                      f"than or equal to {meta['min']}")
    if "max" in meta and value > meta["max"]:
        errors.append(f"Value '{value}' at '{name}' failed to satisfy constraint: Member must have value less "
                      f"than or equal to {meta['max']}")


def _check_string(shape: Shape, value: str, name: str, errors: list[str]) -> None:
    _check_length(shape, value, name, errors)
    pattern = _compiled(shape.metadata.get("pattern"))
    if pattern is not None and value and not pattern.fullmatch(value):
        errors.append(f"Value '{value}' at '{name}' failed to satisfy constraint: Member must satisfy regular "
                      f"expression pattern: {shape.metadata['pattern']}")
    enum = shape.enum
    if enum and value not in enum:
        errors.append(f"Value '{value}' at '{name}' failed to satisfy constraint: Member must satisfy enum value "
                      f"set: [{', '.join(enum)}]")


@cache
def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _show(value: Any) -> str:
    return value if isinstance(value, str) else "[" + ", ".join(map(str, value)) + "]"


# -- output --------------------------------------------------------------------------------------------------


def timestamp(epoch: float) -> str:
    """ISO 8601 as IAM writes it: ``2026-11-28T20:50:00Z``."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        out.append(timestamp(value) if isinstance(value, int | float) else escape(str(value)))
    else:
        out.append(escape(str(value)))


def render_error(service: str, err: AwsError, request_id: str) -> Response:
    kind = "Receiver" if err.status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{namespace(service)}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return Response(err.status, [("content-type", "text/xml")], body, error_code=err.code)
