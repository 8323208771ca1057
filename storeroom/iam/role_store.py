"""SQL for IAM roles, instance profiles and OpenID Connect providers (the tables of storeroom/iam/schema.py,
version 6); the handlers are storeroom/iam/roles.py and storeroom/iam/oidc.py.

As in storeroom/iam/user_store.py: reads take the read connection, ``*_job`` functions run inside one write
transaction and raise :class:`AwsError` with IAM's codes and messages.  A role's inline policies and
attachments live in the tables users and groups use (``entity_type`` 'role'), so storeroom/iam/policy_store.py
reads and writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storeroom.errors import AwsError
from storeroom.iam.user_store import Tags, delete_conflict, merged_tags, quota_exceeded, require_policy, without_tags
from storeroom.store.sql import Conn

# IAM's default quotas (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)
ROLES_QUOTA = 1000
INSTANCE_PROFILES_QUOTA = 1000
ROLES_PER_INSTANCE_PROFILE = 1
OIDC_PROVIDERS_QUOTA = 100
CLIENT_IDS_PER_PROVIDER = 100
THUMBPRINTS_PER_PROVIDER = 5
TAGS_PER_ENTITY = 50


@dataclass(frozen=True, slots=True)
class Role:
    role_id: str
    name: str
    path: str
    created: float
    description: str
    max_session: int
    trust_policy: str
    tags: Tags
    boundary: str | None
    last_used: float | None = None
    last_used_region: str | None = None


@dataclass(frozen=True, slots=True)
class InstanceProfile:
    profile_id: str
    name: str
    path: str
    created: float
    tags: Tags
    roles: tuple[Role, ...] = ()


@dataclass(frozen=True, slots=True)
class OidcProvider:
    arn: str
    url: str                 # https://host/path
    client_ids: list[str]
    thumbprints: list[str]
    created: float
    tags: Tags

    @property
    def issuer_key(self) -> str:
        """The provider's name in condition keys and ARNs: the URL without ``https://`` (``host/path``)."""
        return provider_key(self.url)


def provider_key(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _tags_json(tags: Tags) -> str:
    return json.dumps([[k, v] for k, v in tags], separators=(",", ":"))


def _tags(text: str) -> Tags:
    return [(k, v) for k, v in json.loads(text)]


# -- errors (AWS's wording) ----------------------------------------------------------------------------------


def no_such_role(name: str) -> AwsError:
    return AwsError("NoSuchEntity", f"The role with name {name} cannot be found.", 404)


def no_such_profile(name: str) -> AwsError:
    return AwsError("NoSuchEntity", f"Instance Profile {name} cannot be found.", 404)


def no_such_provider(arn: str) -> AwsError:
    return AwsError("NoSuchEntity", f"OpenIDConnect Provider not found for arn {arn}", 404)


# -- roles ---------------------------------------------------------------------------------------------------

_ROLE_COLUMNS = ("role_id, name, path, created, description, max_session, trust_policy, tags, boundary, last_used, "
                 "last_used_region")


def _role(row: Sequence[Any]) -> Role:
    (role_id, name, path, created, description, max_session, trust, tags, boundary, last_used,
     region) = row
    return Role(role_id, name, path, created, description, int(max_session), trust, _tags(tags), boundary,
                last_used, region)


async def get_role(conn: Conn, name: str) -> Role | None:
    row = await conn.one(f"SELECT {_ROLE_COLUMNS} FROM iam_roles WHERE name = ?", (name,))
    return None if row is None else _role(row)


async def get_role_by_id(conn: Conn, role_id: str) -> Role | None:
    row = await conn.one(f"SELECT {_ROLE_COLUMNS} FROM iam_roles WHERE role_id = ?", (role_id,))
    return None if row is None else _role(row)


async def list_roles(conn: Conn, path_prefix: str, after: str | None, limit: int) -> list[Role]:
    rows = await conn.all(
        f"SELECT {_ROLE_COLUMNS} FROM iam_roles WHERE substr(path, 1, ?) = ? AND name > ? ORDER BY name LIMIT ?",
        (len(path_prefix), path_prefix, after or "", limit))
    return [_role(r) for r in rows]


async def all_roles(conn: Conn) -> list[Role]:
    return [_role(r) for r in await conn.all(f"SELECT {_ROLE_COLUMNS} FROM iam_roles ORDER BY name")]


async def _existing(conn: Conn, role_id: str, name: str) -> Role:
    role = await get_role_by_id(conn, role_id)
    if role is None:
        raise no_such_role(name)
    return role


async def create_role_job(conn: Conn, role: Role) -> None:
    if await conn.one("SELECT 1 FROM iam_roles WHERE name = ?", (role.name,)):
        raise AwsError("EntityAlreadyExists", f"Role with name {role.name} already exists.", 409)
    if await conn.value("SELECT count(*) FROM iam_roles") >= ROLES_QUOTA:
        raise quota_exceeded("RolesPerAccount", ROLES_QUOTA)
    if role.boundary is not None:
        await require_policy(conn, role.boundary, "Scope ARN: {arn} does not exist or is not attachable.")
    await conn.run(f"INSERT INTO iam_roles({_ROLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                   (role.role_id, role.name, role.path, role.created, role.description, role.max_session,
                    role.trust_policy, _tags_json(role.tags), role.boundary))


