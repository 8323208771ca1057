"""Credentials that rotate themselves: the container-credentials endpoint, what EC2 instance roles and ECS task
roles are on AWS.

An application started with ``AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9000/_storeroom/credentials/APP``
and ``AWS_CONTAINER_AUTHORIZATION_TOKEN=<token>`` (or ``…_TOKEN_FILE``) gets role credentials from every AWS SDK's
default chain (botocore's ``ContainerProvider``), which asks again before they expire: the application never sees
a long-lived key, and nothing needs rotating by hand.

How a token is bound to a role — through the public IAM API only, so ``storeroom role bind`` (storeroom/cli/role.py)
is a client like any other:

- the application is an **instance profile** named APP holding the role (AWS's container for a role that a
  service hands out on a machine's behalf);
- a token is ``<id>.<secret>`` (256 random bits); the profile carries the tag ``storeroom:token:<id>`` whose value
  starts with the secret's SHA-256 (then the time it was made), so tokens are listed and revoked with
  ``ListInstanceProfileTags`` / ``UntagInstanceProfile``, and nobody who reads the tags can use them;
- as for EC2, the role's trust policy must allow ``sts:AssumeRole`` to the service principal
  ``ec2.amazonaws.com``: a role nobody meant to hand to machines is never handed out.

``GET /_storeroom/credentials/APP`` answers the JSON the SDKs read (``AccessKeyId``, ``SecretAccessKey``,
``Token``, ``Expiration``, ``RoleArn``: ECS's format) for a session named after the application
(``assumed-role/<role>/APP``) lasting an hour (the role's MaxSessionDuration if shorter: it never is, its minimum
is an hour).  Each issue is audited as CloudTrail audits EC2's: an ``AssumeRole`` event whose ``userIdentity`` is
the AWS service.  A missing or wrong token is ``401``; the endpoint does not say whether APP exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import unquote

from storeroom import clock
from storeroom.audit.events import EVENT_VERSION, Event, event_time
from storeroom.audit.log import AuditLog
from storeroom.http.types import Request, Response
from storeroom.iam import policy_store, role_store
from storeroom.policy import AuthRequest, PolicySource
from storeroom.policy.evaluate import trusts
from storeroom.sessions import ROLE, Session, SessionTokens, assumed_role_arn, iso
from storeroom.store.meta import MetaStore

PATH = "/_storeroom/credentials/"
TAG_PREFIX = role_store.TOKEN_TAG_PREFIX
SERVICE = "ec2.amazonaws.com"
DURATION = 3600


def token_tag_value(secret: str, created: float) -> str:
    """The tag value of a token: its secret's SHA-256, then when it was made."""
    return f"{hashlib.sha256(secret.encode()).hexdigest()} {iso(created)}"


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, [("content-type", "application/json")], json.dumps(body).encode())


def _refused(status: int, message: str) -> Response:
    return _json(status, {"code": "AccessDenied" if status == 403 else "Unauthorized", "message": message})


class ContainerCredentials:
    def __init__(self, meta: MetaStore, tokens: SessionTokens, audit: AuditLog | None, account_id: str,
                 region: str) -> None:
        self.meta, self.tokens, self.audit, self.account_id, self.region = meta, tokens, audit, account_id, region

    async def handle(self, request: Request) -> Response:
        if request.method != "GET":
            return _json(405, {"code": "MethodNotAllowed", "message": "GET only"})
        name = unquote(request.path[len(PATH):])
        token_id, _, secret = request.headers.get("authorization", "").strip().partition(".")
        if not token_id or not secret:
            return _refused(401, "Authorization: the application's token is required "
                                 "(AWS_CONTAINER_AUTHORIZATION_TOKEN)")
        profile = await role_store.get_profile(self.meta.db.read, name) if name and "/" not in name else None
        stored = None if profile is None else dict(profile.tags).get(TAG_PREFIX + token_id)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if profile is None or stored is None or not hmac.compare_digest(stored.split(" ", 1)[0], digest):
            return _refused(401, "The token is not valid for this application (revoked, or never issued).")
        if not profile.roles:
            return _refused(403, f"The instance profile {profile.name} has no role.")
        role = profile.roles[0]
        role_arn = f"arn:aws:iam::{self.account_id}:role{role.path}{role.name}"
        trust = PolicySource(policy_store.compile_policy(role.trust_policy, "trust"), "trust policy", "resource",
                             role_arn)
        if trusts(AuthRequest("sts:AssumeRole", role_arn, "Service", f"Service:{SERVICE}", ""), trust) != "allow":
            return _refused(403, f"The trust policy of {role_arn} does not allow {SERVICE} to assume it.")
        now = clock.now()
        session = Session(ROLE, role.role_id, now, now + min(DURATION, role.max_session), profile.name,
                          via="container")
        credentials = self.tokens.mint(session)
        role_id, region = role.role_id, self.region
        self.meta.db.submit(lambda conn: role_store.note_role_used_job(conn, role_id, now, region))
        self._audit(request, role_arn, role.role_id, profile.name, credentials.access_key_id, session.expires)
        return _json(200, {"RoleArn": role_arn, "AccessKeyId": credentials.access_key_id,
                           "SecretAccessKey": credentials.secret_access_key, "Token": credentials.session_token,
                           "Expiration": iso(session.expires)})

    def _audit(self, request: Request, role_arn: str, role_id: str, session_name: str, key_id: str,
               expires: float) -> None:
        """CloudTrail's record of a service assuming a role for a machine (EC2's instance-profile credentials)."""
        if self.audit is None:
            return
        when = time.time()
        record: dict[str, Any] = {
            "eventVersion": EVENT_VERSION, "userIdentity": {"type": "AWSService", "invokedBy": SERVICE},
            "eventTime": event_time(when), "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
            "awsRegion": self.region, "sourceIPAddress": SERVICE, "userAgent": SERVICE,
            "requestParameters": {"roleArn": role_arn, "roleSessionName": session_name},
            "responseElements": {
                "credentials": {"accessKeyId": key_id, "expiration": event_time(expires)},
                "assumedRoleUser": {"assumedRoleId": f"{role_id}:{session_name}",
                                    "arn": assumed_role_arn(self.account_id, role_arn.rpartition("/")[2],
                                                            session_name)}},
            "requestID": str(uuid.uuid4()), "readOnly": False,
            "resources": [{"accountId": self.account_id, "type": "AWS::IAM::Role", "ARN": role_arn}],
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": self.account_id,
            "eventCategory": "Management",
            "additionalEventData": {"sourceIPAddress": request.client_ip},
        }
        self.audit.record_event(Event(when, "AssumeRole", "sts.amazonaws.com", False, True, None, key_id,
                                      [("AWS::IAM::Role", role_arn)], record, status=200))
