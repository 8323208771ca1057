"""AssumeRole and GetSessionToken: who may have temporary credentials, and what the session carries.

AssumeRole (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html) is allowed when the role's
trust policy lets the caller in *and* the caller's own policies allow ``sts:AssumeRole`` on the role — except
that, within one account, a trust policy naming the caller's ARN itself is enough on its own, while one naming
the account (``arn:aws:iam::<account>:root``) only delegates to the caller's identity policies
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html and the
same-account rule of resource-based policies).  Passing session tags also needs ``sts:TagSession`` from the trust
policy, a source identity ``sts:SetSourceIdentity``.  The root user cannot assume roles.

Sessions last ``DurationSeconds`` (900 to the role's MaxSessionDuration, default 3600); a role session that
assumes a role ("role chaining") gets at most one hour.  Session policies (``Policy`` ≤ 2,048 characters,
``PolicyArns`` ≤ 10) narrow the session to their intersection with the role's policies; session tags become
``aws:PrincipalTag/…``; transitive ones pass on to chained sessions and cannot be changed there.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence

from storeroom import clock
from storeroom.authz import RequestContext
from storeroom.errors import AwsError
from storeroom.iam import policy_store, role_store
from storeroom.iam.role_store import Role
from storeroom.iam.user_store import RESERVED_TAG_MESSAGE, reserved_tag
from storeroom.iam.user_store import ROOT as ROOT_KEY
from storeroom.identity import Principal
from storeroom.policy import AuthRequest, PolicySource, parse_policy
from storeroom.policy.evaluate import trusts
from storeroom.sessions import ROLE, ROOT, USER, Credentials, Session, assumed_role_arn
from storeroom.signin import verify_device_code
from storeroom.sts import Handler, Result, StsCall
from storeroom.sts.messages import with_encoded

HANDLERS: dict[str, Handler] = {}

ROLE_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):role(?P<path>/(?:[^/]+/)*)(?P<name>[\w+=,.@-]+)")
DEFAULT_DURATION = 3600
CHAINED_MAX = 3600
SESSION_TOKEN_DEFAULT = 43200
SESSION_TOKEN_ROOT_MAX = 3600
POLICY_PLAINTEXT = 2048
POLICY_ARNS = 10
PACKED_LIMIT = 2048   # bytes of the compressed policies and tags (Storeroom's own packing: see packed_size)


def action(fn: Handler) -> Handler:
    HANDLERS["".join(part.capitalize() for part in fn.__name__.split("_"))] = fn
    return fn


def access_denied(message: str) -> AwsError:
    return AwsError("AccessDenied", message, 403)


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message, 400)


def not_authorized(caller: Principal, action_name: str, resource: str) -> AwsError:
    return access_denied(f"User: {caller.arn} is not authorized to perform: {action_name} on resource: {resource}")


# -- the pieces of a request ----------------------------------------------------------------------------------


# The form of any ARN (arn:partition:service:region:account:resource)
ANY_ARN = re.compile(r"arn:[^:]+:[^:]+:[^:]*:[^:]*:.+", re.DOTALL)


def check_arn_form(arn: str) -> None:
    """A RoleArn that is no ARN at all is STS's 400 "X is invalid" (LocalStack's AWS-recorded
    test_sts_invalid_parameters), before any authorization: that tells nothing of the account's roles."""
    if ANY_ARN.fullmatch(arn) is None:
        raise validation(f"{arn} is invalid")


async def find_role(call: StsCall, arn: str) -> Role | None:
    """The role an ARN names (its path included), or None: a caller may not learn whether a role exists."""
    match = ROLE_ARN.fullmatch(arn)
    if match is None or match["account"] != call.account_id:
        return None
    role = await role_store.get_role(call.sts.meta.db.read, match["name"])
    return role if role is not None and role.path == match["path"] and role.name == match["name"] else None


def role_arn_of(call: StsCall, role: Role) -> str:
    return f"arn:aws:iam::{call.account_id}:role{role.path}{role.name}"


