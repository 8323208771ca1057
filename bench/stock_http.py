"""``storeroom serve`` on uvicorn's stock httptools protocol instead of ``storeroom.http.edge.EdgeProtocol``.

For the benchmark only (target ``storeroom-stock-http``): it measures what the edge's connection limits cost
on the hot path, in the same run as ``storeroom``.  Never use it to serve: it has none of those limits.

    python -m bench.stock_http serve --listen 127.0.0.1:9000 --data-dir DIR --workers 2
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from storeroom import cli

_run = uvicorn.run


def _stock_run(*args: Any, **kwargs: Any) -> None:
    kwargs["http"] = "httptools"
    _run(*args, **kwargs)


if __name__ == "__main__":
    uvicorn.run = _stock_run
    cli.main(sys.argv[1:], prog_name="storeroom")
