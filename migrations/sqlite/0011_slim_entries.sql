-- Slimmer entries: what stays of a purged document is its entries, so their
-- row size decides how much space a purge returns.
-- - The schema id (often 70 bytes and more) is stored once in `schema_ids`
--   and named by number (`schema_ref`) in each entry; so is the author's
--   public key (`authors`, `author`), which also keys the log positions.
-- - `previous` goes: it was written and never read (the operation carries it).
-- Ids, the AUTOINCREMENT sequence and the order of rows stay as they were.
CREATE TABLE schema_ids (
    id         INTEGER PRIMARY KEY,
    schema_id  TEXT    NOT NULL UNIQUE
);

INSERT INTO schema_ids (schema_id)
SELECT schema_id FROM entries GROUP BY schema_id ORDER BY MIN(id);

CREATE TABLE authors (
    id          INTEGER PRIMARY KEY,
    public_key  BLOB    NOT NULL UNIQUE
);

INSERT INTO authors (public_key)
SELECT public_key FROM entries GROUP BY public_key ORDER BY MIN(id);

CREATE TABLE entries_new (
    -- Global ingest order: replication and the materializer follow it.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    log_id       BIGINT  NOT NULL,
    seq_num      BIGINT  NOT NULL,
    author       BIGINT  NOT NULL,
    schema_ref   BIGINT  NOT NULL,
    -- 0 create, 1 update, 2 delete
    action       BIGINT  NOT NULL,
    entry        BLOB    NOT NULL,
    -- The entry hash is the operation id.
    entry_hash   BLOB    NOT NULL UNIQUE,
    document_id  BLOB    NOT NULL,
    -- The operation exactly as received (empty once purged).
    payload      BLOB    NOT NULL,
    -- Last line of defence against two entries at one log position.
    UNIQUE (author, log_id, seq_num)
);

INSERT INTO entries_new (id, log_id, seq_num, author, schema_ref, action, entry, entry_hash,
                         document_id, payload)
SELECT e.id, e.log_id, e.seq_num, a.id, s.id, e.action, e.entry, e.entry_hash,
       e.document_id, e.payload
FROM entries e
JOIN schema_ids s ON s.schema_id = e.schema_id
JOIN authors a ON a.public_key = e.public_key
ORDER BY e.id;

-- The sequence goes on from where it was (ids are never handed out twice).
UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT s.seq FROM sqlite_sequence s WHERE s.name = 'entries'))
WHERE name = 'entries_new' AND EXISTS (SELECT 1 FROM sqlite_sequence s WHERE s.name = 'entries');
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;

-- As in 0006 and 0007, by schema number.
CREATE INDEX entries_document_logs ON entries (document_id, schema_ref) WHERE seq_num = 1 AND action <> 0;
CREATE INDEX entries_schema_logs ON entries (schema_ref) WHERE seq_num = 1;
CREATE UNIQUE INDEX entries_foreign_logs ON entries (author, document_id) WHERE seq_num = 1 AND action <> 0;

-- Proofs of forks name their author by number too (a proof is kept only
-- for a log this node holds).
CREATE TABLE forks_new (
    author       BIGINT  NOT NULL,
    log_id       BIGINT  NOT NULL,
    -- The first disputed seq num.
    seq_num      BIGINT  NOT NULL,
    -- The two encoded entries, lower position (then lower hash) first.
    entry_a      BLOB    NOT NULL,
    entry_b      BLOB    NOT NULL,
    -- When this node learnt of it, in milliseconds since the Unix epoch.
    detected_at  BIGINT  NOT NULL,
    PRIMARY KEY (author, log_id)
);
INSERT INTO forks_new (author, log_id, seq_num, entry_a, entry_b, detected_at)
SELECT a.id, f.log_id, f.seq_num, f.entry_a, f.entry_b, f.detected_at
FROM forks f JOIN authors a ON a.public_key = f.public_key;
DROP TABLE forks;
ALTER TABLE forks_new RENAME TO forks;

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