async def session_policies(call: StsCall) -> tuple[str | None, tuple[str, ...]]:
    """``Policy`` (validated as an identity policy, compacted) and ``PolicyArns`` (managed policies that exist)."""
    text: str | None = call.params.get("Policy")
    arns = tuple(p["arn"] for p in call.params.get("PolicyArns", []) if "arn" in p)
    if text is not None:
        if len(text) > POLICY_PLAINTEXT:
            raise validation(f"1 validation error detected: Value at 'policy' failed to satisfy constraint: Member "
                             f"must have length less than or equal to {POLICY_PLAINTEXT}")
        parse_policy(text, "identity")
        text = json.dumps(json.loads(text), separators=(",", ":"))
    if len(arns) > POLICY_ARNS:
        raise validation(f"1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member "
                         f"must have length less than or equal to {POLICY_ARNS}")
    for arn in arns:
        if await policy_store.find_policy(call.sts.meta.db.read, arn) is None:
            raise AwsError("MalformedPolicyDocument", f"Policy {arn} does not exist or is not attachable.", 400)
    return text, arns


def session_tags(call: StsCall, caller: Principal) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(tags, transitive keys): the caller session's transitive tags, then ``Tags``; ``TransitiveTagKeys`` must
    name passed tags, and a transitive tag of the calling session cannot be set again
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_role-chaining)."""
    given = [(t["Key"], t.get("Value", "")) for t in call.params.get("Tags", [])]
    if len({k.lower() for k, _ in given}) != len(given):
        raise invalid_parameter("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    if reserved_tag(given):
        raise invalid_parameter(RESERVED_TAG_MESSAGE)
    transitive_keys: list[str] = call.params.get("TransitiveTagKeys", [])
    passed = {k.lower() for k, _ in given}
    if any(k.lower() not in passed for k in transitive_keys):
        raise invalid_parameter("The specified transitive tag key must be included in the requested tags.")
    inherited: list[tuple[str, str]] = []
    inherited_keys: list[str] = []
    session = caller.session
    if session is not None and session.kind == ROLE:
        keep = {k.lower() for k in session.transitive}
        inherited = [(k, v) for k, v in session.tags if k.lower() in keep]
        inherited_keys = list(session.transitive)
        if keep & passed:
            raise invalid_parameter("One of the specified transitive tag keys can't be set because it conflicts "
                                    "with a transitive tag key from the calling session.")
    return tuple(inherited + given), tuple(inherited_keys + transitive_keys)


def packed_size(policy: str | None, arns: Sequence[str], tags: Sequence[tuple[str, str]]) -> int:
    """PackedPolicySize: how full, in percent, the packed session policies and tags are.  AWS does not document
    its packing; Storeroom's is the zlib-compressed JSON of the three, against 2,048 bytes, which keeps a session
    token well within a request's 8 KiB of headers."""
    if policy is None and not arns and not tags:
        return 0
    packed = zlib.compress(json.dumps([policy, list(arns), [list(t) for t in tags]]).encode(), 9)
    return math.ceil(100 * len(packed) / PACKED_LIMIT)


def check_packed(policy: str | None, arns: Sequence[str], tags: Sequence[tuple[str, str]]) -> int | None:
    size = packed_size(policy, arns, tags)
    if size > 100:
        what = "session tags" if policy is None and not arns else "consumed policies and session tags"
        raise AwsError("PackedPolicyTooLarge", f"Packed size of {what} consumes {size}% of allotted space.", 400)
    return size if (policy is not None or arns or tags) else None


async def mfa_time(call: StsCall, caller: Principal, now: float) -> float | None:
    """When MFA was authenticated for the new session: now, with a valid ``SerialNumber`` + ``TokenCode`` of one
    of the caller's devices; else the calling session's own MFA time (None: no MFA)."""
    serial, code = call.params.get("SerialNumber"), call.params.get("TokenCode")
    if serial is None and code is None:
        return caller.session.mfa if caller.session is not None else None
    owner = _mfa_owner(caller)
    if serial is None or code is None or owner is None:
        raise access_denied("MultiFactorAuthentication failed, unable to validate MFA code.")
    if not await verify_device_code(call.sts.meta, call.sts.box, owner, serial, code, now):
        raise access_denied("MultiFactorAuthentication failed with invalid MFA one time pass code. ")
    return now


