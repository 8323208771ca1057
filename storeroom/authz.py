"""Authorization: may this caller perform this IAM action on this resource, and if not, why not?

Every request reaches here with the IAM action and resource ARN that AWS documents for its operation (S3:
``storeroom/s3/operations.py``; IAM: each handler).  The :class:`Authorizer` gathers what AWS evaluates:

- the caller's identity policies and permissions boundary, compiled once and cached per user (or role) until
  the IAM generation counter moves (any worker's IAM write bumps it, so the next request anywhere sees the
  change); for a role session also its session policies, cached per session;
- the resource policy (a bucket policy), when the service passes one;
- the request context: AWS global condition keys (``aws:username``, ``aws:SourceIp``, …) and the service's
  keys (``s3:prefix``, …),

and hands them to :func:`storeroom.policy.evaluate`, AWS's evaluation logic.  The account root is allowed
everything in its account except what a resource policy explicitly denies it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from storeroom.http.context import Context
from storeroom.iam.policy_store import compile_policy, find_policy, load_principal_policies, load_role_policies
from storeroom.identity import Principal
from storeroom.policy import AuthRequest, Evaluation, PolicySource, PrincipalPolicies, evaluate, parse_policy
from storeroom.store.generation import GenerationCache
from storeroom.store.meta import MetaStore

ALLOWED = Evaluation("allowed")
_NO_POLICIES = PrincipalPolicies(())

# aws:PrincipalType as AWS sets it
_PRINCIPAL_TYPES = {"Root": "Account", "IAMUser": "User", "Anonymous": "Anonymous", "AssumedRole": "AssumedRole"}
_DENY_ALL = PolicySource(parse_policy('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*",'
                                      '"Resource":"*"}]}', "managed"), "deny-all", "none")
# A session key: (access key id, role id, inline session policy, managed session policy ARNs)
SessionKey = tuple[str, str, str | None, tuple[str, ...]]


class Authorizer:
    def __init__(self, meta: MetaStore, account_id: str) -> None:
        self.meta = meta
        self.account_id = account_id
        self._policies: GenerationCache[str, PrincipalPolicies | None] = GenerationCache(
            meta.iam_generation, lambda user_id: load_principal_policies(meta.db.read, user_id))
        self._role_policies: GenerationCache[str, PrincipalPolicies | None] = GenerationCache(
            meta.iam_generation, lambda role_id: load_role_policies(meta.db.read, role_id))
        self._session_policies: GenerationCache[SessionKey, PrincipalPolicies] = GenerationCache(
            meta.iam_generation, self._load_session_policies)
        # a bucket policy goes with its bucket: a bucket deleted and made again must not inherit it
        self._bucket_policies = GenerationCache(
            lambda: (meta.iam_generation(), meta.buckets_generation()), self._load_bucket_policy)

    async def principal_policies(self, principal: Principal) -> PrincipalPolicies:
        """The user's or role's compiled identity policies and boundary, and a role session's session policies
        (cached until IAM state changes)."""
        if principal.type == "IAMUser":
            found = await self._policies.get(principal.principal_id)
            return found if found is not None else _NO_POLICIES
        session = principal.session
        if principal.type != "AssumedRole" or session is None:
            return _NO_POLICIES
        if session.has_policies:
            assert principal.access_key_id is not None
            return await self._session_policies.get((principal.access_key_id, session.principal_id, session.policy,
                                                     session.policy_arns))
        found = await self._role_policies.get(session.principal_id)
        return found if found is not None else _NO_POLICIES

    async def _load_session_policies(self, key: SessionKey) -> PrincipalPolicies:
        """The role's policies narrowed by the session's: a managed session policy deleted since allows
        nothing."""
        _, role_id, text, arns = key
        role = await self._role_policies.get(role_id)
        if role is None:
            return _NO_POLICIES
        sources: list[PolicySource] = []
        if text is not None:
            sources.append(PolicySource(compile_policy(text, "identity"), "session policy", "session"))
        for arn in arns:
            found = await find_policy(self.meta.db.read, arn)
            sources.append(PolicySource(compile_policy(found.document, "managed"), found.name, "session", arn)
                           if found is not None else _DENY_ALL)
        return PrincipalPolicies(role.identity, role.boundary, tuple(sources))

    async def bucket_policy(self, bucket: str) -> PolicySource | None:
        """The bucket's compiled policy (cached until IAM state or the set of buckets changes)."""
        return await self._bucket_policies.get(bucket)

    async def _load_bucket_policy(self, bucket: str) -> PolicySource | None:
        text = await self.meta.get_bucket_policy(bucket)
        if text is None:
            return None
        return PolicySource(parse_policy(text, "resource", stored=True), f"{bucket} bucket policy", "resource",
                            f"arn:aws:s3:::{bucket}")

    async def check(self, ctx: Context, action: str, resource: str,
                    extra: Mapping[str, Sequence[str]] | None = None,
                    resource_policy: PolicySource | None = None,
                    service_keys: Callable[[Context], Mapping[str, Sequence[str]]] | None = None) -> Evaluation:
        """May ``ctx``'s caller perform ``action`` on ``resource``?  ``extra`` and ``service_keys(ctx)`` add
        the service's condition keys to AWS's global ones."""
        principal = ctx.principal
        if principal.is_root and resource_policy is None:
            return ALLOWED
        request = AuthRequest(action, resource, principal.type, principal.arn,
                              "" if principal.is_anonymous else principal.account_id,
                              RequestContext(ctx, extra, service_keys), principal.issuer_arn, principal.user_id,
                              principal.role_id)
        if principal.is_root:
            # Root is not subject to identity policies; only a resource policy's explicit deny binds it.
            verdict = evaluate(request, _NO_POLICIES, resource_policy, self.account_id, explain=False)
            verdict = verdict if verdict.decision == "explicitDeny" else ALLOWED
        else:
            identity = None if principal.is_anonymous else await self.principal_policies(principal)
            verdict = evaluate(request, identity, resource_policy, self.account_id, explain=False)
        if not verdict.allowed:  # kept for whoever explains the refusal (the console)
            ctx.denied = (action, resource, verdict)
        return verdict


