"""HTTPS for the API and the console listeners: certificate files checked at start (``files.py``), a local
certificate authority for ``--tls-self-signed`` (``selfsigned.py``), and the server's SSL context, reloaded on
SIGHUP without dropping connections (``context.py``).

The certificate and key reach the worker processes and the console's process as ``STOREROOM_TLS_CERT`` /
``STOREROOM_TLS_KEY`` (absolute paths set by ``storeroom serve``); TLS is on when the certificate is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CERT_ENV = "STOREROOM_TLS_CERT"
KEY_ENV = "STOREROOM_TLS_KEY"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path   # the certificate's file itself when the key is in it (one PEM with both)

    @classmethod
    def from_env(cls) -> TlsFiles | None:
        cert = os.environ.get(CERT_ENV)
        if not cert:
            return None
        return cls(Path(cert), Path(os.environ.get(KEY_ENV) or cert))

    def to_env(self) -> dict[str, str]:
        return {CERT_ENV: str(self.cert), KEY_ENV: str(self.key)}