def _mfa_owner(caller: Principal) -> str | None:
    """Whose MFA devices count: the IAM user's (or root's); a role session has none."""
    if caller.type == "IAMUser":
        return caller.principal_id
    if caller.is_root:
        return ROOT_KEY
    return None


def assume_context(call: StsCall, tags: Sequence[tuple[str, str]], transitive: Sequence[str],
                   mfa: float | None, now: float) -> dict[str, Sequence[str]]:
    """The condition keys of an AssumeRole request that its trust policy may look at."""
    p = call.params
    keys: dict[str, Sequence[str]] = {"sts:rolesessionname": (p["RoleSessionName"],)}
    if "ExternalId" in p:
        keys["sts:externalid"] = (p["ExternalId"],)
    if "SourceIdentity" in p:
        keys["sts:sourceidentity"] = (p["SourceIdentity"],)
    if tags:
        keys.update({f"aws:requesttag/{k.lower()}": (v,) for k, v in tags})
        keys["aws:tagkeys"] = tuple(k for k, _ in tags)
    if transitive:
        keys["sts:transitivetagkeys"] = tuple(transitive)
    if mfa is not None:  # MFA given with this request (or the calling session's)
        keys["aws:multifactorauthpresent"] = ("true",)
        keys["aws:multifactorauthage"] = (str(max(0, int(now - mfa))),)
    return keys


def trust_source(call: StsCall, role: Role) -> PolicySource:
    return PolicySource(policy_store.compile_policy(role.trust_policy, "trust"), f"{role.name} trust policy",
                        "resource", role_arn_of(call, role))


async def authorize_assume(call: StsCall, role: Role | None, arn: str, keys: Mapping[str, Sequence[str]],
                           actions: Sequence[str]) -> Role:
    """AccessDenied unless the trust policy lets the caller in for every action (sts:AssumeRole, and
    sts:TagSession / sts:SetSourceIdentity when asked for) and the caller's policies allow sts:AssumeRole.  The
    refusal carries an encoded authorization message for the role's owner (storeroom/sts/messages.py)."""
    ctx = call.ctx
    caller = ctx.principal
    context = RequestContext(ctx, keys)
    if role is None:
        raise refused(call, caller, "sts:AssumeRole", arn, False, context)
    trust = trust_source(call, role)
    for name in actions:
        request = AuthRequest(name, arn, caller.type, caller.arn, caller.account_id, context, caller.issuer_arn,
                              caller.user_id, caller.role_id)
        verdict = trusts(request, trust)
        if verdict != "allow":
            raise refused(call, caller, name, arn, verdict == "deny", context)
    evaluation = await call.sts.authorizer.check(ctx, "sts:AssumeRole", arn, keys, resource_policy=trust)
    if not evaluation.allowed:
        raise refused(call, caller, "sts:AssumeRole", arn, evaluation.decision == "explicitDeny", context)
    return role


def refused(call: StsCall, caller: Principal, action_name: str, arn: str, explicit: bool,
            context: Mapping[str, Sequence[str]]) -> AwsError:
    encoded = call.sts.messages.encode(caller, action_name, arn, explicit, [], dict(context.items()))
    return with_encoded(not_authorized(caller, action_name, arn), encoded)


def issue(call: StsCall, session: Session) -> Credentials:
    return call.sts.tokens.mint(session)


def note_role_used(call: StsCall, role: Role, now: float) -> None:
    region = call.ctx.region
    call.sts.meta.db.submit(lambda conn: role_store.note_role_used_job(conn, role.role_id, now, region))


def role_session_result(call: StsCall, role: Role, session: Session, credentials: Credentials,
                        packed: int | None) -> Result:
    out: Result = {"Credentials": credentials.shape(),
                   "AssumedRoleUser": {"AssumedRoleId": f"{role.role_id}:{session.name}",
                                       "Arn": assumed_role_arn(call.account_id, role.name, session.name)}}
    if packed is not None:
        out["PackedPolicySize"] = packed
    if session.source_identity is not None:
        out["SourceIdentity"] = session.source_identity
    return out


