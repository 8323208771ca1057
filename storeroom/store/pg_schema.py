"""PostgreSQL's DDL: the same tables, columns (in the same order) and indexes as SQLite's
(storeroom/store/meta.py, storeroom/iam/schema.py, storeroom/store/bucket_stats.py, storeroom/audit/log.py),
in PostgreSQL's types.  Applied by storeroom/store/migrations.py, one version at a time.

What differs, and why:
- ``TEXT COLLATE "C"`` on every column that is compared or ordered (object keys, bucket names, ids): S3 lists
  keys in UTF-8 byte order, which is SQLite's BINARY collation and PostgreSQL's "C" — never the database's
  default locale, which may be anything.
- IAM names are unique and compared case-insensitively (SQLite's ``COLLATE NOCASE``, which folds ASCII only):
  ``citext`` under the "C" collation does the same (lower() of ASCII, then byte order), so that the queries
  (``WHERE name = ?``, ``ORDER BY name``) are the same text on both engines.  citext ships with PostgreSQL
  and is a trusted extension (a database owner may create it).
- ``DOUBLE PRECISION`` for SQLite's REAL (PostgreSQL's REAL is single precision), ``BIGINT`` for sizes,
  ``BYTEA`` for BLOB.
- The per-bucket counts are kept by a PL/pgSQL trigger function (the same three events as SQLite's triggers),
  which *appends* each change to ``bucket_stats_delta`` instead of updating the bucket's row: concurrent
  writes in one bucket would otherwise all queue on that row (or abort each other); a background job folds
  the deltas into ``bucket_stats`` (storeroom/store/bucket_stats.py).
- The audit trail's event ids come from a sequence (SQLite reads its AUTOINCREMENT counter inside the writing
  transaction; several nodes need a sequence).
- ``generations``: one row per cache-invalidation counter (storeroom/store/generation.py), moved in the
  transaction of every write that invalidates caches, and announced with NOTIFY (storeroom/store/postgres.py).
"""

from __future__ import annotations