async def update_role_job(conn: Conn, role_id: str, name: str, description: str | None,
                          max_session: int | None) -> None:
    role = await _existing(conn, role_id, name)
    await conn.run("UPDATE iam_roles SET description = ?, max_session = ? WHERE role_id = ?",
                   (role.description if description is None else description,
                    role.max_session if max_session is None else max_session, role_id))


async def update_trust_job(conn: Conn, role_id: str, name: str, document: str) -> None:
    await _existing(conn, role_id, name)
    await conn.run("UPDATE iam_roles SET trust_policy = ? WHERE role_id = ?", (document, role_id))


async def set_role_boundary_job(conn: Conn, role_id: str, name: str, arn: str | None) -> None:
    await _existing(conn, role_id, name)
    if arn is not None:
        await require_policy(conn, arn)
    await conn.run("UPDATE iam_roles SET boundary = ? WHERE role_id = ?", (arn, role_id))


async def delete_role_job(conn: Conn, role_id: str, name: str) -> None:
    """DeleteConflict while the role is in an instance profile or has policies (AWS does not cascade)."""
    await _existing(conn, role_id, name)
    if await conn.one("SELECT 1 FROM iam_instance_profile_roles WHERE role_id = ?", (role_id,)):
        raise delete_conflict("remove roles from instance profile")
    if await conn.one("SELECT 1 FROM iam_inline_policies WHERE entity_type = 'role' AND entity_id = ?",
                      (role_id,)):
        raise delete_conflict("delete policies")
    if await conn.one("SELECT 1 FROM iam_attachments WHERE entity_type = 'role' AND entity_id = ?", (role_id,)):
        raise delete_conflict("detach all policies")
    await conn.run("DELETE FROM iam_roles WHERE role_id = ?", (role_id,))


async def tag_role_job(conn: Conn, role_id: str, name: str, new: Tags) -> None:
    role = await _existing(conn, role_id, name)
    tags = merged_tags(role.tags, new)
    if len(tags) > TAGS_PER_ENTITY:
        raise quota_exceeded("TagsPerRole", TAGS_PER_ENTITY)
    await conn.run("UPDATE iam_roles SET tags = ? WHERE role_id = ?", (_tags_json(tags), role_id))


async def untag_role_job(conn: Conn, role_id: str, name: str, keys: Sequence[str]) -> None:
    role = await _existing(conn, role_id, name)
    await conn.run("UPDATE iam_roles SET tags = ? WHERE role_id = ?", (_tags_json(without_tags(role.tags, keys)),
                                                                       role_id))


