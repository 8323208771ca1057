-- The audit file's layout before the postings (storeroom/audit/postings.py): an index per lookup attribute
-- and the resources in rows of their own, id = event id * 8 + position.  (PostgreSQL's: pg_schema.AUDIT_V1.)
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, name TEXT NOT NULL,
    source TEXT NOT NULL, read_only INTEGER NOT NULL, management INTEGER NOT NULL, username TEXT,
    access_key_id TEXT, record TEXT NOT NULL);
CREATE INDEX events_by_time ON events(time);
CREATE INDEX events_by_username ON events(username, time);
CREATE INDEX events_by_key ON events(access_key_id, time);
CREATE INDEX events_by_name ON events(name, time);
CREATE INDEX events_by_source ON events(source, time);
CREATE INDEX management_events ON events(time) WHERE management = 1;
CREATE TABLE event_resources (id INTEGER PRIMARY KEY, time REAL NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL);
CREATE INDEX resources_by_name ON event_resources(name, time);
CREATE INDEX resources_by_type ON event_resources(type, time);
CREATE TABLE audit_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
