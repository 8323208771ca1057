-- metadata schema version 1, as Storeroom de82308 made it (tests/unit/test_migrations.py)
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
PRAGMA user_version = 1;;
