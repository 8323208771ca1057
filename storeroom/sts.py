"""STS on the shared endpoint: GetCallerIdentity (who am I?), the guide's "test the credentials" step.

Other STS actions (AssumeRole, GetSessionToken, …) need roles or session credentials, which Storeroom does not
have yet: they answer 501 NotImplemented.
"""

from __future__ import annotations

from storeroom import query
from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Response


async def handle(ctx: Context) -> Response:
    request = ctx.request
    params = await query.request_params(ctx)
    op = query.operation("sts", params)
    ctx.operation = op.name
    ctx.audit = (op, query.parse_params(op, params), None)
    if op.name != "GetCallerIdentity":
        raise AwsError("NotImplemented", f"The {op.name} action is not implemented by Storeroom.", 501)
    # No permission is needed to call GetCallerIdentity, even under an explicit deny (as in AWS).
    principal = ctx.principal
    user_id = principal.principal_id
    result = {"UserId": user_id, "Account": principal.account_id, "Arn": principal.arn}
    return query.render_result("sts", op, result, request.request_id)