META_V1 = r"""
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE kv (
    name TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    secret BYTEA NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL DEFAULT 'Active',
    created DOUBLE PRECISION NOT NULL,
    last_used DOUBLE PRECISION,
    last_used_service TEXT,
    last_used_region TEXT
);
CREATE INDEX access_keys_by_principal ON access_keys(principal);
CREATE TABLE buckets (
    name TEXT COLLATE "C" PRIMARY KEY,
    region TEXT COLLATE "C" NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE objects (
    bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets(name),
    key TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    mtime DOUBLE PRECISION NOT NULL,
    doc TEXT NOT NULL,
    parts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE uploads (
    upload_id TEXT COLLATE "C" PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets(name),
    key TEXT COLLATE "C" NOT NULL,
    initiated DOUBLE PRECISION NOT NULL,
    headers TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT
);
CREATE INDEX uploads_by_key ON uploads(bucket, key, upload_id);
CREATE TABLE parts (
    upload_id TEXT COLLATE "C" NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob_id TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    mtime DOUBLE PRECISION NOT NULL,
    checksum TEXT,
    PRIMARY KEY (upload_id, part_number)
);
CREATE TABLE completed_uploads (
    upload_id TEXT COLLATE "C" PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    completed DOUBLE PRECISION NOT NULL,
    request TEXT NOT NULL,
    object_mtime DOUBLE PRECISION NOT NULL,
    first_blob TEXT COLLATE "C" NOT NULL
);
CREATE INDEX completed_uploads_by_time ON completed_uploads(completed);
CREATE TABLE bucket_stats (
    bucket TEXT COLLATE "C" PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    objects BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE TABLE bucket_stats_delta (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    objects BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE INDEX bucket_stats_delta_by_bucket ON bucket_stats_delta(bucket);
CREATE FUNCTION bucket_stats_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bucket_stats_delta(bucket, objects, bytes) VALUES (NEW.bucket, 1, NEW.size);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO bucket_stats_delta(bucket, objects, bytes) VALUES (OLD.bucket, -1, -OLD.size);
    ELSIF NEW.bucket = OLD.bucket THEN
        IF NEW.size <> OLD.size THEN
            INSERT INTO bucket_stats_delta(bucket, objects, bytes) VALUES (NEW.bucket, 0, NEW.size - OLD.size);
        END IF;
    ELSE
        INSERT INTO bucket_stats_delta(bucket, objects, bytes)
            VALUES (OLD.bucket, -1, -OLD.size), (NEW.bucket, 1, NEW.size);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bucket_stats_count AFTER INSERT OR DELETE OR UPDATE OF bucket, size ON objects
    FOR EACH ROW EXECUTE FUNCTION bucket_stats_count();
CREATE TABLE generations (
    slot INTEGER PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO generations(slot, value) SELECT s, 0 FROM generate_series(0, 7) AS s;

CREATE TABLE iam_users (
    user_id TEXT COLLATE "C" PRIMARY KEY,
    name CITEXT COLLATE "C" NOT NULL UNIQUE,
    path TEXT COLLATE "C" NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    boundary TEXT COLLATE "C"
);
CREATE INDEX iam_users_by_boundary ON iam_users(boundary) WHERE boundary IS NOT NULL;
CREATE TABLE iam_groups (
    group_id TEXT COLLATE "C" PRIMARY KEY,
    name CITEXT COLLATE "C" NOT NULL UNIQUE,
    path TEXT COLLATE "C" NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE iam_group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES iam_groups(group_id),
    user_id TEXT COLLATE "C" NOT NULL REFERENCES iam_users(user_id),
    added DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX iam_group_members_by_user ON iam_group_members(user_id, group_id);
CREATE TABLE iam_policies (
    policy_id TEXT COLLATE "C" PRIMARY KEY,
    arn TEXT COLLATE "C" NOT NULL UNIQUE,
    name CITEXT COLLATE "C" NOT NULL UNIQUE,
    path TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    default_version TEXT COLLATE "C" NOT NULL,
    next_version INTEGER NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE iam_policy_versions (
    policy_id TEXT COLLATE "C" NOT NULL REFERENCES iam_policies(policy_id) ON DELETE CASCADE,
    version_id TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (policy_id, version_id)
);
CREATE TABLE iam_attachments (
    entity_type TEXT COLLATE "C" NOT NULL,
    entity_id TEXT COLLATE "C" NOT NULL,
    policy_arn TEXT COLLATE "C" NOT NULL,
    attached DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (entity_type, entity_id, policy_arn)
);
CREATE INDEX iam_attachments_by_policy ON iam_attachments(policy_arn);
CREATE TABLE iam_inline_policies (
    entity_type TEXT COLLATE "C" NOT NULL,
    entity_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id, name)
);
CREATE TABLE iam_login_profiles (
    principal TEXT COLLATE "C" PRIMARY KEY,
    hash TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    changed DOUBLE PRECISION NOT NULL,
    reset_required INTEGER NOT NULL DEFAULT 0,
    last_used DOUBLE PRECISION
);
CREATE TABLE iam_password_history (
    principal TEXT COLLATE "C" NOT NULL,
    changed DOUBLE PRECISION NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (principal, changed)
);
CREATE TABLE iam_mfa_devices (
    serial CITEXT COLLATE "C" PRIMARY KEY,
    path TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    seed BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    principal TEXT COLLATE "C",
    enabled DOUBLE PRECISION,
    last_step BIGINT NOT NULL DEFAULT 0,
    drift INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX iam_mfa_devices_by_principal ON iam_mfa_devices(principal, serial);
CREATE TABLE signin_throttle (
    subject TEXT COLLATE "C" PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure DOUBLE PRECISION NOT NULL,
    blocked_until DOUBLE PRECISION NOT NULL
);
CREATE INDEX signin_throttle_by_time ON signin_throttle(last_failure);
CREATE TABLE bucket_policies (
    bucket TEXT COLLATE "C" PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    document TEXT NOT NULL
);
CREATE TABLE bucket_logging (
    bucket TEXT COLLATE "C" PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    target_bucket TEXT COLLATE "C" NOT NULL,
    target_prefix TEXT NOT NULL,
    key_format TEXT NOT NULL
);
CREATE TABLE console_spent (
    token_id TEXT COLLATE "C" PRIMARY KEY,
    expires DOUBLE PRECISION NOT NULL
);
"""

