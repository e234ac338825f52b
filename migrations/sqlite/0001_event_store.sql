-- The event store: Bamboo entries with the operations they carry, and the logs.
-- u64 log ids and seq nums are stored as BIGINT; values above 2^63-1 are refused at ingest.

CREATE TABLE logs (
    public_key     BLOB    NOT NULL,
    log_id         BIGINT  NOT NULL,
    document_id    BLOB    NOT NULL,
    schema_id      TEXT    NOT NULL,
    latest_seq_num BIGINT  NOT NULL,
    latest_hash    BLOB    NOT NULL,
    PRIMARY KEY (public_key, log_id),
    UNIQUE (public_key, document_id)
);

-- One row per entry and its operation: one table keeps the b-tree pages a
-- publish touches (and so the cost of a commit) low.
CREATE TABLE entries (
    -- Global ingest order: replication and the materializer follow it.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The entry hash is the operation id.
    entry_hash   BLOB    NOT NULL UNIQUE,
    public_key   BLOB    NOT NULL,
    log_id       BIGINT  NOT NULL,
    seq_num      BIGINT  NOT NULL,
    entry        BLOB    NOT NULL,
    -- The operation exactly as received: its hash is in the entry.
    payload      BLOB    NOT NULL,
    -- The decoded operation.
    document_id  BLOB    NOT NULL,
    schema_id    TEXT    NOT NULL,
    -- 0 create, 1 update, 2 delete
    action       BIGINT  NOT NULL,
    -- Document view id string of `previous`; NULL for a CREATE.
    previous     TEXT,
    -- Last line of defence against two entries at one log position.
    UNIQUE (public_key, log_id, seq_num)
);

CREATE INDEX entries_document ON entries (document_id);
CREATE INDEX entries_schema ON entries (schema_id, document_id);
