-- metadata schema version 2, as Storeroom 84e1cf2 made it (tests/unit/test_migrations.py)
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
    created REAL NOT NULL
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
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;;
CREATE TABLE uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    initiated REAL NOT NULL,
    headers TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT                -- COMPOSITE or FULL_OBJECT when checksum_algorithm is set
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
CREATE TABLE bucket_policies (
    bucket TEXT PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    document TEXT NOT NULL
) WITHOUT ROWID;;
CREATE TABLE bucket_stats (
    bucket TEXT PRIMARY KEY,
    objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;;
CREATE TRIGGER bucket_stats_replaced BEFORE INSERT ON objects
WHEN EXISTS (SELECT 1 FROM objects WHERE bucket = new.bucket AND key = new.key)
BEGIN
    UPDATE bucket_stats SET objects = objects - 1,
        bytes = bytes - (SELECT size FROM objects WHERE bucket = new.bucket AND key = new.key)
    WHERE bucket = new.bucket;
END;;
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
PRAGMA user_version = 2;;
