"""The IAM API: Query-protocol requests on the shared endpoint → the action's handler → XML response.

A handler is ``async def handler(call: IamCall) -> dict | None``: it reads ``call.params`` (already parsed and
validated against botocore's input shape), authorizes with ``call.require(resource_arn)`` (every handler must:
the IAM API is itself subject to IAM policies), does its work (``await call.write(job)`` for changes, which
also tells every worker's caches that IAM state changed) and returns the output shape's members as a plain
dict, which :mod:`storeroom.query` serializes (epoch floats become ISO 8601 timestamps).

Handlers are registered in ``HANDLERS`` of ``storeroom/iam/users.py`` (users, access keys, groups, account
summary), ``storeroom/iam/policies.py`` (managed and inline policies, attachments, boundaries, simulator,
authorization details), ``storeroom/iam/logins.py`` (console passwords, password policy, account alias),
``storeroom/iam/mfa.py`` (virtual MFA devices), ``storeroom/iam/credential_report.py`` (the credential report),
``storeroom/iam/roles.py`` (roles, instance profiles) and ``storeroom/iam/oidc.py`` (OpenID Connect providers).
Actions of the model without a handler answer 501 NotImplemented.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from storeroom import query
from storeroom.crypto import SecretBox
from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Response
from storeroom.identity import Principal
from storeroom.policy.tags import request_tag_keys
from storeroom.store import generation
from storeroom.store.meta import MetaStore
from storeroom.store.sql import Conn, Job

if TYPE_CHECKING:
    from botocore.model import OperationModel

    from storeroom.authz import Authorizer

T = TypeVar("T")
Handler = Callable[["IamCall"], Awaitable[dict[str, Any] | None]]

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


# PermissionsBoundaryType as AWS writes it: botocore's enum says PermissionsBoundaryPolicy, AWS's answers say
# Policy (LocalStack's AWS-recorded get-role-with-boundary; the AWS CLI's put-user-permissions-boundary example)
BOUNDARY_TYPE = "Policy"


def new_id(prefix: str) -> str:
    """IAM unique ids: a 4-letter type prefix (AIDA user, AGPA group, ANPA policy, AROA role, AIPA instance
    profile) + 17 characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def _worded(resource: str, action: str) -> str:
    """A user, group or role as IAM's refusals name it, "user alice" (AWS's answers: "... is not authorized to
    perform: iam:CreateUser on resource: user bob because ..."); other resources by their ARN, and the role of
    iam:PassRole too (the refusals that action gets name the role's ARN)."""
    if action == "iam:PassRole":
        return resource
    parts = resource.split(":", 5)
    kind, slash, rest = parts[-1].partition("/")
    if len(parts) == 6 and parts[2] == "iam" and kind in ("user", "group", "role") and slash and rest:
        return f"{kind} {rest.rsplit('/', 1)[-1]}"
    return resource


