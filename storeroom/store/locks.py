"""Object Lock's rule on one version: whether it may be removed now (the store applies it inside the transaction
that would remove it, so that no retention set meanwhile is missed).

A version's lock lives in its row's JSON ``doc`` (store/meta.py: ``object_doc``), written only when set:
``"r": [mode, retain-until in epoch milliseconds]`` and ``"l": true/false`` (the legal hold).

"A locked object version can't be overwritten or deleted": a legal hold protects it until it is removed; a
retention period until its date -- in GOVERNANCE mode, "users with the s3:BypassGovernanceRetention permission"
may delete it anyway with ``x-amz-bypass-governance-retention: true``; in COMPLIANCE mode "a protected object
version can't be overwritten or deleted by any user, including the root user in your AWS account"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html).  Delete markers are never locked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

GOVERNANCE, COMPLIANCE = "GOVERNANCE", "COMPLIANCE"
MODES = (GOVERNANCE, COMPLIANCE)


def protected(retention: tuple[str, int] | list[Any] | None, legal_hold: bool | None, now: float,
              bypass_governance: bool = False) -> bool:
    """Whether a version with this lock may not be removed at ``now`` (epoch seconds)."""
    if legal_hold:
        return True
    if not retention:
        return False
    mode, until_ms = retention[0], int(retention[1])
    if until_ms <= now * 1000:
        return False
    return not (mode == GOVERNANCE and bypass_governance)


@dataclass(frozen=True, slots=True)
class Guard:
    """What a removal is judged by: the time (the real one: a lifecycle run evaluated "as of" another time
    never unlocks anything) and whether the caller may bypass GOVERNANCE retention."""

    now: float
    bypass_governance: bool = False

    def protects(self, doc: str) -> bool:
        fields = json.loads(doc)
        return protected(fields.get("r"), fields.get("l"), self.now, self.bypass_governance)