# Version 2 (SQLite's schema 6): a bucket's CORS rules (storeroom/s3/cors.py).
META_V2 = r"""
CREATE TABLE bucket_cors (
    bucket TEXT COLLATE "C" PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    rules TEXT NOT NULL
);
"""

# Version 3 (SQLite's 7): roles, instance profiles, OpenID Connect providers (storeroom/iam/schema.py)
META_V3 = r"""
CREATE TABLE iam_roles (
    role_id TEXT COLLATE "C" PRIMARY KEY,
    name CITEXT COLLATE "C" NOT NULL UNIQUE,
    path TEXT COLLATE "C" NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    max_session INTEGER NOT NULL DEFAULT 3600,
    trust_policy TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    boundary TEXT COLLATE "C",
    last_used DOUBLE PRECISION,
    last_used_region TEXT
);
CREATE INDEX iam_roles_by_boundary ON iam_roles(boundary) WHERE boundary IS NOT NULL;
CREATE TABLE iam_instance_profiles (
    profile_id TEXT COLLATE "C" PRIMARY KEY,
    name CITEXT COLLATE "C" NOT NULL UNIQUE,
    path TEXT COLLATE "C" NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE iam_instance_profile_roles (
    profile_id TEXT COLLATE "C" NOT NULL REFERENCES iam_instance_profiles(profile_id),
    role_id TEXT COLLATE "C" NOT NULL REFERENCES iam_roles(role_id),
    PRIMARY KEY (profile_id, role_id)
);
CREATE INDEX iam_instance_profile_roles_by_role ON iam_instance_profile_roles(role_id, profile_id);
CREATE TABLE iam_oidc_providers (
    arn TEXT COLLATE "C" PRIMARY KEY,
    url TEXT COLLATE "C" NOT NULL,
    client_ids TEXT NOT NULL DEFAULT '[]',
    thumbprints TEXT NOT NULL DEFAULT '[]',
    created DOUBLE PRECISION NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
);
"""

# Version 4 (SQLite's schema 8): versions, tags, lifecycle, ownership and ACLs, Block Public Access
# (storeroom/store/meta.py): the same columns, appended in the same order.
META_V4 = r"""
ALTER TABLE buckets ADD COLUMN versioning TEXT, ADD COLUMN ownership TEXT, ADD COLUMN public_block TEXT;
ALTER TABLE objects ADD COLUMN version_id TEXT COLLATE "C" NOT NULL DEFAULT 'null',
    ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN extra TEXT;
CREATE TABLE object_versions (
    bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets(name),
    key TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    mtime DOUBLE PRECISION NOT NULL,
    doc TEXT NOT NULL,
    parts INTEGER NOT NULL DEFAULT 0,
    version_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    marker INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, key, seq)
);
CREATE UNIQUE INDEX object_versions_by_id ON object_versions(bucket, key, version_id);
CREATE TABLE lifecycle_outbox (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    time DOUBLE PRECISION NOT NULL,
    bucket TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    version_id TEXT COLLATE "C",
    operation TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    size BIGINT NOT NULL
);
CREATE TABLE bucket_config (
    bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (bucket, name)
);
"""

# Version 5 (SQLite's 9): encrypted blobs' data keys (storeroom/store/encrypted_blobs.py)
META_V5 = r"""
CREATE TABLE blob_keys (
    blob_id TEXT COLLATE "C" PRIMARY KEY,
    key_id TEXT COLLATE "C" NOT NULL,
    wrapped BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
"""

META_V6 = r"""
CREATE TABLE inline_blobs (
    blob_id TEXT COLLATE "C" PRIMARY KEY,
    data BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
"""