@dataclass(slots=True)
class IamCall:
    ctx: Context
    op: OperationModel
    params: dict[str, Any]
    iam: IamService
    authorized: bool = field(default=False)

    @property
    def action(self) -> str:
        return str(self.op.name)

    @property
    def caller(self) -> Principal:
        return self.ctx.principal

    @property
    def meta(self) -> MetaStore:
        return self.iam.meta

    @property
    def db(self) -> Conn:
        """The metadata's reads (outside any transaction)."""
        return self.iam.meta.db.read

    @property
    def account_id(self) -> str:
        return self.iam.account_id

    def arn(self, kind: str, path: str, name: str) -> str:
        """``arn:aws:iam::<account>:<kind><path><name>``, e.g. kind "user", path "/", name "alice"."""
        return f"arn:aws:iam::{self.account_id}:{kind}{path}{name}"

    async def require(self, resource: str, action: str | None = None,
                      context: Mapping[str, Sequence[str]] | None = None, shown: str | None = None,
                      granted: bool = False) -> None:
        """AccessDenied unless the caller may perform ``iam:<Action>`` (or ``action``) on ``resource``; the
        message names ``shown`` instead when AWS words the resource otherwise (ListPolicies: "policy path /").
        ``granted``: IAM itself grants the action at the account level (the password policy's
        AllowUsersToChangePassword), so only an explicit deny refuses it."""
        action = action or f"iam:{self.op.name}"
        evaluation = await self.iam.authorizer.check(self.ctx, action, resource, context)
        if not evaluation.allowed and not (granted and evaluation.decision == "implicitDeny"):
            raise AwsError("AccessDenied", f"User: {self.caller.arn} is not authorized to perform: {action} on "
                           f"resource: {shown or _worded(resource, action)} {evaluation.reason}".rstrip(), 403)
        self.authorized = True

    async def require_creation(self, resource: str, tags: Sequence[tuple[str, str]], tag_action: str,
                               context: Mapping[str, Sequence[str]] | None = None) -> None:
        """A Create… that may carry tags: the action itself, judged with them as aws:RequestTag/aws:TagKeys (and
        ``context``), then, when there are tags, ``tag_action`` (iam:TagUser, …): creating a tagged entity takes
        both, as in AWS."""
        keys = {**(context or {}), **(request_tag_keys(tags) if tags else {})}
        await self.require(resource, context=keys or None)
        if tags:
            await self.require(resource, tag_action, request_tag_keys(tags))

    def user_caller(self) -> None:
        """Actions that default to the caller's own user (GetUser, ListAccessKeys… without ``UserName``) need a
        user: a role session's answer is AWS's ValidationError."""
        if self.caller.type != "IAMUser":
            raise AwsError("ValidationError", "Must specify userName when calling with non-User credentials", 400)

    async def write(self, job: Job[T]) -> T:
        """Run ``job`` in a durable transaction that invalidates every worker's (and node's) IAM caches."""
        if not self.authorized:  # a handler must authorize before it changes anything
            raise AwsError("InternalError", "We encountered an internal error. Please try again.", 500)
        return await self.meta.db.write(job, bump=(generation.IAM,))


class IamService:
    def __init__(self, meta: MetaStore, account_id: str, authorizer: Authorizer, box: SecretBox) -> None:
        self.meta = meta
        self.box = box  # seals new secret access keys: box.seal(secret, access_key_id)
        self.account_id = account_id
        self.authorizer = authorizer
        from storeroom.iam import (  # they import this module
            credential_report,
            logins,
            mfa,
            oidc,
            policies,
            roles,
            users,
        )
        self.handlers: dict[str, Handler] = {**users.HANDLERS, **policies.HANDLERS, **logins.HANDLERS,
                                             **mfa.HANDLERS, **credential_report.HANDLERS, **roles.HANDLERS,
                                             **oidc.HANDLERS}

    async def handle(self, ctx: Context) -> Response:
        op, result = await self.invoke(ctx, await query.request_params(ctx))
        return query.render_result("iam", op, result, ctx.request.request_id)

    async def invoke(self, ctx: Context, params: dict[str, str]) -> tuple[OperationModel, dict[str, Any] | None]:
        """One action from its Query-protocol parameters (``Action`` and the flat ``Name.member.N`` form):
        parsed and validated against the model, authorized and run by its handler; the output members as a
        plain dict.  The HTTP API (:meth:`handle`) and the console (storeroom/console/services.py) both call
        this."""
        op = query.operation("iam", params)
        ctx.operation = op.name
        handler = self.handlers.get(op.name)
        if handler is None:
            raise AwsError("NotImplemented", f"The {op.name} action is not implemented by Storeroom.", 501)
        call = IamCall(ctx, op, query.parse_params(op, params), self)
        ctx.audit = (op, call.params, None)  # the CloudTrail event's requestParameters (built off the path)
        result = await handler(call)
        ctx.audit = (op, call.params, result)
        if not call.authorized:  # a handler that forgot to authorize must not act silently
            raise AwsError("InternalError", "We encountered an internal error. Please try again.", 500)
        return op, result
