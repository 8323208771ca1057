"""The IAM tables (schema version 2): users, groups, customer managed policies, attachments, inline policies,
and S3 bucket policies; since version 3 also login profiles, password history, virtual MFA devices and the
sign-in throttle (the account password policy, alias and root email live in ``kv``).  AWS managed policies
are not stored: they live in ``storeroom/policy/managed.py``.

Entities are keyed by their immutable ids (``AIDA…`` users, ``AGPA…`` groups, ``ANPA…`` policies), so renaming
a user or group (UpdateUser / UpdateGroup ``NewUserName``) touches one row.  Names are unique
case-insensitively, as in IAM.  Every write to these tables must be followed by
``meta.generations.bump(generation.IAM)`` once committed: that is how every worker's caches (credentials,
compiled policies) learn they are stale.

Since version 6: roles (their inline policies and attachments share ``iam_inline_policies`` and
``iam_attachments`` with users and groups, ``entity_type`` 'role'), instance profiles and OpenID Connect
providers (storeroom/iam/role_store.py).  Role sessions are not stored: their credentials are self-contained
(storeroom/sessions.py).
"""

IAM_SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_users (
    user_id TEXT PRIMARY KEY,                  -- AIDA + 17 base32 characters
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    path TEXT NOT NULL,                        -- '/' or '/division/team/'
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',           -- JSON [[key, value], ...] in insertion order
    boundary TEXT                              -- permissions boundary: a managed policy ARN, or NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_groups (
    group_id TEXT PRIMARY KEY,                 -- AGPA…
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    path TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_group_members (
    group_id TEXT NOT NULL REFERENCES iam_groups(group_id),
    user_id TEXT NOT NULL REFERENCES iam_users(user_id),
    added REAL NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS iam_group_members_by_user ON iam_group_members(user_id, group_id);
CREATE TABLE IF NOT EXISTS iam_policies (      -- customer managed policies
    policy_id TEXT PRIMARY KEY,                -- ANPA…
    arn TEXT NOT NULL UNIQUE,                  -- arn:aws:iam::<account>:policy/<path><name>
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    path TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    default_version TEXT NOT NULL,             -- 'v1', 'v2', …
    next_version INTEGER NOT NULL,             -- version numbers are never reused
    created REAL NOT NULL,
    updated REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_policy_versions (
    policy_id TEXT NOT NULL REFERENCES iam_policies(policy_id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    document TEXT NOT NULL,                    -- the JSON text as submitted
    created REAL NOT NULL,
    PRIMARY KEY (policy_id, version_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_attachments (   -- a managed policy (AWS or customer) attached to a user or group
    entity_type TEXT NOT NULL,                 -- 'user' or 'group'
    entity_id TEXT NOT NULL,
    policy_arn TEXT NOT NULL,
    attached REAL NOT NULL,
    PRIMARY KEY (entity_type, entity_id, policy_arn)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS iam_attachments_by_policy ON iam_attachments(policy_arn);
CREATE TABLE IF NOT EXISTS iam_inline_policies (
    entity_type TEXT NOT NULL,                 -- 'user' or 'group'
    entity_id TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_login_profiles (  -- console passwords (schema 3): storeroom/iam/login_store.py
    principal TEXT PRIMARY KEY,                -- a user id, or 'root'
    hash TEXT NOT NULL,                        -- Argon2id PHC string (the password itself is never stored)
    created REAL NOT NULL,                     -- LoginProfile.CreateDate
    changed REAL NOT NULL,                     -- password_last_changed (expiry counts from it)
    reset_required INTEGER NOT NULL DEFAULT 0,
    last_used REAL                             -- PasswordLastUsed
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_password_history (  -- previous hashes, for PasswordReusePrevention (≤ 24 kept)
    principal TEXT NOT NULL,
    changed REAL NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (principal, changed)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_mfa_devices (    -- virtual MFA devices
    serial TEXT PRIMARY KEY COLLATE NOCASE,    -- arn:aws:iam::<account>:mfa<path><name>
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    seed BLOB NOT NULL,                        -- base32 seed sealed with the master key (associated: serial)
    created REAL NOT NULL,
    principal TEXT,                            -- the user id or 'root' it is enabled for, else NULL
    enabled REAL,                              -- EnableDate
    last_step INTEGER NOT NULL DEFAULT 0,      -- last TOTP step accepted: a code is never accepted twice
    drift INTEGER NOT NULL DEFAULT 0,          -- steps the device's clock is off (ResyncMFADevice)
    tags TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS iam_mfa_devices_by_principal ON iam_mfa_devices(principal, serial);
CREATE TABLE IF NOT EXISTS signin_throttle (    -- failed sign-ins per user and per source IP (storeroom/signin.py)
    subject TEXT PRIMARY KEY,                  -- 'iam:<user name>', 'root:<email>', 'ip:<address>'
    failures INTEGER NOT NULL,
    last_failure REAL NOT NULL,
    blocked_until REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS signin_throttle_by_time ON signin_throttle(last_failure);
CREATE TABLE IF NOT EXISTS bucket_policies (
    bucket TEXT PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    document TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_roles (        -- schema 7: storeroom/iam/role_store.py
    role_id TEXT PRIMARY KEY,                  -- AROA + 17 base32 characters
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    max_session INTEGER NOT NULL DEFAULT 3600, -- MaxSessionDuration, seconds
    trust_policy TEXT NOT NULL,                -- AssumeRolePolicyDocument as submitted
    tags TEXT NOT NULL DEFAULT '[]',
    boundary TEXT,                             -- permissions boundary: a managed policy ARN, or NULL
    last_used REAL,                            -- RoleLastUsed: when a session of it was last issued
    last_used_region TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS iam_roles_by_boundary ON iam_roles(boundary) WHERE boundary IS NOT NULL;
CREATE TABLE IF NOT EXISTS iam_instance_profiles (
    profile_id TEXT PRIMARY KEY,               -- AIPA…
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'            -- also the container-credentials tokens' hashes (storeroom:token:…)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iam_instance_profile_roles (
    profile_id TEXT NOT NULL REFERENCES iam_instance_profiles(profile_id),
    role_id TEXT NOT NULL REFERENCES iam_roles(role_id),
    PRIMARY KEY (profile_id, role_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS iam_instance_profile_roles_by_role ON iam_instance_profile_roles(role_id, profile_id);
CREATE TABLE IF NOT EXISTS iam_oidc_providers (
    arn TEXT PRIMARY KEY,                      -- arn:aws:iam::<account>:oidc-provider/<host/path>
    url TEXT NOT NULL,                         -- https://<host/path> as given (the issuer)
    client_ids TEXT NOT NULL DEFAULT '[]',     -- JSON list, in the order added
    thumbprints TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
"""
