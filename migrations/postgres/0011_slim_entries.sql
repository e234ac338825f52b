-- Slimmer entries: what stays of a purged document is its entries, so their
-- row size decides how much space a purge returns.
-- - The schema id (often 70 bytes and more) is stored once in `schema_ids`
--   and named by number (`schema_ref`) in each entry; so is the author's
--   public key (`authors`, `author`), which also keys the log positions.
-- - `previous` goes: it was written and never read (the operation carries it).
-- - Fixed-width columns come first (each is aligned to 8 bytes), then the
--   entry (aligned to 4), so that no column is padded.
-- Ids, their sequence and the heap order stay as they were.
CREATE TABLE schema_ids (
    id         BIGSERIAL PRIMARY KEY,
    schema_id  TEXT COLLATE "C" NOT NULL UNIQUE
);

INSERT INTO schema_ids (schema_id)
SELECT schema_id FROM entries GROUP BY schema_id ORDER BY MIN(id);

CREATE TABLE authors (
    id          BIGSERIAL PRIMARY KEY,
    public_key  BYTEA NOT NULL UNIQUE
);

INSERT INTO authors (public_key)
SELECT public_key FROM entries GROUP BY public_key ORDER BY MIN(id);

CREATE TABLE entries_new (
    id           BIGINT  NOT NULL DEFAULT nextval('entries_id_seq'),
    log_id       BIGINT  NOT NULL,
    seq_num      BIGINT  NOT NULL,
    author       BIGINT  NOT NULL,
    schema_ref   BIGINT  NOT NULL,
    -- 0 create, 1 update, 2 delete
    action       BIGINT  NOT NULL,
    entry        BYTEA   NOT NULL,
    -- The entry hash is the operation id.
    entry_hash   BYTEA   NOT NULL,
    document_id  BYTEA   NOT NULL,
    -- The operation exactly as received (empty once purged).
    payload      BYTEA   NOT NULL
);

INSERT INTO entries_new (id, log_id, seq_num, author, schema_ref, action, entry, entry_hash,
                         document_id, payload)
SELECT e.id, e.log_id, e.seq_num, a.id, s.id, e.action, e.entry, e.entry_hash,
       e.document_id, e.payload
FROM entries e
JOIN schema_ids s ON s.schema_id = e.schema_id
JOIN authors a ON a.public_key = e.public_key
ORDER BY e.id;

ALTER SEQUENCE entries_id_seq OWNED BY entries_new.id;
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;

ALTER TABLE entries ADD CONSTRAINT entries_pkey PRIMARY KEY (id);
ALTER TABLE entries ADD CONSTRAINT entries_entry_hash_key UNIQUE (entry_hash);
-- Last line of defence against two entries at one log position.
ALTER TABLE entries ADD CONSTRAINT entries_position UNIQUE (author, log_id, seq_num);
-- As in 0006 and 0007, by schema number.
CREATE INDEX entries_document_logs ON entries (document_id, schema_ref) WHERE seq_num = 1 AND action <> 0;
CREATE INDEX entries_schema_logs ON entries (schema_ref) WHERE seq_num = 1;
CREATE UNIQUE INDEX entries_foreign_logs ON entries (author, document_id) WHERE seq_num = 1 AND action <> 0;

-- Proofs of forks name their author by number too (a proof is kept only
-- for a log this node holds).
ALTER TABLE forks ADD COLUMN author BIGINT;
UPDATE forks SET author = (SELECT a.id FROM authors a WHERE a.public_key = forks.public_key);
DELETE FROM forks WHERE author IS NULL;
ALTER TABLE forks DROP CONSTRAINT forks_pkey;
ALTER TABLE forks DROP COLUMN public_key;
ALTER TABLE forks ALTER COLUMN author SET NOT NULL;
ALTER TABLE forks ADD PRIMARY KEY (author, log_id);

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