async def note_role_used_job(conn: Conn, role_id: str, when: float, region: str) -> None:
    """RoleLastUsed: bookkeeping, not IAM state (no cache depends on it)."""
    await conn.run("UPDATE iam_roles SET last_used = ?, last_used_region = ? WHERE role_id = ?",
                   (when, region, role_id))


# -- instance profiles ---------------------------------------------------------------------------------------

_PROFILE_COLUMNS = "profile_id, name, path, created, tags"


async def _profile(conn: Conn, row: Sequence[Any]) -> InstanceProfile:
    profile_id, name, path, created, tags = row
    roles = await conn.all(f"SELECT {', '.join('r.' + c for c in _ROLE_COLUMNS.split(', '))} FROM "
                           f"iam_instance_profile_roles p JOIN iam_roles r ON r.role_id = p.role_id "
                           f"WHERE p.profile_id = ? ORDER BY r.name", (profile_id,))
    return InstanceProfile(profile_id, name, path, created, _tags(tags), tuple(_role(r) for r in roles))


async def get_profile(conn: Conn, name: str) -> InstanceProfile | None:
    row = await conn.one(f"SELECT {_PROFILE_COLUMNS} FROM iam_instance_profiles WHERE name = ?", (name,))
    return None if row is None else await _profile(conn, row)


async def list_profiles(conn: Conn, path_prefix: str, after: str | None, limit: int) -> list[InstanceProfile]:
    rows = await conn.all(f"SELECT {_PROFILE_COLUMNS} FROM iam_instance_profiles WHERE substr(path, 1, ?) = ? "
                          f"AND name > ? ORDER BY name LIMIT ?", (len(path_prefix), path_prefix, after or "", limit))
    return [await _profile(conn, r) for r in rows]


async def profiles_of_role(conn: Conn, role_id: str, after: str | None, limit: int) -> list[InstanceProfile]:
    rows = await conn.all(f"SELECT {', '.join('i.' + c for c in _PROFILE_COLUMNS.split(', '))} FROM "
                          f"iam_instance_profile_roles p JOIN iam_instance_profiles i ON i.profile_id = p.profile_id "
                          f"WHERE p.role_id = ? AND i.name > ? ORDER BY i.name LIMIT ?", (role_id, after or "", limit))
    return [await _profile(conn, r) for r in rows]


# The container-credentials endpoint's tokens are tags of an instance profile (storeroom/container.py): a token
# gets the profile's role.  So a token is written only while the profile holds a role (by a caller allowed to
# pass it: roles.py), and a role is added only to a profile without tokens — never a token made without the role
# that later gets it.  Checked in the write, against the state it changes.
TOKEN_TAG_PREFIX = "storeroom:token:"


def carries_tokens(tags: Tags) -> bool:
    return any(key.lower().startswith(TOKEN_TAG_PREFIX) for key, _ in tags)


def _no_role_for_tokens(name: str) -> AwsError:
    return AwsError("InvalidInput", f"Instance profile {name} holds no role: add the role before a "
                    f"{TOKEN_TAG_PREFIX} tag, which gives the role to the token's holder.", 400)


def _changed_meanwhile(name: str) -> AwsError:
    return AwsError("ConcurrentModification", f"Instance profile {name} changed while the request was judged; "
                    "try again.", 409)