class RequestContext(Mapping[str, Sequence[str]]):
    """The request's condition keys (names lower-cased): AWS's global keys, the service's keys
    (``service_keys(ctx)``, e.g. ``s3:prefix``) and ``extra`` ones.  Built on first look: most requests are
    decided by statements without conditions or variables, and building the keys would cost more than
    evaluating the policies."""

    __slots__ = ("_ctx", "_extra", "_service_keys", "_keys")

    def __init__(self, ctx: Context, extra: Mapping[str, Sequence[str]] | None = None,
                 service_keys: Callable[[Context], Mapping[str, Sequence[str]]] | None = None) -> None:
        self._ctx, self._extra, self._service_keys = ctx, extra, service_keys
        self._keys: dict[str, Sequence[str]] | None = None

    def _built(self) -> dict[str, Sequence[str]]:
        if self._keys is None:
            keys = global_condition_keys(self._ctx)
            if self._service_keys is not None:
                keys.update(self._service_keys(self._ctx))
            if self._extra:
                keys.update(self._extra)
            self._keys = keys
        return self._keys

    def __getitem__(self, key: str) -> Sequence[str]:
        return self._built()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._built().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._built()

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


def global_condition_keys(ctx: Context) -> dict[str, Sequence[str]]:
    """AWS global condition keys of this request."""
    principal = ctx.principal
    request = ctx.request
    now = time.time()
    keys: dict[str, Sequence[str]] = {
        "aws:currenttime": (datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),),
        "aws:epochtime": (str(int(now)),),
        "aws:securetransport": ("true" if request.secure else "false",),
        "aws:sourceip": (request.client_ip,),
        "aws:useragent": (request.headers.get("user-agent", ""),),
        "aws:requestedregion": (ctx.region,),
        "aws:principaltype": (_PRINCIPAL_TYPES.get(principal.type, principal.type),),
        # "always included in the request context": no AWS service calls on anyone's behalf here, and every
        # resource is the one account's (AWS's data-perimeter policies test these two).
        "aws:viaawsservice": ("false",),
        "aws:resourceaccount": (principal.account_id,),
    }
    referer = request.headers.get("referer")
    if referer is not None:
        keys["aws:referer"] = (referer,)
    if principal.is_anonymous:
        keys["aws:userid"] = ("anonymous",)  # "included ... for all requests, including anonymous requests"
    else:
        keys["aws:principalisawsservice"] = ("false",)
        keys["aws:principalarn"] = (principal.principal_arn,)
        keys["aws:principalaccount"] = (principal.account_id,)
        keys["aws:userid"] = (principal.principal_id,)
        if principal.user_name is not None:
            keys["aws:username"] = (principal.user_name,)
        for tag_key, tag_value in principal.tags:
            keys[f"aws:principaltag/{tag_key.lower()}"] = (tag_value,)
    if ctx.session_keys:  # a session's MFA keys (console, temporary credentials); absent for access keys, as in AWS
        keys.update(ctx.session_keys)
    return keys
