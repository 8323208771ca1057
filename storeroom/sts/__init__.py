"""STS on the shared endpoint (Query protocol, botocore's model): who am I, and temporary credentials.

- ``GetCallerIdentity`` for every kind of caller; ``GetAccessKeyInfo``; ``DecodeAuthorizationMessage``
  (storeroom/sts/messages.py);
- ``AssumeRole`` and ``GetSessionToken`` (storeroom/sts/assume.py): trust policies, session policies, session
  tags, ExternalId, MFA, SourceIdentity, role chaining;
- ``AssumeRoleWithWebIdentity`` (storeroom/sts/web_identity.py): a JWT from a registered OpenID Connect
  provider, unsigned like on AWS;
- ``AssumeRoleWithSAML``, ``GetFederationToken``, ``AssumeRoot``, ``GetDelegatedAccessToken`` and
  ``GetWebIdentityToken`` answer 501 NotImplemented.

The credentials are storeroom/sessions.py's: self-contained tokens, checked at the edge (storeroom/http/app.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storeroom import query
from storeroom.crypto import SecretBox
from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Response
from storeroom.sessions import SessionTokens
from storeroom.store.meta import MetaStore

if TYPE_CHECKING:
    from botocore.model import OperationModel

    from storeroom.authz import Authorizer
    from storeroom.sts.web_identity import WebIdentity

Result = dict[str, Any]


# The actions AWS takes without a signature: the web identity's or SAML assertion's token is the credential.
UNSIGNED_ACTIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})

@dataclass(slots=True)
class StsCall:
    ctx: Context
    op: OperationModel
    params: dict[str, Any]
    sts: StsService

    @property
    def account_id(self) -> str:
        return self.sts.account_id


Handler = Callable[[StsCall], Awaitable[Result]]


class StsService:
    def __init__(self, meta: MetaStore, account_id: str, authorizer: Authorizer, box: SecretBox,
                 tokens: SessionTokens, region: str) -> None:
        from storeroom.sts import assume, messages, web_identity  # they import this module

        self.meta, self.account_id, self.authorizer, self.box = meta, account_id, authorizer, box
        self.tokens, self.region = tokens, region
        self.web_identity: WebIdentity = web_identity.WebIdentity()
        self.messages = messages.Messages(box)
        self.handlers: dict[str, Handler] = {"GetCallerIdentity": get_caller_identity, **assume.HANDLERS,
                                             **messages.HANDLERS, **web_identity.HANDLERS}

    async def handle(self, ctx: Context) -> Response:
        from storeroom.sts.assume import session_may_call

        params = await query.request_params(ctx)
        op = query.operation("sts", params)
        ctx.operation = op.name
        ctx.audit = (op, None, None)
        parsed = query.parse_params(op, params)
        ctx.audit = (op, parsed, None)
        if ctx.principal.is_anonymous and op.name not in UNSIGNED_ACTIONS:
            raise AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
        session_may_call(ctx.principal, "sts", op.name)
        handler = self.handlers.get(op.name)
        if handler is None:
            raise AwsError("NotImplemented", f"The {op.name} action is not implemented by Storeroom.", 501)
        result = await handler(StsCall(ctx, op, parsed, self))
        ctx.audit = (op, parsed, result)
        return query.render_result("sts", op, result, ctx.request.request_id)

    async def close(self) -> None:
        await self.web_identity.close()


async def get_caller_identity(call: StsCall) -> Result:
    """No permission is needed to call GetCallerIdentity, even under an explicit deny (as in AWS).  A role
    session's UserId is ``AROA…:<session name>`` and its Arn the assumed-role ARN."""
    principal = call.ctx.principal
    return {"UserId": principal.principal_id, "Account": principal.account_id, "Arn": principal.arn}
