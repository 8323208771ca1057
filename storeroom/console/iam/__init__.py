"""The IAM pages, the AWS console's labels and steps (../shared/guide.md): one module per part, one Routes."""

from __future__ import annotations

from storeroom.console.iam import dashboard
from storeroom.console.web import Routes

routes = Routes()
for part in (dashboard,):
    routes.routes.extend(part.routes.routes)
