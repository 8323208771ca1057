"""Reading and writing customer managed policies, inline policies, attachments and boundaries.

PLACEHOLDER for the loader used by enforcement; the full module is being written (issue 3).
"""

from __future__ import annotations

import sqlite3

from storeroom.policy import PrincipalPolicies


def load_principal_policies(conn: sqlite3.Connection, user_id: str) -> PrincipalPolicies | None:
    """Every policy that applies to the user (inline + attached managed policies of the user and of each of
    its groups, compiled) and its permissions boundary; None if the user does not exist."""
    return PrincipalPolicies(())
