"""IAM managed and inline policies, attachments, permissions boundaries, the policy simulator and
GetAccountAuthorizationDetails (handlers for storeroom/iam/api.py)."""

from __future__ import annotations

from storeroom.iam.api import Handler

HANDLERS: dict[str, Handler] = {}
