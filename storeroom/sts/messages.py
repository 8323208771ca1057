"""Encoded authorization messages and DecodeAuthorizationMessage.

AWS encodes the details of some refusals, "because the details of the authorization status can contain
privileged information that the user who requested the operation should not see"; whoever may
``sts:DecodeAuthorizationMessage`` reads them
(https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html).

Storeroom's S3 and IAM refusals already say why in plain words (the reason sentence of AWS's AccessDenied).  The
refusal whose reason the caller cannot be told is a role's trust policy's — which statement, which condition
(a missing ``sts:ExternalId``, no MFA) kept them out belongs to the role's owner — so STS's AssumeRole refusals end
with ``Encoded authorization failure message: …`` as AWS's EC2 messages do, and DecodeAuthorizationMessage gives
the owner AWS's document: ``allowed``, ``explicitDeny``, ``matchedStatements``, ``failures`` and ``context``
(principal, action, resource, condition keys).  The message is sealed (AES-256-GCM, master key): only this
Storeroom can read it, and nobody can forge one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag

from storeroom.crypto import SecretBox
from storeroom.errors import AwsError
from storeroom.identity import Principal
from storeroom.sts import Handler, Result, StsCall

HANDLERS: dict[str, Handler] = {}
_PURPOSE = "storeroom authorization message v1"


class Messages:
    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def encode(self, principal: Principal, action: str, resource: str, explicit_deny: bool,
               matched: Sequence[Mapping[str, Any]], conditions: Mapping[str, Sequence[str]]) -> str:
        document = {
            "allowed": False, "explicitDeny": explicit_deny,
            "matchedStatements": {"items": list(matched)}, "failures": {"items": []},
            "context": {"principal": {"id": principal.principal_id, "arn": principal.arn}, "action": action,
                        "resource": resource,
                        "conditions": {"items": [{"key": key, "values": {"items": [{"value": v} for v in values]}}
                                                 for key, values in sorted(conditions.items())]}},
        }
        sealed = self.box.seal(json.dumps(document, separators=(",", ":")), _PURPOSE)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def decode(self, encoded: str) -> str:
        try:
            return self.box.open(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)), _PURPOSE)
        except (ValueError, binascii.Error, InvalidTag, UnicodeError):
            raise AwsError("InvalidAuthorizationMessageException", "The message could not be decoded.", 400) \
                from None


def with_encoded(error: AwsError, encoded: str) -> AwsError:
    error.message = f"{error.message}. Encoded authorization failure message: {encoded}"
    return error


async def decode_authorization_message(call: StsCall) -> Result:
    """Needs ``sts:DecodeAuthorizationMessage`` (resource ``*``)."""
    verdict = await call.sts.authorizer.check(call.ctx, "sts:DecodeAuthorizationMessage", "*")
    if not verdict.allowed:
        raise AwsError("AccessDenied", f"User: {call.ctx.principal.arn} is not authorized to perform: "
                       f"sts:DecodeAuthorizationMessage on resource: * {verdict.reason}".rstrip(), 403)
    return {"DecodedMessage": call.sts.messages.decode(call.params["EncodedMessage"])}


HANDLERS["DecodeAuthorizationMessage"] = decode_authorization_message


async def get_access_key_info(call: StsCall) -> Result:
    """The account of an access key id.  AWS decodes any key's account from its id; Storeroom has one account,
    and answers it for its own keys — long-term ones it stores, temporary ones (``ASIA…``) — and
    ``InvalidParameterValue`` for ids it never issued (a deviation: AWS answers every well-formed id)."""
    verdict = await call.sts.authorizer.check(call.ctx, "sts:GetAccessKeyInfo", "*")
    if not verdict.allowed:
        raise AwsError("AccessDenied", f"User: {call.ctx.principal.arn} is not authorized to perform: "
                       f"sts:GetAccessKeyInfo on resource: * {verdict.reason}".rstrip(), 403)
    key_id: str = call.params["AccessKeyId"]
    if not key_id.startswith("ASIA") and await call.sts.meta.get_access_key(key_id) is None:
        raise AwsError("InvalidParameterValue", f"The access key ID {key_id} was not issued by this Storeroom.",
                       400)
    return {"Account": call.account_id}


HANDLERS["GetAccessKeyInfo"] = get_access_key_info
