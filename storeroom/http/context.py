"""What the edge knows about a request once it is authenticated; handed to a service's handler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from storeroom.http.types import Request
from storeroom.identity import Principal
from storeroom.sigv4 import SignedRequest


@dataclass(slots=True)
class Context:
    request: Request
    service: str                      # from the SigV4 scope: s3, iam, sts, cloudtrail, …
    principal: Principal
    signed: SignedRequest | None      # None for anonymous requests
    signing_key: bytes | None         # None until verified (Query-protocol services verify after reading the body)
    region: str
    secret: str | None = field(default=None, repr=False)
    signature_version: str = "AWS4-HMAC-SHA256"   # "AWS" for SigV2 (the s3:signatureversion condition key)
    operation: str | None = None      # e.g. "PutObject": set by the service's router, used by the audit log
    bucket: str | None = None         # what the request touched, for the audit log
    key: str | None = None
    # (botocore operation model, parsed parameters, result) of an IAM/STS/CloudTrail call, for its CloudTrail
    # event (requestParameters, responseElements): set by the service, read off the request path
    audit: tuple[Any, Any, Any] | None = None
    # Condition keys of the session the request belongs to, set by a caller that signs people in (the
    # console: storeroom/signin.py session_condition_keys): aws:MultiFactorAuthPresent, aws:MultiFactorAuthAge…
    session_keys: Mapping[str, Sequence[str]] | None = None
    # (action, resource, Evaluation) of the last authorization that refused: set by the Authorizer only on a
    # denial, read by the console to explain an AccessDenied with the statement that decided it
    denied: tuple[str, str, Any] | None = None
    # an S3 request allowed by an ACL grant, no policy allowing it: S3's aclRequired (access log, CloudTrail)
    acl_required: bool = False
