"""IAM OpenID Connect identity providers (handlers for storeroom/iam/api.py; SQL in storeroom/iam/role_store.py).

A provider names an issuer (``https://token.actions.githubusercontent.com``) whose JSON Web Tokens
``AssumeRoleWithWebIdentity`` accepts for roles that trust it (storeroom/sts/web_identity.py), and the audiences
(client ids) a token may be issued for.  Its ARN is ``arn:aws:iam::<account>:oidc-provider/<host/path>``.

Thumbprints: AWS now trusts an issuer's certificate through its library of root CAs and keeps the thumbprints
only for issuers whose certificate no trusted CA signed ("your legacy thumbprint remains in your configuration,
but is no longer used for validation",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html).
Storeroom does the same: the JWKS is fetched over HTTPS verified against the system's CAs (and
``STOREROOM_OIDC_CA_BUNDLE``); a certificate chain no CA vouches for is accepted when one of its certificates'
SHA-1 thumbprints is in the provider's list.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from storeroom.errors import AwsError
from storeroom.iam import role_store as store
from storeroom.iam.api import Handler, IamCall
from storeroom.iam.pagination import list_page
from storeroom.iam.role_store import OidcProvider
from storeroom.iam.user_store import check_unique_keys, quota_exceeded

HANDLERS: dict[str, Handler] = {}
Result = dict[str, Any] | None


def action(fn: Handler) -> Handler:
    HANDLERS[fn.__name__] = fn
    return fn


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInput", message, 400)


def provider_arn(account_id: str, url: str) -> str:
    return f"arn:aws:iam::{account_id}:oidc-provider/{store.provider_key(url)}"


def _url(value: str) -> str:
    """"The URL must begin with https:// and should correspond to the iss claim in the provider's OpenID Connect
    ID tokens … You can include a path component … but not a query string or fragment" (the
    CreateOpenIDConnectProvider reference).  Deviation: AWS also refuses a port number; Storeroom takes one,
    since a self-hosted issuer (a GitLab, a Keycloak) may well listen on one."""
    invalid = AwsError("ValidationError", "Invalid Open ID Connect Provider URL", 400)  # IAM's (AWS-recorded)
    try:
        parts = urlsplit(value)
        port = parts.port  # "https://x:abc", ":-1", ":65536" raise here; "https://[::1" above
    except ValueError:
        raise invalid from None
    if parts.scheme.lower() != "https" or not parts.hostname or parts.query or parts.fragment \
            or "@" in parts.netloc or port == 0:
        raise invalid
    return value.rstrip("/")


async def _provider(call: IamCall) -> OidcProvider:
    arn: str = call.params["OpenIDConnectProviderArn"]
    await call.require(arn)
    if not arn.startswith(f"arn:aws:iam::{call.account_id}:oidc-provider/"):
        raise _invalid(f"Invalid ARN {arn}")
    provider = await store.get_provider(call.db, arn)
    if provider is None:
        raise store.no_such_provider(arn)
    return provider


def _thumbprints(call: IamCall) -> list[str]:
    prints = [t.lower() for t in call.params.get("ThumbprintList", [])]
    if len(prints) > store.THUMBPRINTS_PER_PROVIDER:  # IAM's code and words, "fewer than 5" for at most 5
        raise _invalid(f"Thumbprint list must contain fewer than {store.THUMBPRINTS_PER_PROVIDER} entries.")
    if not all(len(t) == 40 and all(c in "0123456789abcdef" for c in t) for t in prints):
        raise _invalid("Thumbprint must be a 40-character hexadecimal SHA-1 fingerprint.")
    return prints


@action
async def CreateOpenIDConnectProvider(call: IamCall) -> Result:
    url = _url(call.params["Url"])
    arn = provider_arn(call.account_id, url)
    tags = [(t["Key"], t.get("Value", "")) for t in call.params.get("Tags", [])]
    check_unique_keys(tags)
    await call.require_creation(arn, tags, "iam:TagOpenIDConnectProvider")
    client_ids = list(dict.fromkeys(call.params.get("ClientIDList", [])))
    if len(client_ids) > store.CLIENT_IDS_PER_PROVIDER:  # as AddClientIDToOpenIDConnectProvider (AWS-recorded)
        raise quota_exceeded("ClientIdsPerOpenIdConnectProvider", store.CLIENT_IDS_PER_PROVIDER)
    provider = OidcProvider(arn, url, client_ids, _thumbprints(call), time.time(), tags)
    await call.write(lambda conn: store.create_provider_job(conn, provider))
    out: dict[str, Any] = {"OpenIDConnectProviderArn": arn}
    if tags:
        out["Tags"] = [{"Key": k, "Value": v} for k, v in tags]
    return out


@action
async def GetOpenIDConnectProvider(call: IamCall) -> Result:
    """``Url`` comes back without its scheme, as IAM answers it."""
    provider = await _provider(call)
    out: dict[str, Any] = {"Url": provider.issuer_key, "ClientIDList": provider.client_ids,
                           "ThumbprintList": provider.thumbprints, "CreateDate": provider.created}
    out["Tags"] = [{"Key": k, "Value": v} for k, v in provider.tags]  # [] when none, as IAM (AWS-recorded)
    return out


@action
async def ListOpenIDConnectProviders(call: IamCall) -> Result:
    await call.require("*")
    return {"OpenIDConnectProviderList": [{"Arn": p.arn} for p in await store.list_providers(call.db)]}


@action
async def DeleteOpenIDConnectProvider(call: IamCall) -> Result:
    try:
        provider = await _provider(call)
    except AwsError as err:  # IAM words a missing provider otherwise here (LocalStack's AWS-recorded answer)
        if err.code != "NoSuchEntity":
            raise
        arn = call.params["OpenIDConnectProviderArn"]
        raise AwsError("NoSuchEntity", f"OpenId connect Provider {arn} cannot be found.", 404) from None
    await call.write(lambda conn: store.delete_provider_job(conn, provider.arn))
    return None


@action
async def AddClientIDToOpenIDConnectProvider(call: IamCall) -> Result:
    provider, client_id = await _provider(call), call.params["ClientID"]
    await call.write(lambda conn: store.set_client_ids_job(conn, provider.arn, add=client_id))
    return None


@action
async def RemoveClientIDFromOpenIDConnectProvider(call: IamCall) -> Result:
    provider, client_id = await _provider(call), call.params["ClientID"]
    await call.write(lambda conn: store.set_client_ids_job(conn, provider.arn, remove=client_id))
    return None


@action
async def UpdateOpenIDConnectProviderThumbprint(call: IamCall) -> Result:
    provider = await _provider(call)
    prints = _thumbprints(call)
    await call.write(lambda conn: store.set_thumbprints_job(conn, provider.arn, prints))
    return None


@action
async def TagOpenIDConnectProvider(call: IamCall) -> Result:
    tags = [(t["Key"], t.get("Value", "")) for t in call.params["Tags"]]
    check_unique_keys(tags)
    provider = await _provider(call)
    await call.write(lambda conn: store.tag_provider_job(conn, provider.arn, tags))
    return None


@action
async def UntagOpenIDConnectProvider(call: IamCall) -> Result:
    keys: list[str] = call.params["TagKeys"]
    provider = await _provider(call)
    await call.write(lambda conn: store.untag_provider_job(conn, provider.arn, keys))
    return None


@action
async def ListOpenIDConnectProviderTags(call: IamCall) -> Result:
    provider = await _provider(call)
    tags, page = list_page(call, provider.tags, lambda t: [t[0].lower()])
    return {"Tags": [{"Key": k, "Value": v} for k, v in tags], **page}
