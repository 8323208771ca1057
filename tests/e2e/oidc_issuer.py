"""An OpenID Connect issuer on loopback, over HTTPS, for the web-identity tests: a discovery document, a JWKS,
and ID tokens signed with its keys (joserfc), as GitHub Actions' or GitLab's issuer serves them.  Its certificate
comes from a local CA made by storeroom/tls/selfsigned.py."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from storeroom.tls import selfsigned


class OidcIssuer:
    def __init__(self, directory: Path) -> None:
        self.ca = selfsigned.ensure(directory, ["localhost"], "127.0.0.1")
        self.keys: list[RSAKey | ECKey] = [RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig"})]
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                issuer.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks",
                            "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
                elif self.path == "/jwks":
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.ca.files.cert), str(self.ca.files.key))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        """The issuer without its scheme: the provider's name in IAM ARNs and condition keys."""
        return self.url.split("://", 1)[1]

    @property
    def ca_thumbprint(self) -> str:
        der = x509.load_pem_x509_certificate(self.ca.ca_cert.read_bytes()).public_bytes(serialization.Encoding.DER)
        return hashlib.sha1(der).hexdigest()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.as_dict(private=False) for k in self.keys]}

    def rotate(self) -> None:
        self.keys.append(ECKey.generate_key("P-256", parameters={"kid": f"key-{len(self.keys) + 1}", "use": "sig"}))

    def token(self, sub: str = "repo:octo/app:ref:refs/heads/main", aud: str | list[str] = "sts.amazonaws.com",
              *, lifetime: int = 300, key: RSAKey | ECKey | None = None, **claims: Any) -> str:
        key = key or self.keys[-1]
        now = int(time.time())
        body = {"iss": self.url, "sub": sub, "aud": aud, "iat": now, "nbf": now - 5, "exp": now + lifetime, **claims}
        alg = "RS256" if isinstance(key, RSAKey) else "ES256"
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, body, key)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
