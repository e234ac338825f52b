-- Slimmer entries (as migration 0011 on SQLite and PostgreSQL): the schema
-- id is stored once in `schema_ids` and named by number (`schema_ref`) in
-- each entry, and so is the author's public key (`authors`, `author`);
-- `previous` goes (it was written and never read); a purged
-- document's record goes and the purged documents are counted in
-- `purge_total`. Ids, AUTO_INCREMENT and the order of rows stay.
CREATE TABLE schema_ids (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    schema_id  VARCHAR(3000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    UNIQUE KEY schema_ids_schema_id (schema_id)
) ENGINE = InnoDB;

INSERT INTO schema_ids (schema_id)
SELECT schema_id FROM entries GROUP BY schema_id ORDER BY MIN(id);

CREATE TABLE authors (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    public_key  TINYBLOB NOT NULL,
    UNIQUE KEY authors_public_key (public_key(32))
) ENGINE = InnoDB;

INSERT INTO authors (public_key)
SELECT public_key FROM entries GROUP BY public_key ORDER BY MIN(id);

CREATE TABLE entries_new (
    -- Global ingest order: replication and the materializer follow it.
    id           BIGINT     NOT NULL AUTO_INCREMENT PRIMARY KEY,
    log_id       BIGINT     NOT NULL,
    seq_num      BIGINT     NOT NULL,
    author       BIGINT     NOT NULL,
    schema_ref   BIGINT     NOT NULL,
    -- 0 create, 1 update, 2 delete
    action       BIGINT     NOT NULL,
    entry        BLOB       NOT NULL,
    -- The entry hash is the operation id.
    entry_hash   TINYBLOB   NOT NULL,
    document_id  TINYBLOB   NOT NULL,
    -- The operation exactly as received (empty once purged).
    payload      LONGBLOB   NOT NULL,
    -- A log's first entry, by its schema (`entries_schema_logs` elsewhere).
    log_schema   BIGINT AS (IF(seq_num = 1, schema_ref, NULL)) VIRTUAL,
    -- The first entry of a log that an update or delete opened, by its
    -- document (`entries_document_logs` and `entries_foreign_logs`).
    log_document VARBINARY(34) AS (IF(seq_num = 1 AND action <> 0, document_id, NULL)) VIRTUAL,
    UNIQUE KEY entries_hash (entry_hash(34)),
    -- Last line of defence against two entries at one log position.
    UNIQUE KEY entries_position (author, log_id, seq_num),
    KEY entries_schema_logs (log_schema),
    KEY entries_document_logs (log_document, schema_ref),
    -- Unique: one log per author for another author's document.
    UNIQUE KEY entries_foreign_logs (author, log_document)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

INSERT INTO entries_new (id, log_id, seq_num, author, schema_ref, action, entry, entry_hash,
                         document_id, payload)
SELECT e.id, e.log_id, e.seq_num, a.id, s.id, e.action, e.entry, e.entry_hash,
       e.document_id, e.payload
FROM entries e
JOIN schema_ids s ON s.schema_id = e.schema_id
JOIN authors a ON a.public_key = e.public_key
ORDER BY e.id;

DROP TABLE entries;
RENAME TABLE entries_new TO entries;

-- Proofs of forks name their author by number too (a proof is kept only
-- for a log this node holds).
CREATE TABLE forks_new (
    author       BIGINT    NOT NULL,
    log_id       BIGINT    NOT NULL,
    -- The first disputed seq num.
    seq_num      BIGINT    NOT NULL,
    -- The two encoded entries, lower position (then lower hash) first.
    entry_a      BLOB      NOT NULL,
    entry_b      BLOB      NOT NULL,
    -- When this node learnt of it, in milliseconds since the Unix epoch.
    detected_at  BIGINT    NOT NULL,
    PRIMARY KEY (author, log_id)
) ENGINE = InnoDB;
INSERT INTO forks_new (author, log_id, seq_num, entry_a, entry_b, detected_at)
SELECT a.id, f.log_id, f.seq_num, f.entry_a, f.entry_b, f.detected_at
FROM forks f JOIN authors a ON a.public_key = f.public_key;
DROP TABLE forks;
RENAME TABLE forks_new TO forks;

CREATE TABLE purge_total (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    documents  BIGINT  NOT NULL
) ENGINE = InnoDB;
INSERT INTO purge_total (id, documents)
SELECT 1, COUNT(*) FROM deletions WHERE purged_at IS NOT NULL AND unused = 0;
DELETE FROM deletions WHERE purged_at IS NOT NULL;
ALTER TABLE deletions DROP INDEX deletions_due, DROP COLUMN purged_at, ADD INDEX deletions_due (deleted_at);