async def create_profile_job(conn: Conn, profile: InstanceProfile) -> None:
    if carries_tokens(profile.tags):
        raise _no_role_for_tokens(profile.name)
    if await conn.one("SELECT 1 FROM iam_instance_profiles WHERE name = ?", (profile.name,)):
        raise AwsError("EntityAlreadyExists", f"Instance Profile {profile.name} already exists.", 409)
    if await conn.value("SELECT count(*) FROM iam_instance_profiles") >= INSTANCE_PROFILES_QUOTA:
        raise quota_exceeded("InstanceProfilesPerAccount", INSTANCE_PROFILES_QUOTA)
    await conn.run(f"INSERT INTO iam_instance_profiles({_PROFILE_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                   (profile.profile_id, profile.name, profile.path, profile.created, _tags_json(profile.tags)))


async def _existing_profile(conn: Conn, name: str) -> InstanceProfile:
    profile = await get_profile(conn, name)
    if profile is None:
        raise no_such_profile(name)
    return profile


async def delete_profile_job(conn: Conn, name: str) -> None:
    profile = await _existing_profile(conn, name)
    if profile.roles:
        raise delete_conflict("remove roles from instance profile")
    await conn.run("DELETE FROM iam_instance_profiles WHERE profile_id = ?", (profile.profile_id,))


async def add_role_to_profile_job(conn: Conn, profile_name: str, role_name: str, role_id: str) -> None:
    """``role_id``: the role the caller was judged on (iam:PassRole), which must still be the one named."""
    profile = await _existing_profile(conn, profile_name)
    role = await get_role(conn, role_name)
    if role is None:
        raise no_such_role(role_name)
    if role.role_id != role_id:
        raise _changed_meanwhile(profile_name)
    if profile.roles:
        raise quota_exceeded("InstanceSessionsPerInstanceProfile", ROLES_PER_INSTANCE_PROFILE)
    if carries_tokens(profile.tags):
        raise AwsError("InvalidInput", f"Instance profile {profile_name} carries {TOKEN_TAG_PREFIX} tags made "
                       "while it held no role: remove them before adding a role (storeroom role unbind --name "
                       f"{profile_name} --all).", 400)
    await conn.run("INSERT INTO iam_instance_profile_roles(profile_id, role_id) VALUES (?, ?)",
                   (profile.profile_id, role.role_id))


async def remove_role_from_profile_job(conn: Conn, profile_name: str, role_name: str) -> None:
    profile = await _existing_profile(conn, profile_name)
    role = next((r for r in profile.roles if r.name.lower() == role_name.lower()), None)
    if role is None:
        raise AwsError("NoSuchEntity", f"The role with name {role_name} cannot be found in instance profile "
                       f"{profile.name}.", 404) if await get_role(conn, role_name) else no_such_role(role_name)
    await conn.run("DELETE FROM iam_instance_profile_roles WHERE profile_id = ? AND role_id = ?",
                   (profile.profile_id, role.role_id))


async def tag_profile_job(conn: Conn, name: str, new: Tags, judged_roles: tuple[str, ...] = ()) -> None:
    """``judged_roles``: the ids of the roles the caller was judged on for token tags (iam:PassRole)."""
    profile = await _existing_profile(conn, name)
    if carries_tokens(new):
        if not profile.roles:
            raise _no_role_for_tokens(name)
        if tuple(r.role_id for r in profile.roles) != judged_roles:
            raise _changed_meanwhile(name)
    tags = merged_tags(profile.tags, new)
    if len(tags) > TAGS_PER_ENTITY:
        raise quota_exceeded("TagsPerInstanceProfile", TAGS_PER_ENTITY)
    await conn.run("UPDATE iam_instance_profiles SET tags = ? WHERE profile_id = ?",
                   (_tags_json(tags), profile.profile_id))


async def untag_profile_job(conn: Conn, name: str, keys: Sequence[str]) -> None:
    profile = await _existing_profile(conn, name)
    await conn.run("UPDATE iam_instance_profiles SET tags = ? WHERE profile_id = ?",
                   (_tags_json(without_tags(profile.tags, keys)), profile.profile_id))


# -- OpenID Connect providers ----------------------------------------------------------------------------------

_PROVIDER_COLUMNS = "arn, url, client_ids, thumbprints, created, tags"


def _provider(row: Sequence[Any]) -> OidcProvider:
    arn, url, client_ids, thumbprints, created, tags = row
    return OidcProvider(arn, url, list(json.loads(client_ids)), list(json.loads(thumbprints)), created, _tags(tags))


async def get_provider(conn: Conn, arn: str) -> OidcProvider | None:
    row = await conn.one(f"SELECT {_PROVIDER_COLUMNS} FROM iam_oidc_providers WHERE arn = ?", (arn,))
    return None if row is None else _provider(row)


async def list_providers(conn: Conn) -> list[OidcProvider]:
    return [_provider(r) for r in await conn.all(f"SELECT {_PROVIDER_COLUMNS} FROM iam_oidc_providers ORDER BY arn")]


async def create_provider_job(conn: Conn, provider: OidcProvider) -> None:
    if await get_provider(conn, provider.arn) is not None:
        raise AwsError("EntityAlreadyExists", f"Provider with url {provider.url} already exists.", 409)
    if await conn.value("SELECT count(*) FROM iam_oidc_providers") >= OIDC_PROVIDERS_QUOTA:
        raise quota_exceeded("OpenIdProvidersPerAccount", OIDC_PROVIDERS_QUOTA)
    await conn.run(f"INSERT INTO iam_oidc_providers({_PROVIDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                   (provider.arn, provider.url, json.dumps(provider.client_ids), json.dumps(provider.thumbprints),
                    provider.created, _tags_json(provider.tags)))


