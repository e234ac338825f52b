-- The event store, the materializer's cursor and the catalogue of view
-- tables on MariaDB/MySQL: the state SQLite and PostgreSQL reach after
-- their migrations 0001-0007, in the types this server needs.
--
-- Bytes are BLOB types: sqlx reads BINARY/VARBINARY as text. Indexes on
-- them name a prefix as long as the value (hashes 34 bytes, keys 32).
-- Text that is compared or ordered is ascii_bin (ids) or utf8mb4_nopad_bin
-- (field values, see the view tables): byte order, as on the other
-- backends, and no padding, so that 'a' and 'a ' differ.
--
-- No partial indexes here: the conditions SQLite and PostgreSQL index by
-- are generated columns (NULL where the condition does not hold), and the
-- statements name those columns (see `store/src/sql.rs`).

CREATE TABLE entries (
    -- Global ingest order: replication and the materializer follow it.
    id           BIGINT     NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- The entry hash is the operation id.
    entry_hash   TINYBLOB   NOT NULL,
    public_key   TINYBLOB   NOT NULL,
    log_id       BIGINT     NOT NULL,
    seq_num      BIGINT     NOT NULL,
    entry        BLOB       NOT NULL,
    -- The operation exactly as received: its hash is in the entry.
    payload      LONGBLOB   NOT NULL,
    -- The decoded operation.
    document_id  TINYBLOB   NOT NULL,
    schema_id    VARCHAR(3000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- 0 create, 1 update, 2 delete
    action       BIGINT     NOT NULL,
    -- Document view id string of `previous`; NULL for a CREATE.
    previous     MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_bin,
    -- A log's first entry, by its schema (`entries_schema_logs` elsewhere).
    log_schema   VARCHAR(3000) CHARACTER SET ascii COLLATE ascii_bin
                 AS (IF(seq_num = 1, schema_id, NULL)) VIRTUAL,
    -- The first entry of a log that an update or delete opened, by its
    -- document (`entries_document_logs` and `entries_foreign_logs`).
    log_document VARBINARY(34) AS (IF(seq_num = 1 AND action <> 0, document_id, NULL)) VIRTUAL,
    UNIQUE KEY entries_hash (entry_hash(34)),
    -- Last line of defence against two entries at one log position.
    UNIQUE KEY entries_position (public_key(32), log_id, seq_num),
    KEY entries_schema_logs (log_schema),
    KEY entries_document_logs (log_document, schema_id(700)),
    -- Unique: one log per author for another author's document.
    UNIQUE KEY entries_foreign_logs (public_key(32), log_document)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

-- The materializer's record of work: every entry with an id up to `cursor`
-- is reflected in the view tables. It moves in the same transaction as the
-- view rows it stands for.
CREATE TABLE materializer (
    id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    `cursor` BIGINT  NOT NULL CHECK (`cursor` >= 0)
) ENGINE = InnoDB;
INSERT INTO materializer (id, `cursor`) VALUES (1, 0);

-- One row per schema that has view tables.
CREATE TABLE view_tables (
    schema_id  VARCHAR(3000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    table_name VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL UNIQUE
) ENGINE = InnoDB;

-- Appends of all processes on this database take turns by locking this
-- row (PostgreSQL: an advisory lock), so entry ids become visible in
-- increasing order.
CREATE TABLE append_lock (
    id INTEGER NOT NULL PRIMARY KEY
) ENGINE = InnoDB;
INSERT INTO append_lock (id) VALUES (1);
