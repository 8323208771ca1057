"""The S3 pages, the AWS console's labels and steps: buckets, the objects browser, uploads, sharing."""

from __future__ import annotations

from storeroom.console.s3 import buckets, objects, upload
from storeroom.console.web import Routes

routes = Routes()
# "Create bucket" is /s3/bucket/create (as AWS's console): any name under /s3/buckets/ may be a bucket's
for part in (buckets, objects, upload):
    routes.routes.extend(part.routes.routes)
