-- metadata schema version 9, as Storeroom e27c185 made it (tests/unit/test_migrations.py)
CREATE TABLE kv (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;;
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    secret BLOB NOT NULL,              -- AES-GCM sealed (storeroom.crypto)
    principal TEXT NOT NULL,           -- 'root', or an IAM user id
    status TEXT NOT NULL DEFAULT 'Active',
    created REAL NOT NULL,
    last_used REAL,
    last_used_service TEXT,
    last_used_region TEXT
) WITHOUT ROWID;;
CREATE TABLE buckets (
    name TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    created REAL NOT NULL,
    versioning TEXT,                  -- NULL: never versioned, else 'Enabled' or 'Suspended' (schema 8)
    ownership TEXT,                   -- Object Ownership, NULL: BucketOwnerEnforced (ACLs disabled)
    public_block TEXT                 -- Block Public Access: NULL none, else 4 flags '1'/'0' (s3/access.py)
) WITHOUT ROWID;;
CREATE TABLE objects (
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,               -- without quotes
    mtime REAL NOT NULL,
    -- JSON {"b": [[blob_id, size], ...] in order, "h": {response header: value} (content-type,
    -- x-amz-meta-*, ...), "c": {"algorithm", "value", "type"} or null}: one document, decoded once per read
    doc TEXT NOT NULL,
    parts INTEGER NOT NULL DEFAULT 0, -- number of parts of a multipart object, 0 otherwise
    version_id TEXT NOT NULL DEFAULT 'null',  -- (schema 8) S3's version id: 'null' in unversioned buckets
    seq INTEGER NOT NULL DEFAULT 0,   -- orders the versions of a key: the current one has the greatest
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;;
CREATE TABLE object_versions (
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    mtime REAL NOT NULL,
    doc TEXT NOT NULL,
    parts INTEGER NOT NULL DEFAULT 0,
    version_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    marker INTEGER NOT NULL DEFAULT 0, -- 1: a delete marker (no bytes)
    PRIMARY KEY (bucket, key, seq)
) WITHOUT ROWID;;
CREATE UNIQUE INDEX object_versions_by_id ON object_versions(bucket, key, version_id);;
CREATE TABLE lifecycle_outbox (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT,
    operation TEXT NOT NULL,          -- as S3's server access log names it: S3.EXPIRE.OBJECT ...
    rule_id TEXT NOT NULL,
    size INTEGER NOT NULL
);;
CREATE TABLE bucket_config (
    bucket TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (bucket, name)
) WITHOUT ROWID;;
CREATE TABLE uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    initiated REAL NOT NULL,
    headers TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT,               -- COMPOSITE or FULL_OBJECT when checksum_algorithm is set
    extra TEXT                        -- (schema 8) JSON {"t": tags, "a": ACL grants} the object will get
) WITHOUT ROWID;;
CREATE INDEX uploads_by_key ON uploads(bucket, key, upload_id);;
CREATE TABLE parts (
    upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    mtime REAL NOT NULL,
    checksum TEXT,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;;
CREATE TABLE completed_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    completed REAL NOT NULL,
    request TEXT NOT NULL,            -- digest of what the completing request asked for (parts, checksums)
    object_mtime REAL NOT NULL,       -- with first_blob: which write of the key this completion made
    first_blob TEXT NOT NULL
) WITHOUT ROWID;;
CREATE INDEX completed_uploads_by_time ON completed_uploads(completed);;
CREATE TABLE bucket_logging (
    bucket TEXT PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    target_bucket TEXT NOT NULL,
    target_prefix TEXT NOT NULL,
    key_format TEXT NOT NULL           -- 'simple', or 'partitioned:EventTime' / 'partitioned:DeliveryTime'
) WITHOUT ROWID;;
CREATE TABLE bucket_cors (
    bucket TEXT PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    rules TEXT NOT NULL
) WITHOUT ROWID;;
CREATE TABLE blob_keys (
    blob_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;;
CREATE TABLE console_spent (
    token_id TEXT PRIMARY KEY,
    expires REAL NOT NULL
) WITHOUT ROWID;;
CREATE TABLE iam_users (
    user_id TEXT PRIMARY KEY,                  -- AIDA + 17 base32 characters
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    path TEXT NOT NULL,                        -- '/' or '/division/team/'
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',           -- JSON [[key, value], ...] in insertion order
    boundary TEXT                              -- permissions boundary: a managed policy ARN, or NULL
) WITHOUT ROWID;;
CREATE TABLE iam_groups (
    group_id TEXT PRIMARY KEY,                 -- AGPA…
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    path TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;;
CREATE TABLE iam_group_members (
    group_id TEXT NOT NULL REFERENCES iam_groups(group_id),
    user_id TEXT NOT NULL REFERENCES iam_users(user_id),
    added REAL NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;;
CREATE INDEX iam_group_members_by_user ON iam_group_members(user_id, group_id);;
CREATE TABLE iam_policies (      -- customer managed policies
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
) WITHOUT ROWID;;
CREATE TABLE iam_policy_versions (
    policy_id TEXT NOT NULL REFERENCES iam_policies(policy_id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    document TEXT NOT NULL,                    -- the JSON text as submitted
    created REAL NOT NULL,
    PRIMARY KEY (policy_id, version_id)
) WITHOUT ROWID;;
CREATE TABLE iam_attachments (   -- a managed policy (AWS or customer) attached to a user or group
    entity_type TEXT NOT NULL,                 -- 'user' or 'group'
    entity_id TEXT NOT NULL,
    policy_arn TEXT NOT NULL,
    attached REAL NOT NULL,
    PRIMARY KEY (entity_type, entity_id, policy_arn)
) WITHOUT ROWID;;
CREATE INDEX iam_attachments_by_policy ON iam_attachments(policy_arn);;
CREATE TABLE iam_inline_policies (
    entity_type TEXT NOT NULL,                 -- 'user' or 'group'
    entity_id TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id, name)
) WITHOUT ROWID;;
CREATE TABLE iam_login_profiles (  -- console passwords (schema 3): storeroom/iam/login_store.py
    principal TEXT PRIMARY KEY,                -- a user id, or 'root'
    hash TEXT NOT NULL,                        -- Argon2id PHC string (the password itself is never stored)
    created REAL NOT NULL,                     -- LoginProfile.CreateDate
    changed REAL NOT NULL,                     -- password_last_changed (expiry counts from it)
    reset_required INTEGER NOT NULL DEFAULT 0,
    last_used REAL                             -- PasswordLastUsed
) WITHOUT ROWID;;
CREATE TABLE iam_password_history (  -- previous hashes, for PasswordReusePrevention (≤ 24 kept)
    principal TEXT NOT NULL,
    changed REAL NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (principal, changed)
) WITHOUT ROWID;;
CREATE TABLE iam_mfa_devices (    -- virtual MFA devices
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
) WITHOUT ROWID;;
CREATE INDEX iam_mfa_devices_by_principal ON iam_mfa_devices(principal, serial);;
CREATE TABLE signin_throttle (    -- failed sign-ins per user and per source IP (storeroom/signin.py)
    subject TEXT PRIMARY KEY,                  -- 'iam:<user name>', 'root:<email>', 'ip:<address>'
    failures INTEGER NOT NULL,
    last_failure REAL NOT NULL,
    blocked_until REAL NOT NULL
) WITHOUT ROWID;;
CREATE INDEX signin_throttle_by_time ON signin_throttle(last_failure);;
CREATE TABLE bucket_policies (
    bucket TEXT PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    document TEXT NOT NULL
) WITHOUT ROWID;;
CREATE TABLE iam_roles (        -- schema 7: storeroom/iam/role_store.py
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
) WITHOUT ROWID;;
CREATE INDEX iam_roles_by_boundary ON iam_roles(boundary) WHERE boundary IS NOT NULL;;
CREATE TABLE iam_instance_profiles (
    profile_id TEXT PRIMARY KEY,               -- AIPA…
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'            -- also the container-credentials tokens' hashes (storeroom:token:…)
) WITHOUT ROWID;;
CREATE TABLE iam_instance_profile_roles (
    profile_id TEXT NOT NULL REFERENCES iam_instance_profiles(profile_id),
    role_id TEXT NOT NULL REFERENCES iam_roles(role_id),
    PRIMARY KEY (profile_id, role_id)
) WITHOUT ROWID;;
CREATE INDEX iam_instance_profile_roles_by_role ON iam_instance_profile_roles(role_id, profile_id);;
CREATE TABLE iam_oidc_providers (
    arn TEXT PRIMARY KEY,                      -- arn:aws:iam::<account>:oidc-provider/<host/path>
    url TEXT NOT NULL,                         -- https://<host/path> as given (the issuer)
    client_ids TEXT NOT NULL DEFAULT '[]',     -- JSON list, in the order added
    thumbprints TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;;
CREATE TABLE bucket_stats (
    bucket TEXT PRIMARY KEY,
    objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID
;;
CREATE TRIGGER bucket_stats_inserted AFTER INSERT ON objects
BEGIN
    INSERT INTO bucket_stats(bucket, objects, bytes) VALUES (new.bucket, 1, new.size)
    ON CONFLICT(bucket) DO UPDATE SET objects = objects + 1, bytes = bytes + excluded.bytes;
END;;
CREATE TRIGGER bucket_stats_deleted AFTER DELETE ON objects
BEGIN
    UPDATE bucket_stats SET objects = objects - 1, bytes = bytes - old.size WHERE bucket = old.bucket;
END;;
CREATE TRIGGER bucket_stats_updated AFTER UPDATE OF bucket, size ON objects
BEGIN
    UPDATE bucket_stats SET objects = objects - 1, bytes = bytes - old.size WHERE bucket = old.bucket;
    INSERT INTO bucket_stats(bucket, objects, bytes) VALUES (new.bucket, 1, new.size)
    ON CONFLICT(bucket) DO UPDATE SET objects = objects + 1, bytes = bytes + excluded.bytes;
END;;
CREATE TRIGGER bucket_stats_bucket_gone AFTER DELETE ON buckets
BEGIN
    DELETE FROM bucket_stats WHERE bucket = old.name;
END;;
PRAGMA user_version = 9;;
