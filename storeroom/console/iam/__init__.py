"""The IAM pages, the AWS console's labels and steps (../shared/guide.md): one module per part, one Routes."""

from __future__ import annotations

from storeroom.console.iam import (
    account,
    credentials,
    dashboard,
    groups,
    policies,
    report,
    roles,
    simulator,
    users,
)
from storeroom.console.web import Routes

routes = Routes()
for part in (dashboard, users, credentials, groups, roles, policies, account, simulator, report):
    routes.routes.extend(part.routes.routes)
