-- Slimmer entries: what stays of a purged document is its entries, so their
-- row size decides how much space a purge returns.
-- - The schema id (often 70 bytes and more) is stored once in `schema_ids`
--   and named by number (`schema_ref`) in each entry.
-- - `previous` goes: it was written and never read (the operation carries it).
-- Ids, the AUTOINCREMENT sequence and the order of rows stay as they were.
CREATE TABLE schema_ids (
    id         INTEGER PRIMARY KEY,
    schema_id  TEXT    NOT NULL UNIQUE
);

INSERT INTO schema_ids (schema_id)
SELECT schema_id FROM entries GROUP BY schema_id ORDER BY MIN(id);

CREATE TABLE entries_new (
    -- Global ingest order: replication and the materializer follow it.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    log_id       BIGINT  NOT NULL,
    seq_num      BIGINT  NOT NULL,
    schema_ref   BIGINT  NOT NULL,
    -- 0 create, 1 update, 2 delete
    action       BIGINT  NOT NULL,
    -- The entry hash is the operation id.
    entry_hash   BLOB    NOT NULL UNIQUE,
    public_key   BLOB    NOT NULL,
    document_id  BLOB    NOT NULL,
    entry        BLOB    NOT NULL,
    -- The operation exactly as received (empty once purged).
    payload      BLOB    NOT NULL,
    -- Last line of defence against two entries at one log position.
    UNIQUE (public_key, log_id, seq_num)
);

INSERT INTO entries_new (id, log_id, seq_num, schema_ref, action, entry_hash, public_key,
                         document_id, entry, payload)
SELECT e.id, e.log_id, e.seq_num, s.id, e.action, e.entry_hash, e.public_key,
       e.document_id, e.entry, e.payload
FROM entries e JOIN schema_ids s ON s.schema_id = e.schema_id
ORDER BY e.id;

-- The sequence goes on from where it was (ids are never handed out twice).
UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT s.seq FROM sqlite_sequence s WHERE s.name = 'entries'))
WHERE name = 'entries_new' AND EXISTS (SELECT 1 FROM sqlite_sequence s WHERE s.name = 'entries');
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;

-- As in 0006 and 0007, by schema number.
CREATE INDEX entries_document_logs ON entries (document_id, schema_ref) WHERE seq_num = 1 AND action <> 0;
CREATE INDEX entries_schema_logs ON entries (schema_ref) WHERE seq_num = 1;
CREATE UNIQUE INDEX entries_foreign_logs ON entries (public_key, document_id) WHERE seq_num = 1 AND action <> 0;

-- A purged document's record goes; the purged documents are counted here.
CREATE TABLE purge_total (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    documents  BIGINT  NOT NULL
);
INSERT INTO purge_total (id, documents)
SELECT 1, COUNT(*) FROM deletions WHERE purged_at IS NOT NULL AND unused = 0;
DELETE FROM deletions WHERE purged_at IS NOT NULL;
DROP INDEX deletions_due;
ALTER TABLE deletions DROP COLUMN purged_at;
CREATE INDEX deletions_due ON deletions (deleted_at);
