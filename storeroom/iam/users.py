"""IAM users, access keys, groups and the account summary (handlers for storeroom/iam/api.py)."""

from __future__ import annotations

from storeroom.iam.api import Handler

HANDLERS: dict[str, Handler] = {}