def duration(requested: int | None, role: Role, chained: bool) -> int:
    """"The requested DurationSeconds exceeds the MaxSessionDuration set for this role." / "… the 1 hour session
    limit for roles assumed by role chaining." (AssumeRole's DurationSeconds)."""
    seconds = DEFAULT_DURATION if requested is None else requested
    if chained and seconds > CHAINED_MAX:
        raise validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role "
                         "chaining.")
    if seconds > role.max_session:
        raise validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return seconds


# -- AssumeRole -----------------------------------------------------------------------------------------------


@action
async def assume_role(call: StsCall) -> Result:
    caller = call.ctx.principal
    p = call.params
    arn: str = p["RoleArn"]
    check_arn_form(arn)  # the request's form first, then who may make it
    if caller.is_root:
        raise access_denied("Roles may not be assumed by root accounts.")
    now = clock.now()
    role = await find_role(call, arn)
    chained = caller.is_role_session
    policy, policy_arns = await session_policies(call)
    tags, transitive = session_tags(call, caller)
    packed = check_packed(policy, policy_arns, tags)
    mfa = await mfa_time(call, caller, now)
    source_identity = p.get("SourceIdentity")
    inherited = caller.session.source_identity if caller.session is not None else None
    if inherited is not None and source_identity is not None and source_identity != inherited:
        raise access_denied("The source identity of a role session cannot be changed.")
    source_identity = source_identity or inherited
    actions = ["sts:AssumeRole"] + (["sts:TagSession"] if tags else []) + (
        ["sts:SetSourceIdentity"] if source_identity is not None else [])
    keys = assume_context(call, tags, transitive, mfa, now)
    if source_identity is not None:
        keys["sts:sourceidentity"] = (source_identity,)
    role = await authorize_assume(call, role, arn, keys, actions)
    seconds = duration(p.get("DurationSeconds"), role, chained)   # once allowed: the role's limit is its own
    session = Session(ROLE, role.role_id, now, now + seconds, p["RoleSessionName"], mfa, policy, policy_arns, tags,
                      transitive, source_identity, chained, via="sts")
    note_role_used(call, role, now)
    return role_session_result(call, role, session, issue(call, session), packed)


# -- GetSessionToken ------------------------------------------------------------------------------------------


@action
async def get_session_token(call: StsCall) -> Result:
    """For IAM users and root with long-term keys: "You cannot call GetSessionToken with session credentials";
    DurationSeconds 900–129,600 (default 43,200), root's sessions at most one hour ("If the duration is longer
    than one hour, the session for AWS account owners defaults to one hour").  With ``SerialNumber`` +
    ``TokenCode`` the session carries aws:MultiFactorAuthPresent true (and may then call the IAM API)."""
    caller = call.ctx.principal
    if caller.session is not None:
        raise access_denied("Cannot call GetSessionToken with session credentials")
    now = clock.now()
    seconds = int(call.params.get("DurationSeconds", SESSION_TOKEN_DEFAULT))
    if caller.is_root:
        seconds = min(seconds, SESSION_TOKEN_ROOT_MAX)
    mfa = await mfa_time(call, caller, now)
    kind = ROOT if caller.is_root else USER
    session = Session(kind, caller.principal_id, now, now + seconds, mfa=mfa, via="sts")
    return {"Credentials": issue(call, session).shape()}


def session_may_call(principal: Principal, service: str, action_name: str | None) -> None:
    """What GetSessionToken's credentials may not do (the API reference): "You cannot call any IAM API
    operations unless MFA authentication information is included in the request" (answered as IAM answers an
    unusable token), and "You cannot call any STS API except AssumeRole or GetCallerIdentity"."""
    session = principal.session
    if session is None or session.kind == ROLE or session.via != "sts":
        return
    if service == "iam" and session.mfa is None:
        raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid", 403)
    if service == "sts" and action_name not in (None, "AssumeRole", "GetCallerIdentity"):
        raise access_denied(f"Cannot call {action_name} with session credentials")