async def _existing_provider(conn: Conn, arn: str) -> OidcProvider:
    provider = await get_provider(conn, arn)
    if provider is None:
        raise no_such_provider(arn)
    return provider


async def delete_provider_job(conn: Conn, arn: str) -> None:
    await _existing_provider(conn, arn)
    await conn.run("DELETE FROM iam_oidc_providers WHERE arn = ?", (arn,))


async def set_client_ids_job(conn: Conn, arn: str, add: str | None = None, remove: str | None = None) -> None:
    """AddClientIDToOpenIDConnectProvider / Remove…: adding one already there, or removing one that is not, is
    a no-op (as IAM has it)."""
    provider = await _existing_provider(conn, arn)
    ids = list(provider.client_ids)
    if add is not None and add not in ids:
        if len(ids) >= CLIENT_IDS_PER_PROVIDER:
            raise quota_exceeded("ClientIdsPerOpenIdConnectProvider", CLIENT_IDS_PER_PROVIDER)
        ids.append(add)
    if remove is not None and remove in ids:
        ids.remove(remove)
    await conn.run("UPDATE iam_oidc_providers SET client_ids = ? WHERE arn = ?", (json.dumps(ids), arn))


async def set_thumbprints_job(conn: Conn, arn: str, thumbprints: list[str]) -> None:
    await _existing_provider(conn, arn)
    await conn.run("UPDATE iam_oidc_providers SET thumbprints = ? WHERE arn = ?", (json.dumps(thumbprints), arn))


async def tag_provider_job(conn: Conn, arn: str, new: Tags) -> None:
    provider = await _existing_provider(conn, arn)
    tags = merged_tags(provider.tags, new)
    if len(tags) > TAGS_PER_ENTITY:  # IAM's words for a provider (LocalStack's AWS-recorded tags-limit-error)
        raise AwsError("LimitExceeded", "The number of tags has reached the maximum limit.", 409)
    await conn.run("UPDATE iam_oidc_providers SET tags = ? WHERE arn = ?", (_tags_json(tags), arn))


async def untag_provider_job(conn: Conn, arn: str, keys: Sequence[str]) -> None:
    provider = await _existing_provider(conn, arn)
    await conn.run("UPDATE iam_oidc_providers SET tags = ? WHERE arn = ?",
                   (_tags_json(without_tags(provider.tags, keys)), arn))


# -- counts (GetAccountSummary) ----------------------------------------------------------------------------


async def role_counts(conn: Conn) -> tuple[int, int, int]:
    """(roles, instance profiles, OpenID Connect providers)."""
    return (int(await conn.value("SELECT count(*) FROM iam_roles")),
            int(await conn.value("SELECT count(*) FROM iam_instance_profiles")),
            int(await conn.value("SELECT count(*) FROM iam_oidc_providers")))
