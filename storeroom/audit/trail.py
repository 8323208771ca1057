"""The audit trail's events as CloudTrail's LookupEvents answers them, and the filters on them (sans-IO): what
``storeroom audit`` / ``storeroom policy generate`` (storeroom/cli/trail.py, through boto3) and the console's
Event history (storeroom/console/cloudtrail.py, as the signed-in principal) share.

LookupEvents takes at most one lookup attribute per call
(https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html: "Currently the list can
contain only one item"): a reader lets the server filter on the most selective one and applies the others
itself to each event's ``CloudTrailEvent`` record (:class:`Filters`).

What counts as *denied* (``--denied``, ``--include-denied``, the console's "Denied only"): an event whose
``errorCode`` is an authorization refusal (``AccessDenied``, ``AccessDeniedException``, ``UnauthorizedOperation``,
``AllAccessDisabled``) or an authentication one (an unknown or inactive key, a bad signature, an expired token, a
clock too far off, no credentials where they are needed), and a failed console sign-in (``ConsoleLogin``, whose
record has no errorCode: ``"responseElements": {"ConsoleLogin": "Failure"}``).  Other errors (``NoSuchKey``,
``NoSuchEntity``, ``MalformedPolicyDocument``) are the operation's own answer to an allowed request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ANONYMOUS = "ANONYMOUS_PRINCIPAL"  # how CloudTrail names an anonymous S3 caller (accountId and Username)
AUTHORIZATION_DENIALS = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                                   "Client.UnauthorizedOperation", "AllAccessDisabled"})
AUTHENTICATION_DENIALS = frozenset({
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "IncompleteSignature",
    "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired",
    "RequestTimeTooSkewed", "RequestExpired", "UnrecognizedClientException", "AccountProblem",
})
# CloudTrail records ListObjectsV2 as "ListObjects" (with "list-type": "2" in requestParameters).
EVENT_ALIASES = {"ListObjectsV2": "ListObjects"}


def is_denial(code: str | None) -> bool:
    """An errorCode that says the request was refused (authorization or authentication)."""
    return code is not None and (code in AUTHORIZATION_DENIALS or code in AUTHENTICATION_DENIALS
                                 or code.startswith("AccessDenied"))


def is_authorization_denial(code: str | None) -> bool:
    """The caller was known and its policies did not allow the action."""
    return code is not None and (code in AUTHORIZATION_DENIALS or code.startswith("AccessDenied"))


@dataclass
class TrailEvent:
    """One LookupEvents entry with its CloudTrail record decoded."""

    event_id: str
    time: datetime
    name: str
    source: str                      # "s3.amazonaws.com"
    username: str | None
    record: dict[str, Any]
    resources: list[tuple[str, str]]  # (ResourceType, ResourceName) as LookupEvents lists them

    @classmethod
    def of(cls, event: dict[str, Any]) -> TrailEvent:
        try:
            record = json.loads(event.get("CloudTrailEvent") or "{}")
        except ValueError:
            record = {}
        if not isinstance(record, dict):
            record = {}
        resources = [(str(r.get("ResourceType", "")), str(r.get("ResourceName", "")))
                     for r in event.get("Resources") or []]
        when = event["EventTime"]  # a datetime from boto3, epoch seconds in LookupEvents' JSON
        if not isinstance(when, datetime):
            when = datetime.fromtimestamp(float(when), UTC)
        return cls(str(event.get("EventId") or record.get("eventID") or ""), when,
                   str(event.get("EventName") or record.get("eventName") or ""),
                   str(event.get("EventSource") or record.get("eventSource") or ""),
                   event.get("Username") or username_of(record), record, resources)

    @property
    def identity(self) -> dict[str, Any]:
        identity = self.record.get("userIdentity")
        return identity if isinstance(identity, dict) else {}

    @property
    def access_key_id(self) -> str | None:
        return self.identity.get("accessKeyId") or None

    @property
    def error_code(self) -> str | None:
        code = self.record.get("errorCode")
        return str(code) if code else None

    @property
    def sign_in_failed(self) -> bool:
        """A refused console sign-in: CloudTrail records it with no errorCode, as ``"responseElements":
        {"ConsoleLogin": "Failure"}`` and ``"errorMessage": "Failed authentication"``."""
        answer = self.record.get("responseElements")
        return isinstance(answer, dict) and answer.get(self.name) == "Failure"

    @property
    def failure(self) -> str | None:
        """What went wrong, in the record's words: its errorCode, or a failed sign-in's errorMessage."""
        if self.error_code is None and self.sign_in_failed:
            return str(self.record.get("errorMessage") or "Failure")
        return self.error_code

    @property
    def refused(self) -> bool:
        """Denied: an authorization or authentication refusal, or a failed sign-in."""
        return is_denial(self.error_code) or self.sign_in_failed

    @property
    def params(self) -> dict[str, Any]:
        params = self.record.get("requestParameters")
        return params if isinstance(params, dict) else {}

    @property
    def bucket(self) -> str | None:
        """The S3 bucket of the request (requestParameters.bucketName), if any."""
        name = self.params.get("bucketName") if self.source == "s3.amazonaws.com" else None
        return str(name) if name else None

    @property
    def key(self) -> str | None:
        """The S3 object key of the request, if any."""
        key = self.params.get("key") if self.source == "s3.amazonaws.com" else None
        return str(key) if isinstance(key, str) and key else None

    @property
    def account_id(self) -> str:
        return str(self.record.get("recipientAccountId") or self.identity.get("accountId") or "")


def username_of(record: dict[str, Any]) -> str | None:
    """The name LookupEvents files an event under: the IAM user's, ``root``, or ``ANONYMOUS_PRINCIPAL``."""
    identity = record.get("userIdentity")
    if not isinstance(identity, dict):
        return None
    if identity.get("type") == "Root":
        return "root"
    if identity.get("accountId") == ANONYMOUS:
        return ANONYMOUS
    name = identity.get("userName")
    return str(name) if name else None


@dataclass
class Filters:
    """What a command asks for; :meth:`lookup_attribute` is sent to the server, :meth:`matches` checks all."""

    user: str | None = None
    key: str | None = None
    event: str | None = None
    bucket: str | None = None
    denied: bool = False
    resource: str | None = None      # a resource name as LookupEvents lists it (a bucket, an object's ARN, …)

    def lookup_attribute(self) -> tuple[str, str] | None:
        """The most selective filter LookupEvents can apply: an access key (one user's, one key), a user, a
        bucket (ResourceName: every event on it and its objects), an event name."""
        for attribute, value in (("AccessKeyId", self.key), ("Username", self.user),
                                 ("ResourceName", self.bucket), ("ResourceName", self.resource),
                                 ("EventName", self.event)):
            if value:
                return attribute, value
        return None

    def matches(self, e: TrailEvent) -> bool:
        if self.user is not None and e.username != self.user:
            return False
        if self.key is not None and e.access_key_id != self.key:
            return False
        if self.event is not None and e.name != self.event:
            return False
        if self.bucket is not None and not _on_bucket(e, self.bucket):
            return False
        if self.resource is not None and all(name != self.resource for _, name in e.resources):
            return False
        return not self.denied or e.refused


def _on_bucket(e: TrailEvent, bucket: str) -> bool:
    if e.bucket == bucket:
        return True
    arn = f"arn:aws:s3:::{bucket}"
    return any(name in (bucket, arn) or name.startswith(arn + "/") for kind, name in e.resources
               if kind.startswith("AWS::S3::"))