# The audit trail lives in the same database, in tables of its own (SQLite keeps it in a file of its own,
# audit.sqlite3, so that its write volume never contends with the metadata's writer).
AUDIT_V1 = r"""
CREATE SEQUENCE events_id_seq;
CREATE TABLE events (
    id BIGINT PRIMARY KEY,
    time DOUBLE PRECISION NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    read_only INTEGER NOT NULL,
    management INTEGER NOT NULL,
    username TEXT COLLATE "C",
    access_key_id TEXT COLLATE "C",
    record TEXT NOT NULL
);
CREATE INDEX events_by_time ON events(time);
CREATE INDEX events_by_username ON events(username, time);
CREATE INDEX events_by_key ON events(access_key_id, time);
CREATE INDEX events_by_name ON events(name, time);
CREATE INDEX events_by_source ON events(source, time);
CREATE INDEX management_events ON events(time) WHERE management = 1;
CREATE TABLE event_resources (
    id BIGINT PRIMARY KEY,
    time DOUBLE PRECISION NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL
);
CREATE INDEX resources_by_name ON event_resources(name, time);
CREATE INDEX resources_by_type ON event_resources(type, time);
CREATE TABLE access_log_lines (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX access_log_by_bucket ON access_log_lines(bucket, id);
CREATE TABLE audit_settings (
    name TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Version 2 of the audit trail: LookupEvents' postings (storeroom/audit/postings.py) instead of an index entry
# per event and attribute; the events' resources in a column instead of event_resources.  The postings of the
# events stored so far list each (attribute, value) per minute and per 4,096 event ids (a row spans less than
# postings.SPAN seconds); float8 is written to JSON exactly (shortest form that reads back the same).
AUDIT_V2 = r"""
ALTER TABLE events ADD COLUMN resources TEXT;
UPDATE events e SET resources = r.listed
  FROM (SELECT id / 8 AS event, json_agg(json_build_array(type, name) ORDER BY id)::text AS listed
          FROM event_resources GROUP BY id / 8) r
 WHERE e.id = r.event;
CREATE TABLE event_postings (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    attribute TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    scope INTEGER NOT NULL,
    first_time DOUBLE PRECISION NOT NULL,
    last_time DOUBLE PRECISION NOT NULL,
    entries TEXT NOT NULL
);
INSERT INTO event_postings(attribute, value, scope, first_time, last_time, entries)
SELECT k.attribute, k.value, s.scope, min(k.time), max(k.time),
       json_agg(json_build_array(k.time, k.id) ORDER BY k.time, k.id)::text
  FROM (SELECT id, time, management, '' AS attribute, '' AS value FROM events
        UNION ALL SELECT id, time, management, 'EventName', name FROM events
        UNION ALL SELECT id, time, management, 'EventSource', source FROM events
        UNION ALL SELECT id, time, management, 'ReadOnly', CASE WHEN read_only = 1 THEN 'true' ELSE 'false' END
                    FROM events
        UNION ALL SELECT id, time, management, 'Username', username FROM events WHERE username IS NOT NULL
        UNION ALL SELECT id, time, management, 'AccessKeyId', access_key_id FROM events
                   WHERE access_key_id IS NOT NULL
        UNION ALL SELECT DISTINCT e.id, e.time, e.management, 'ResourceType', r.type
                    FROM event_resources r JOIN events e ON e.id = r.id / 8
        UNION ALL SELECT DISTINCT e.id, e.time, e.management, 'ResourceName', r.name
                    FROM event_resources r JOIN events e ON e.id = r.id / 8) k
  CROSS JOIN (VALUES (0), (1)) s(scope)
 WHERE s.scope = 0 OR k.management = 1
 GROUP BY k.attribute, k.value, s.scope, floor(k.time / 60), k.id / 4096;
CREATE INDEX postings_by_value ON event_postings(attribute, value, scope, last_time);
CREATE INDEX postings_by_time ON event_postings(last_time);
DROP INDEX events_by_time, events_by_username, events_by_key, events_by_name, events_by_source, management_events;
DROP TABLE event_resources;
"""
